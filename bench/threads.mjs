#!/usr/bin/env node
// Thread-pool benchmark: k-means speed-up of 1 vs 2 (or --threads) worker threads over the in-thread
// executor, and the pool's per-task overhead (no-op round trip, 1 MiB transferred round trip) next to
// the compute of one k-means map task.
//
//   npm run bench:threads                               n = 65,536, d = 128, k = 256, 5 Lloyd iterations
//   npm run bench:threads -- --n 16384 --iters 3 --threads 1,2,4
//
// Needs dist/ (the script runs `npm run build` first). Prints a table; machine load is printed too,
// since a busy machine lowers the speed-up.
import { loadavg, cpus } from 'node:os';
import { getWasmModule, loadKernels } from '../dist/kernels/index.js';
import { kmeansWith, localExecutor } from '../dist/train/kmeans.js';
import { createPoolExecutor } from '../dist/workers/executor.js';
import { spawnWorkers } from '../dist/workers/pool.js';
import { createRng } from '../dist/util/rng.js';

const args = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((s) => s.trim().split(/\s+/)));
const n = Number(args.n ?? 65536), dim = Number(args.d ?? 128), k = Number(args.k ?? 256), iters = Number(args.iters ?? 5);
const threadList = String(args.threads ?? '1,2').split(',').map(Number);
const runs = Number(args.runs ?? 3);

const rng = createRng(1, 77);
const data = new Float32Array(n * dim);
for (let i = 0; i < data.length; i++) data[i] = rng.next() * 2 - 1;
const kernels = await loadKernels();
const opts = { seed: 3, maxIters: iters, tolerance: 0, kernels };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => x.toFixed(x < 1 ? 3 : 1);

console.log(`ivfkit bench:threads  ${new Date().toISOString()}  n=${n} d=${dim} k=${k} iters=${iters} build=${kernels.build}`);
console.log(`cores ${cpus().length}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);

const rows = [];
const inThread = [];
let ref;
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  ref = await kmeansWith(localExecutor(data, dim, kernels), k, opts);
  inThread.push(performance.now() - t0);
}
rows.push({ mode: 'in-thread (localExecutor)', ms: median(inThread), same: true });
for (const threads of threadList) {
  const times = [];
  let same = true;
  for (let r = 0; r < runs; r++) {
    const ex = await createPoolExecutor(data, dim, { threads, build: kernels.build });
    try {
      const t0 = performance.now();
      const got = await kmeansWith(ex, k, opts);
      times.push(performance.now() - t0);
      same &&= Buffer.compare(Buffer.from(got.centroids.buffer), Buffer.from(ref.centroids.buffer)) === 0;
    } finally {
      await ex.close();
    }
  }
  rows.push({ mode: `pool, ${threads} thread${threads > 1 ? 's' : ''}`, ms: median(times), same });
}
const base = rows.find((r) => r.mode === 'pool, 1 thread')?.ms ?? rows[0].ms;
console.log('k-means (median of runs, ms; speed-up vs the 1-thread pool)');
console.log('| mode | ms | ms / iteration | speed-up | bits = in-thread |');
console.log('|---|---:|---:|---:|---|');
for (const r of rows) console.log(`| ${r.mode} | ${ms(r.ms)} | ${ms(r.ms / iters)} | ${(base / r.ms).toFixed(2)}× | ${r.same ? 'yes' : 'NO'} |`);

// Per-task overhead of one pinned worker.
const [w] = await spawnWorkers(1);
await w.call(kernels.build === 'reference' ? { op: 'init', build: 'reference' } : { op: 'init', build: kernels.build, module: await getWasmModule(kernels.build) });
const reps = 400;
const noop = [];
for (let i = 0; i < reps; i++) { const t = performance.now(); await w.call({ op: 'noop' }); noop.push(performance.now() - t); }
const echo = [];
for (let i = 0; i < 100; i++) {
  const buf = new ArrayBuffer(1 << 20);
  const t = performance.now();
  const back = await w.call({ op: 'echo', buffer: buf }, [buf]);
  echo.push(performance.now() - t);
  if (buf.byteLength !== 0 || back.byteLength !== 1 << 20) throw new Error('expected the 1 MiB buffer to be transferred, got a copy');
}
const shardRows = Math.floor(n / 2);
const shard = data.slice(0, shardRows * dim);
await w.call({ op: 'load', data: shard, dim }, [shard.buffer]);
const centroids = data.slice(0, k * dim);
const ctx = { iteration: 1, shift: 40, lossShift: 40, metric: 'l2' };
const task = [];
for (let i = 0; i < 5; i++) { const t = performance.now(); await w.call({ op: 'stats', centroids, ctx }); task.push(performance.now() - t); }
await w.terminate();
console.log('\nper-task cost of one pinned worker (median, ms)');
console.log('| task | ms |');
console.log('|---|---:|');
console.log(`| no-op round trip | ${ms(median(noop))} |`);
console.log(`| 1 MiB transferred there and back | ${ms(median(echo))} |`);
console.log(`| k-means map task (${shardRows} rows × ${dim}, k = ${k}, centroids posted, stats back) | ${ms(median(task))} |`);
console.log(`overhead / compute: ${(100 * median(noop) / median(task)).toFixed(3)} % (no-op), ${(100 * median(echo) / median(task)).toFixed(3)} % (1 MiB)`);
