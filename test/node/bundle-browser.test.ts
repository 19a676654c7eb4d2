import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, launchChromium, serveDir } from '../../scripts/browser.mjs';

// What a web app gets: a Vite production build (Rolldown) of a page that imports ivfkit by its package name,
// run in real Chromium — training from the page and from a worker of the app's own (which keeps the page responsive). The pool's `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`
// must come out as an emitted worker chunk, and the embedded wasm must load from the bundle.
const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
let dir = '';
let server: Server | undefined;
let browser: Browser | undefined;
let base = '';

const MAIN = `import { fromFloat32Array, trainLocal, modelToArrowIPC, modelFromArrowIPC } from 'ivfkit';
const dim = 16, n = 20000;
const data = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.37) * 3 + ((i * 7919) % 13) / 13);
const params = { numPartitions: 16, sampleRate: 64, maxIters: 6, seed: 3, pq: { numSubVectors: 4, numBits: 4 } };
try {
  const one = await trainLocal(fromFloat32Array(data, dim, { fragmentRows: 3000 }), { ...params, threads: 1 });
  const two = await trainLocal(fromFloat32Array(data, dim, { fragmentRows: 3000 }), { ...params, threads: 2 });
  // The same training inside the app's own Web Worker, whose pool then runs in nested workers.
  const w = new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module' });
  const nested = await new Promise((resolve) => {
    w.onmessage = (e) => resolve(e.data);
    w.onerror = (e) => resolve({ error: 'worker error: ' + e.message });
    w.postMessage({ data, dim, params });
  });
  w.terminate();
  if (nested.error) throw new Error(nested.error);
  const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  const back = modelFromArrowIPC(modelToArrowIPC(two));
  globalThis.__result = {
    ivf: same(one.ivf.centroids, two.ivf.centroids), pq: same(one.pq.codebook, two.pq.codebook),
    nested: same(one.ivf.centroids, nested.centroids) && same(one.pq.codebook, nested.codebook),
    roundTrip: same(back.pq.codebook, two.pq.codebook), partitions: two.ivf.centroids.length / dim,
  };
} catch (e) {
  globalThis.__result = { error: String((e && e.stack) || e) };
}
`;

const TRAIN_WORKER = `import { fromFloat32Array, trainLocal } from 'ivfkit';
self.onmessage = async (e) => {
  const { data, dim, params } = e.data;
  try {
    const m = await trainLocal(fromFloat32Array(data, dim, { fragmentRows: 3000 }), { ...params, threads: 2 });
    self.postMessage({ centroids: m.ivf.centroids, codebook: m.pq.codebook });
  } catch (err) {
    self.postMessage({ error: String((err && err.stack) || err) });
  }
};
`;

describe('a Vite production build of an app importing ivfkit, in Chromium', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ivfkit-vite-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>app</title><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>\n');
    await writeFile(join(dir, 'main.js'), MAIN);
    await writeFile(join(dir, 'train-worker.js'), TRAIN_WORKER);
    const { build } = await import('vite');
    await build({ root: dir, logLevel: 'silent', configFile: false, resolve: { alias: { ivfkit: dist } },
      build: { outDir: join(dir, 'out'), emptyOutDir: true, target: 'es2022' } });
    ({ server, base } = await serveDir(join(dir, 'out')));
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await closeServer(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('emits the worker as its own chunk; trains on two Web Workers, from the page and from the app\'s own worker (nested), with the bits of one thread', async () => {
    const assets = await readdir(join(dir, 'out', 'assets'));
    const workers = assets.filter((f) => f.startsWith('worker'));
    expect(workers.length).toBeGreaterThan(0);
    const sources = await Promise.all(workers.map((f) => readFile(join(dir, 'out', 'assets', f), 'utf8')));
    expect(sources.some((s) => s.includes('residuals'))).toBe(true);        // the worker's request handler is bundled
    // The worker gets its module compiled from the page: no embedded wasm (base64 of '\0asm' starts 'AGFzbQ') in its chunk,
    // and no raw copy of dist/workers/worker.js beside it.
    expect(sources.filter((s) => s.includes('AGFzbQ'))).toEqual([]);
    expect(sources.filter((s) => /from ['"]\.\.?\//.test(s))).toEqual([]);
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    await page.goto(`${base}/`);
    await page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, undefined, { timeout: 120_000 });
    const out = await page.evaluate(() => (globalThis as { __result?: unknown }).__result);
    expect(errors).toEqual([]);
    expect(out).toEqual({ ivf: true, pq: true, nested: true, roundTrip: true, partitions: 16 });
    await page.close();
  }, 180_000);
});
