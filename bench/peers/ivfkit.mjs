// ivfkit side of bench/run.mjs, run as a child process like every peer (fresh heap, same protocol).
//   node ivfkit.mjs '<json job>'   → one JSON line { times, files, iterations, ... }
// Imports the built library from dist/ (`npm run build` first). The kernels are loaded (wasm compiled)
// before the clock starts, as a native peer's code is loaded before its timing starts; worker-pool
// start-up is timed separately (setup_s) and reported, not folded into the training time.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const DIST = new URL('../../dist/', import.meta.url);

/** Loads one module of the built library; names the missing build in the error. */
export async function dist(path) {
  try {
    return await import(new URL(path, DIST).href);
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND') throw new Error(`ivfkit: dist/${path} not found — run \`npm run build\` (${e.message})`);
    throw e;
  }
}

function readF32(path, count) {
  const b = readFileSync(path);
  const a = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  if (count !== undefined && a.length !== count) throw new Error(`${path}: expected ${count} floats, got ${a.length}`);
  // Map every page of the freshly read buffer before any clock starts: on the shared VM a Node buffer's
  // first user-space touch costs ≈ 2.5 µs per 4 KiB page (≈ 20 ms for 32 MB), which numpy's huge-page
  // arrays in the native peers never pay; loading data is not part of the timed call.
  let s = 0;
  for (let i = 0; i < b.byteLength; i += 4096) s += b[i];
  if (Number.isNaN(s)) throw new Error('unreachable');
  return a;
}

function write(job, name, arr) {
  const path = join(job.out, name);
  writeFileSync(path, new Uint8Array(Float32Array.from(arr).buffer));
  return path;
}

