import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The pool's module-Web-Worker path in real Chromium, loading dist/ as plain ES modules (no bundler):
// `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })` from dist/workers/pool.js.
const root = fileURLToPath(new URL('../../', import.meta.url));
const types: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.map': 'application/json' };
let server: Server;
let browser: Browser;
let base = '';

describe('thread pool in Chromium (module Web Workers)', () => {
  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (path === '/' ) { res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>ivfkit</title>'); return; }
      if (!path.startsWith('/dist/')) { res.writeHead(404).end(); return; }
      try {
        const body = await readFile(join(root, path));
        res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('2 Web Workers give the in-thread k-means bit for bit, and abort terminates them', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    const out = await page.evaluate(async () => {
      const ex = await import('/dist/workers/executor.js' as string);
      const km = await import('/dist/train/kmeans.js' as string);
      const kl = await import('/dist/kernels/index.js' as string);
      const dim = 8, n = 3000;
      const data = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.37) * 3 + ((i * 7919) % 13) / 13);
      const kernels = await kl.loadKernels();
      const ref = await km.kmeansWith(km.localExecutor(data, dim, kernels), 12, { seed: 4, maxIters: 8, balanceFactor: 1 });
      const pool = await ex.createPoolExecutor(data, dim, { threads: 2, build: kernels.build });
      const got = await km.kmeansWith(pool, 12, { seed: 4, maxIters: 8, balanceFactor: 1 });
      await pool.close();
      const same = got.centroids.every((v: number, i: number) => Object.is(v, ref.centroids[i])) && Object.is(got.loss, ref.loss);
      const ac = new AbortController();
      const big = new Float32Array(20000 * 32).map((_, i) => Math.cos(i * 0.11));
      const p2 = await ex.createPoolExecutor(big, 32, { threads: 2, signal: ac.signal });
      const run = km.kmeansWith(p2, 256, { seed: 1, maxIters: 50, tolerance: 0 });
      setTimeout(() => ac.abort(new Error('stop')), 20);
      const code = await run.then(() => 'finished', (e: { code?: string }) => e.code);
      return { same, threads: pool.threads, build: kernels.build, code };
    });
    expect(errors).toEqual([]);
    expect(out).toMatchObject({ same: true, threads: 2, code: 'aborted' });
    await page.close();
  });
});
