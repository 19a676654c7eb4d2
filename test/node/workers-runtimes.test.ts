import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The Web Worker side of the pool (used by Deno and Bun) against the in-thread executor, from dist/.
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ivfkit-workers-'));
const script = join(dir, 'pool.mjs');
writeFileSync(script, `
import { createPoolExecutor } from ${JSON.stringify(join(root, 'dist/workers/executor.js'))};
import { kmeansWith, localExecutor } from ${JSON.stringify(join(root, 'dist/train/kmeans.js'))};
import { loadKernels } from ${JSON.stringify(join(root, 'dist/kernels/index.js'))};
import { residualRows } from ${JSON.stringify(join(root, 'dist/train/partial.js'))};
const dim = 8, n = 3000;
const data = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.37) * 3 + ((i * 7919) % 13) / 13);
const kernels = await loadKernels();
const ref = await kmeansWith(localExecutor(data, dim, kernels), 12, { seed: 4, maxIters: 8, balanceFactor: 1 });
const ex = await createPoolExecutor(data, dim, { threads: 3, build: kernels.build });
const got = await kmeansWith(ex, 12, { seed: 4, maxIters: 8, balanceFactor: 1 });
// The workers' residuals (nearest centroids from their bounds) against the in-thread ones.
const res = await ex.residuals(got.centroids);
const want = residualRows(data, dim, got.centroids, kernels);
const picks = [0, 999, 1000, 2999];
const rows = await res.rows(Uint32Array.from(picks));
const residuals = picks.every((r, i) => rows.subarray(i * dim, (i + 1) * dim).every((v, j) => Object.is(v, want[r * dim + j])));
await res.close();
const same = got.centroids.length === ref.centroids.length && got.centroids.every((v, i) => Object.is(v, ref.centroids[i])) && Object.is(got.loss, ref.loss);
console.log(JSON.stringify({ same, residuals, threads: ex.threads, iterations: got.iterations }));
`);

// workerUrl as a path relative to the working directory (the repository root here), and as a file that is not there:
// the error is caught and the process goes on (Deno ended the process on a worker's unhandled error event).
const urlScript = join(dir, 'worker-url.mjs');
writeFileSync(urlScript, `
import { trainLocal } from ${JSON.stringify(join(root, 'dist/train/local.js'))};
import { fromFloat32Array } from ${JSON.stringify(join(root, 'dist/sources/memory.js'))};
const x = new Float32Array(2000 * 8).map((_, i) => Math.sin(i * 0.29) * 2);
const params = { numPartitions: 6, maxIters: 4, seed: 3 };
const one = await trainLocal(fromFloat32Array(x, 8), { ...params, threads: 1 });
const rel = await trainLocal(fromFloat32Array(x, 8), { ...params, threads: 2, workerUrl: 'dist/workers/worker.js' });
const missing = await trainLocal(fromFloat32Array(x, 8), { ...params, threads: 2, workerUrl: 'no/such/worker.js' }).then(() => 'trained', (e) => e.code);
await new Promise((r) => setTimeout(r, 300));
console.log(JSON.stringify({ same: rel.ivf.centroids.every((v, i) => Object.is(v, one.ivf.centroids[i])), missing }));
`);

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 120_000, cwd: root }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: expected exit 0, got ${err.message}\n${stderr}`));
      else resolve(stdout.trim().split('\n').pop()!);
    });
  });
}

describe('thread pool on Deno and Bun (module Web Workers)', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bin = (name: string): string => join(root, 'node_modules/.bin', name);

  it('Deno: 3 Web Workers give the in-thread k-means and residuals bit for bit', async () => {
    expect(existsSync(bin('deno'))).toBe(true);
    const out = JSON.parse(await run(bin('deno'), ['run', '-A', script])) as { same: boolean; residuals: boolean; threads: number };
    expect(out).toMatchObject({ same: true, residuals: true, threads: 3 });
  });

  it.each(['deno', 'bun'])('%s: workerUrl relative to the working directory; a missing worker file is a caught error, not the end of the process', async (rt) => {
    const out = JSON.parse(await run(bin(rt), rt === 'deno' ? ['run', '-A', urlScript] : [urlScript])) as { same: boolean; missing: string };
    expect(out).toEqual({ same: true, missing: 'worker-error' });
  });

  it('Bun: 3 Web Workers give the in-thread k-means and residuals bit for bit', async () => {
    expect(existsSync(bin('bun'))).toBe(true);
    const out = JSON.parse(await run(bin('bun'), [script])) as { same: boolean; residuals: boolean; threads: number };
    expect(out).toMatchObject({ same: true, residuals: true, threads: 3 });
  });
});
