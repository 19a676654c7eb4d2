import type { Server } from 'node:http';
import type { Browser } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, launchChromium, servePage } from '../../scripts/browser.mjs';

// The pool's module-Web-Worker path in real Chromium, loading dist/ as plain ES modules (no bundler):
// `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })` from dist/workers/pool.js.
let server: Server;
let browser: Browser;
let base = '';

// Runs in the page (a plain module script, so no test-runner transform touches its imports).
const PAGE = `<!doctype html><title>ivfkit pool</title><script type="module">
import { createPoolExecutor } from '/dist/workers/executor.js';
import { kmeansWith, localExecutor } from '/dist/train/kmeans.js';
import { loadKernels } from '/dist/kernels/index.js';
import { residualRows } from '/dist/train/partial.js';
try {
  const dim = 8, n = 3000;
  const data = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.37) * 3 + ((i * 7919) % 13) / 13);
  const kernels = await loadKernels();
  const ref = await kmeansWith(localExecutor(data, dim, kernels), 12, { seed: 4, maxIters: 8, balanceFactor: 1 });
  const pool = await createPoolExecutor(data, dim, { threads: 2, build: kernels.build });
  const got = await kmeansWith(pool, 12, { seed: 4, maxIters: 8, balanceFactor: 1 });
  // The workers' residuals (nearest centroids from their bounds) against the in-thread ones.
  const res = await pool.residuals(got.centroids);
  const want = residualRows(data, dim, got.centroids, kernels);
  const nearest = kernels.assign(data, dim, got.centroids, { metric: 'l2' }).index;
  const rows = await res.rows(Uint32Array.from([0, 1499, 1500, 2999]));
  const residualsSame = res.nearest.every((v, i) => v === nearest[i]) &&
    [0, 1499, 1500, 2999].every((r, i) => rows.subarray(i * dim, (i + 1) * dim).every((v, j) => Object.is(v, want[r * dim + j])));
  await res.close();
  const same = got.centroids.every((v, i) => Object.is(v, ref.centroids[i])) && Object.is(got.loss, ref.loss) && residualsSame;
  const ac = new AbortController();
  const big = new Float32Array(20000 * 32).map((_, i) => Math.cos(i * 0.11));
  const p2 = await createPoolExecutor(big, 32, { threads: 2, signal: ac.signal });
  const run = kmeansWith(p2, 256, { seed: 1, maxIters: 50, tolerance: 0 });
  setTimeout(() => ac.abort(new Error('stop')), 20);
  const code = await run.then(() => 'finished', (e) => e.code);
  globalThis.__result = { same, threads: pool.threads, build: kernels.build, code };
} catch (e) {
  globalThis.__result = { error: String(e && e.stack || e) };
}
</script>`;

describe('thread pool in Chromium (module Web Workers)', () => {
  beforeAll(async () => {
    ({ server, base } = await servePage(PAGE));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await closeServer(server);
  });

  it('2 Web Workers give the in-thread k-means and residuals bit for bit, and abort terminates them', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, undefined, { timeout: 120_000 });
    const out = await page.evaluate(() => (globalThis as { __result?: unknown }).__result);
    expect(errors).toEqual([]);
    expect(out).toMatchObject({ same: true, threads: 2, code: 'aborted' });
    await page.close();
  });
});

// A bundle's Node polyfill (a `process` global without versions.node) inside the worker, a worker URL with no
// script behind it, and trainLocal pointed at the worker file by workerUrl.
const PAGE2 = `<!doctype html><title>ivfkit worker url</title><script type="module">
import { createPoolExecutor } from '/dist/workers/executor.js';
import { kmeansWith, localExecutor } from '/dist/train/kmeans.js';
import { loadKernels } from '/dist/kernels/index.js';
import { trainLocal } from '/dist/train/local.js';
import { fromFloat32Array } from '/dist/sources/memory.js';
const out = {};
try {
  const dim = 8, n = 2000;
  const data = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.29) * 2 + ((i * 7919) % 11) / 11);
  const kernels = await loadKernels();
  const ref = await kmeansWith(localExecutor(data, dim, kernels), 10, { seed: 2, maxIters: 6 });
  const js = (s) => URL.createObjectURL(new Blob([s], { type: 'text/javascript' }));
  const shim = js('globalThis.process = { env: {}, versions: {} };');
  const worker = js(\`import '\${shim}'; import '\${location.origin}/dist/workers/worker.js';\`);
  const pool = await createPoolExecutor(data, dim, { threads: 2, build: kernels.build, workerUrl: worker });
  const got = await kmeansWith(pool, 10, { seed: 2, maxIters: 6 });
  await pool.close();
  out.shimSame = got.centroids.every((v, i) => Object.is(v, ref.centroids[i]));
  out.missing = await createPoolExecutor(data, dim, { threads: 1, workerUrl: '/no/such/worker.js' }).then(() => 'started', (e) => e.code + ': ' + e.message);
  const source = fromFloat32Array(data, dim);
  const a = await trainLocal(source, { numPartitions: 6, seed: 3, threads: 1, maxIters: 5 });
  const b = await trainLocal(source, { numPartitions: 6, seed: 3, threads: 2, maxIters: 5, workerUrl: '/dist/workers/worker.js' });
  out.trainSame = a.ivf.centroids.every((v, i) => Object.is(v, b.ivf.centroids[i]));
  out.badUrl = await trainLocal(source, { numPartitions: 6, threads: 2, workerUrl: 42 }).then(() => 'trained', (e) => e.code);
} catch (e) {
  out.error = String(e && e.stack || e);
}
globalThis.__result = out;
</script>`;

describe('worker URLs in Chromium', () => {
  it("a worker whose bundle defines a 'process' global still answers; a missing worker script fails naming its URL; trainLocal takes workerUrl", async () => {
    const { server: s2, base: b2 } = await servePage(PAGE2);
    const br = await launchChromium();
    try {
      const page = await br.newPage();
      await page.goto(`${b2}/`);
      await page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, undefined, { timeout: 120_000 });
      const out = await page.evaluate(() => (globalThis as { __result?: unknown }).__result) as Record<string, unknown>;
      expect(out.error).toBeUndefined();
      expect(out).toMatchObject({ shimSame: true, trainSame: true, badUrl: 'invalid-argument' });
      expect(out.missing).toMatch(/^worker-error: worker http:\/\/127\.0\.0\.1:\d+\/no\/such\/worker\.js: .*workerUrl/);
    } finally {
      await br.close();
      await closeServer(s2);
    }
  });
});