/** A stage line on stderr: when the parent cuts this process at its timeout, the last one says where it was. */
const started = performance.now();
function stage(what) {
  process.stderr.write(`ivfkit child: ${what} at ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
}

async function repeat(fn, runs) {
  const times = [];
  let res;
  for (let r = 0; r < runs; r++) {
    stage(`run ${r + 1} of ${runs} started`);
    const t0 = performance.now();
    res = await fn();
    times.push((performance.now() - t0) / 1000);
    stage(`run ${r + 1} done`);
  }
  return { times, res };
}

/** A pool executor over `x` when threads > 1 (setup timed), else undefined. */
async function maybePool(job, x) {
  if (job.threads <= 1) return { executor: undefined, setup: 0 };
  const { createPoolExecutor } = await dist('workers/executor.js');
  const t0 = performance.now();
  const executor = await createPoolExecutor(x, job.d, { threads: job.threads, build: job.build ?? 'auto' });
  const setup = (performance.now() - t0) / 1000;
  stage(`pool of ${job.threads} started`);
  return { executor, setup };
}

async function main() {
  const job = JSON.parse(process.argv[2]);
  mkdirSync(job.out, { recursive: true });
  const { loadKernels } = await dist('kernels/index.js');
  const kernels = await loadKernels({ build: job.build ?? 'auto' });
  stage(`kernels loaded (${kernels.build}), Node ${process.version}`);
  const { n, d, k, iters, seed } = job;
  const x = readF32(job.data, n * d);
  stage(`${job.task}: data read`);
  const files = {};
  const extra = { build: kernels.build };
  let times;

  if (job.task === 'kmeans') {
    const { kmeans, kmeansWith } = await dist('train/kmeans.js');
    const initialCentroids = readF32(job.init, k * d);
    const opts = { maxIters: iters, initialCentroids, tolerance: 0, hierarchicalK: 0, seed, kernels };
    const { executor, setup } = await maybePool(job, x);
    try {
      const r = await repeat(() => (executor ? kmeansWith(executor, k, opts) : kmeans(x, d, k, opts)), job.runs);
      times = r.times;
      files.centroids = write(job, 'centroids.f32', r.res.centroids);
      Object.assign(extra, { iterations: r.res.iterations, loss: r.res.loss, setup_s: setup });
    } finally {
      await executor?.close();
    }
  } else if (job.task === 'pq') {
    const { trainPq } = await dist('train/pq.js');
    const { executor, setup } = await maybePool(job, x);
    const opts = { numSubVectors: job.m, numBits: job.nbits, maxIters: iters, tolerance: 0, seed, kernels, ...(executor ? { executor } : {}) };
    try {
      const r = await repeat(() => trainPq(x, d, opts), job.runs);
      times = r.times;
      files.codebook = write(job, 'codebook.f32', r.res.codebook);
      const its = r.res.iterations ?? [];
      const lo = Math.min(...its), hi = Math.max(...its);
      Object.assign(extra, { setup_s: setup, ...(its.length ? { iterations: lo === hi ? lo : `${lo}–${hi}` } : {}) });
    } finally {
      await executor?.close();
    }
  } else if (job.task === 'sq') {
    const { trainSq } = await dist('train/sq.js');
    const r = await repeat(() => trainSq(x, d, { numBits: 8, kernels }), job.runs);
    times = r.times;
    Object.assign(extra, { lower: r.res.lower, upper: r.res.upper });
  } else if (job.task === 'ivfpq' || job.task === 'ivfsq' || job.task === 'recall') {
    const { trainLocal } = await dist('train/local.js');
    const { fromFloat32Array } = await dist('sources/memory.js');
    const source = fromFloat32Array(x, d);
    const quant = job.task === 'ivfsq' ? { sq: { numBits: 8 } } : { pq: { numSubVectors: job.m, numBits: 8, maxIters: job.pqIters ?? iters } };
    const stages = {};
    const onProgress = (p) => { if (p.iteration !== undefined) stages[p.stage] = Math.max(stages[p.stage] ?? 0, p.iteration); };
    const params = { numPartitions: k, maxIters: iters, seed, kernels, threads: job.threads, onProgress, ...quant };
    const r = await repeat(() => trainLocal(source, params), job.runs);
    extra.iterations = Object.entries(stages).map(([stage, it]) => `${stage} ${it}`).join(' / ') || undefined;
    times = r.times;
    const models = r.res;
    files.centroids = write(job, 'centroids.f32', models.ivf.centroids);
    if (models.pq) files.codebook = write(job, 'codebook.f32', models.pq.codebook);
    if (models.sq) Object.assign(extra, { lower: models.sq.lower, upper: models.sq.upper });
    extra.sample = models.sample;
    if (job.task === 'recall') {
      const { evaluateRecall, exactTopK } = await dist('model/evaluate.js');
      const queries = readF32(job.queries, job.nq * d);
      const topk = job.topk ?? 10, nprobes = job.nprobes ?? 16;
      const t0 = performance.now();
      const groundTruth = exactTopK(x, queries, d, 'l2', topk, kernels);
      extra.groundTruth_s = (performance.now() - t0) / 1000;
      const evaluate = (m) => evaluateRecall(m, x, queries, { k: topk, nprobes, groundTruth, kernels });
      extra.recall = (await evaluate(models)).recall;
      if (job.peerModel) {
        // The peer's trained parameters, searched by the same evaluator: only training differs.
        const peer = {
          metric: 'l2', dim: d, sample: { rows: n, dropped: 0 },
          ivf: { centroids: readF32(job.peerModel.centroids, k * d), numPartitions: k, loss: NaN },
          pq: { numSubVectors: job.m, numBits: 8, codebook: readF32(job.peerModel.codebook, 256 * d) },
        };
        extra.peerRecall = (await evaluate(peer)).recall;
      }
    }
  } else {
    throw new Error(`ivfkit: unknown task ${job.task}`);
  }
  console.log(JSON.stringify({ times, files, ...extra }));
  stage('result written');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
  // Worker pools that failed to close must not keep the benchmark waiting.
  stage('exiting');
  process.exit(0);
}
