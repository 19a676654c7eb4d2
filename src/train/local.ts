import type { Metric, PqModel, Progress, SqModel, TrainedModels, VectorSource } from '../types.js';
import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import { IvfkitError, shown } from '../util/errors.js';
import { expectF32Range } from '../util/fixed.js';
import { DEFAULT_SEED } from '../util/rng.js';
import { localExecutor, type KmeansExecutor, type LocalExecutor } from './executor.js';
import type { PoolExecutor } from '../workers/executor.js';
import { trainIvf } from './ivf.js';
import { KMEANS_DEFAULTS } from './kmeans.js';
import { residualRows, trainPq } from './pq.js';
import { createSampleTasks, executeSampleTask, mergeSampleResults, ownResults, sampleTargets, type SampleResult } from './sample.js';

/** Parameters of {@link trainLocal} and of the distributed protocol. */
export interface TrainParams {
  /** 'l2' (default), 'cosine' (rows normalized, then L2) or 'dot'. */
  metric?: Metric;
  /** IVF partitions (k). Required. */
  numPartitions: number;
  /** Sample rows per centroid: IVF sample `numPartitions · sampleRate`, quantizer `2^bits · sampleRate`. Default 256. */
  sampleRate?: number;
  /** k-means iterations, IVF and PQ. Default 50. */
  maxIters?: number;
  /**
   * More than 256 partitions (hierarchical k-means): Lloyd passes over the whole IVF sample after the splits, every
   * centroid competing for every row (capped by `maxIters`). Default 5 (`KMEANS_DEFAULTS.refineIters`); 0 keeps the
   * splits' centroids as Lance does by default. Each pass costs about one assignment of the sample to all partitions.
   */
  refineIters?: number;
  /**
   * Early stop of the IVF and PQ k-means (each PQ sub-space on its own): stop once
   * |loss_prev − loss| < tolerance · |loss|. Finite, ≥ 0; 0 runs every iteration unless the loss is 0.
   * Default 1e-4 (Lance's).
   */
  tolerance?: number;
  /** Every random choice derives from it. Default `DEFAULT_SEED`. */
  seed?: number;
  /** Train a PQ codebook (on residuals for l2/cosine, raw vectors for dot). */
  pq?: { numSubVectors: number; numBits?: 8 | 4; maxIters?: number };
  /** Train SQ bounds (global min/max of the quantizer sample). */
  sq?: { numBits?: 8 };
  /** Expected vector dimension; checked against the source when given. */
  dim?: number;
  /** Progress: stage 'sample', then the engine's 'ivf' / 'pq' stages. */
  onProgress?: (p: Progress) => void;
  /**
   * Stops the run with an `IvfkitError` 'aborted' (name AbortError). On a pool at once (the workers are terminated); in the
   * calling thread between fragments while sampling and between k-means iterations, so after the running step (on large
   * samples a step takes seconds: train in a worker, or with threads, for a prompt stop).
   */
  signal?: AbortSignal;
  /** Kernels to use (default: `loadKernels()`: the dot8 build where the engine has relaxed SIMD, else simd, else scalar). */
  kernels?: Kernels;
  /**
   * k-means threads: > 1 runs the map step on a worker pool (piscina in Node, module Web Workers
   * elsewhere); the model is the same bits for any count. Default: the core count, for samples of at
   * least `POOL_MIN_ROWS` rows (smaller ones train in the calling thread); if a default pool cannot
   * start (for example a bundle that did not emit the worker file), training warns and stays in-thread.
   */
  threads?: number;
  /**
   * URL of ivfkit's worker file (`ivfkit/worker`, dist/workers/worker.js) for the pool: for bundlers that do not
   * emit it from `new Worker(new URL('./worker.js', import.meta.url))` (esbuild, Bun's bundler, Rollup without a
   * worker plugin) — serve that file and give its URL. A string resolves against the page (browsers) or the
   * working directory (Node). Default: the file next to ivfkit's pool module.
   */
  workerUrl?: URL | string;
  /** Bytes the merged sample may take before a warning. Default 4 GiB. */
  memoryBudget?: number;
  /** Receives warnings (memory budget, worker threads that could not start, many empty IVF partitions). Default `console`. */
  logger?: { warn(message: string): void };
}

/** Samples smaller than this train in the calling thread unless `threads` is given. */
export const POOL_MIN_ROWS = 16_384;

/** Defaults of {@link TrainParams}. */
export const TRAIN_DEFAULTS = {
  metric: 'l2' as Metric,
  sampleRate: 256,
  maxIters: 50,
  tolerance: KMEANS_DEFAULTS.tolerance,
  seed: DEFAULT_SEED,
  memoryBudget: 4 * 2 ** 30,
  sqBits: 8,
  pqBits: 8,
} as const;

/**
 * Trains IVF centroids (and a PQ codebook or SQ bounds) on one machine: one sample task over all
 * fragments, executed locally, then {@link trainFromSamples}. Same source and seed → bit-identical
 * models, equal to the distributed path with any number of workers.
 */
export async function trainLocal(source: VectorSource, params: TrainParams): Promise<TrainedModels> {
  if (!source || typeof source.fragments !== 'function' || typeof source.readRows !== 'function') {
    throw new IvfkitError('invalid-argument', `source: expected a VectorSource, got ${String(source)}`);
  }
  validateTrainParams(params, source.dim);
  const fragments = await source.fragments();
  const [task] = createSampleTasks(fragments, 1, { ...params, dim: source.dim });
  const kernels = params.kernels ?? (await loadKernels());
  // Shared memory where a pool may take the sample: its workers then read the rows instead of copies of them.
  const result = await executeSampleTask(task!, source, {
    kernels, sharedMemory: params.threads === undefined || params.threads > 1,
    ...(params.signal ? { signal: params.signal } : {}),
    ...(params.onProgress ? { onProgress: params.onProgress } : {}),
  });
  ownResults.add(result);
  return trainFromSamples([result], { ...params, kernels });
}

const TRAIN_KEYS = new Set(['metric', 'numPartitions', 'sampleRate', 'maxIters', 'refineIters', 'tolerance', 'seed', 'pq', 'sq', 'dim', 'onProgress',
  'signal', 'kernels', 'threads', 'workerUrl', 'memoryBudget', 'logger']);
const NESTED_KEYS: Record<'pq' | 'sq', Set<string>> = { pq: new Set(['numSubVectors', 'numBits', 'maxIters']), sq: new Set(['numBits']) };

/** Option names that are not {@link TrainParams}' (a typo trains without what it meant: say so), with a hint for nested ones. */
function checkKeys(params: TrainParams): void {
  for (const key of Object.keys(params)) {
    // TRAIN_DEFAULTS' own names too ({ ...TRAIN_DEFAULTS, numPartitions } carries sqBits and pqBits, which say the defaults).
    if (TRAIN_KEYS.has(key) || key in TRAIN_DEFAULTS || (params as unknown as Record<string, unknown>)[key] === undefined) continue;
    const owner = (['pq', 'sq'] as const).find((q) => NESTED_KEYS[q].has(key));
    throw new IvfkitError('invalid-argument', `params.${key}: expected one of ${[...TRAIN_KEYS].join(', ')}, got an unknown option` +
      (owner ? ` (${owner}.${key} goes inside ${owner}: { ${key}: … })` : ''));
  }
  for (const q of ['pq', 'sq'] as const) {
    const v = params[q] as Record<string, unknown> | undefined;
    if (v === undefined || v === null || typeof v !== 'object') continue;
    for (const key of Object.keys(v)) {
      if (!NESTED_KEYS[q].has(key)) throw new IvfkitError('invalid-argument', `params.${q}.${key}: expected one of ${[...NESTED_KEYS[q]].join(', ')}, got an unknown option`);
    }
  }
}

/** Checks the parameters that do not depend on data; with `dim`, also the PQ split. */
export function validateTrainParams(params: TrainParams, dim?: number, dimOf = 'source'): void {
  sampleTargets(params);
  checkKeys(params);
  const ints: [string, unknown, number][] = [['maxIters', params.maxIters, 1], ['threads', params.threads, 1], ['refineIters', params.refineIters, 0]];
  if (params.pq) ints.push(['pq.maxIters', params.pq.maxIters, 1]);
  for (const [name, v, min] of ints) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)) {
      throw new IvfkitError('invalid-argument', `${name}: expected an integer ≥ ${min}, got ${shown(v)}`);
    }
  }
  const tol = params.tolerance;
  if (tol !== undefined && !(typeof tol === 'number' && Number.isFinite(tol) && tol >= 0)) {
    throw new IvfkitError('invalid-argument', `tolerance: expected a finite number ≥ 0, got ${shown(tol)}`);
  }
  const lg = params.logger as { warn?: unknown } | undefined | null;
  if (lg !== undefined && (lg === null || typeof lg !== 'object' || typeof lg.warn !== 'function')) {
    throw new IvfkitError('invalid-argument', `logger: expected an object with a warn(message) method, got ${lg === null || typeof lg !== 'object' ? shown(lg) : `an object without warn`}`);
  }
  const wu = params.workerUrl;
  if (wu !== undefined && typeof wu !== 'string' && !(typeof URL !== 'undefined' && wu instanceof URL)) {
    throw new IvfkitError('invalid-argument', `workerUrl: expected a URL or a URL string, got ${shown(wu)}`);
  }
  if (params.memoryBudget !== undefined && !(typeof params.memoryBudget === 'number' && params.memoryBudget > 0)) {
    throw new IvfkitError('invalid-argument', `memoryBudget: expected a positive number of bytes, got ${shown(params.memoryBudget)}`);
  }
  if (params.pq) {
    const m = params.pq.numSubVectors;
    if (!Number.isSafeInteger(m) || m < 1) throw new IvfkitError('invalid-argument', `pq.numSubVectors: expected a positive integer, got ${shown(m)}`);
    if ((params.pq.numBits ?? 8) === 4 && m % 2 !== 0) {
      throw new IvfkitError('invalid-argument', `pq.numSubVectors with 4-bit codes: expected an even number, got ${m}`);
    }
    if (dim !== undefined && dim % m !== 0) {
      throw new IvfkitError('invalid-argument', `pq.numSubVectors: expected a divisor of dim ${dim}, got ${m}`);
    }
  }
  if (dim !== undefined && params.dim !== undefined && params.dim !== dim) {
    throw new IvfkitError('dimension-mismatch', `dim: expected ${params.dim} (params), got ${dim} (${dimOf})`);
  }
}

/** The sample the parameters ask for (metric, seed, targets) is the one the results were drawn for. */
export function checkPlanParams(params: TrainParams, plan: Pick<SampleResult, 'metric' | 'seed' | 'ivfTarget' | 'quantTarget'>): void {
  const targets = sampleTargets(params);
  if (targets.metric !== plan.metric || targets.seed !== plan.seed || targets.ivfTarget !== plan.ivfTarget || targets.quantTarget !== plan.quantTarget) {
    throw new IvfkitError('invalid-result',
      `sample plan: expected metric ${targets.metric}, seed ${targets.seed}, sample targets ${targets.ivfTarget}/${targets.quantTarget} (from params), got metric ${plan.metric}, seed ${plan.seed}, targets ${plan.ivfTarget}/${plan.quantTarget}`);
  }
}

/**
 * Trains the models from the sample results of every task of one plan (any order): checks coverage,
 * merges the rows in canonical fragment order and the SQ bounds (min of mins, max of maxes), trains
 * IVF on the IVF sample (rows are already normalized for cosine, so IVF and PQ run as L2), then PQ
 * on residuals `x − c_nearest` of the quantizer sample (raw rows for dot).
 */
export async function trainFromSamples(results: readonly SampleResult[], params: TrainParams): Promise<TrainedModels> {
  validateTrainParams(params);
  const merged = mergeSampleResults(results);
  // trainLocal's own sample: the quantizer rows may turn into their residuals in place (no second sample-sized array).
  const owned = results.length === 1 && ownResults.has(results[0]!);
  const { dim, metric } = merged;
  validateTrainParams(params, dim, 'sample results');
  checkPlanParams(params, results[0]!);
  const k = params.numPartitions;
  if (merged.ivfRows === 0) {
    throw new IvfkitError('no-finite-rows', `IVF sample: expected finite rows, got 0 (${merged.ivfDropped} rows dropped as null or non-finite)`);
  }
  if (merged.ivfRows < k) {
    throw new IvfkitError('too-few-rows',
      `IVF sample rows: expected at least numPartitions ${k}, got ${merged.ivfRows} (${merged.ivfDropped} dropped as null or non-finite)`);
  }
  if (params.pq) {
    const numBits = params.pq.numBits ?? 8;
    if (merged.quantRows < 2 ** numBits) {
      throw new IvfkitError('too-few-rows',
        `PQ sample rows: expected at least 2^${numBits} = ${2 ** numBits}, got ${merged.quantRows} (${merged.quantDropped} dropped as null or non-finite)`);
    }
  } else if (params.sq && !merged.sqBounds) {
    throw new IvfkitError('no-finite-rows', `SQ sample: expected finite rows, got 0 (${merged.quantDropped} dropped as null or non-finite)`);
  }
  const budget = params.memoryBudget ?? TRAIN_DEFAULTS.memoryBudget;
  const bytes = (merged.ivf.length + merged.quant.length * (params.pq && metric !== 'dot' ? 2 : 1)) * 4;
  if (bytes > budget) {
    (params.logger ?? console).warn(
      `ivfkit: the merged sample takes ${bytes} bytes, above memoryBudget ${budget}; consider the partial-stats mode (samples stay on the workers, only per-iteration sums travel)`);
  }
  const kernels = params.kernels ?? (await loadKernels());
  const seed = params.seed ?? TRAIN_DEFAULTS.seed;
  const maxIters = params.maxIters ?? TRAIN_DEFAULTS.maxIters;
  const tolerance = params.tolerance ?? TRAIN_DEFAULTS.tolerance;
  const threads = params.threads;
  const logger = params.logger ?? console;
  if (metric !== 'dot') warnOffset(merged.ivf, dim, logger);
  const common = {
    seed, kernels, tolerance,
    ...(params.signal ? { signal: params.signal } : {}),
    ...(params.onProgress ? { onProgress: params.onProgress } : {}),
  };
  const trainMetric = metric === 'dot' ? 'dot' : 'l2';
  // One thread over finite rows: this executor's distance bounds also give the residuals' nearest centroids. On a
  // pool the workers do that, and keep the residuals of the rows they hold for PQ (no copy here); when both samples
  // are the same rows, PQ runs on the IVF pool.
  let local: LocalExecutor | undefined;
  const samePool = !!params.pq && merged.quant === merged.ivf;
  let pool = await openPool(merged.ivf, dim, threads, params, kernels, logger);
  let pq: PqModel | undefined;
  let sq: SqModel | undefined;
  try {
    let executor: KmeansExecutor | undefined = pool;
    if (!pool && kernels.finiteMask(merged.ivf, dim).count === merged.ivfRows) executor = local = localExecutor(merged.ivf, dim, kernels);
    const ivf = await trainIvf(merged.ivf, dim, { numPartitions: k, metric: trainMetric, maxIters, logger, ...common, ...(executor ? { executor } : {}),
      ...(params.refineIters !== undefined ? { refineIters: params.refineIters } : {}) });
    // Each stage ends with a report of fraction 1, also when k-means stopped early.
    params.onProgress?.({ stage: 'ivf', fraction: 1 });
    if (params.pq) {
      const numBits = params.pq.numBits ?? 8;
      const pqIters = params.pq.maxIters ?? maxIters;
      // The residuals and the first PQ step take a while before PQ's first report: say that PQ has started.
      params.onProgress?.({ stage: 'pq', iteration: 0, maxIters: pqIters, fraction: 0 });
      if (pool && !samePool) {
        await pool.close();
        pool = undefined;
      }
      pool ??= await openPool(merged.quant, dim, threads, params, kernels, logger);
      let data = merged.quant;
      let quant: KmeansExecutor | undefined = pool;
      if (metric !== 'dot') {
        // The quantizer sample is not the IVF sample: its rows meet the IVF centroids at full dim, so their range is checked here.
        if (merged.quant !== merged.ivf) expectF32Range(Math.max(kernels.maxAbs(merged.quant), kernels.maxAbs(ivf.centroids)), dim, 'quantizer sample rows and IVF centroids');
        if (pool) quant = await pool.residuals(ivf.centroids, { inPlace: owned });
        else {
          data = residualRows(merged.quant, dim, ivf.centroids, kernels, local && merged.quant === merged.ivf ? await local.nearest(ivf.centroids) : undefined,
            owned ? merged.quant : undefined);
        }
      }
      local?.close();                                       // PQ's session takes the IVF session's memory
      const r = await trainPq(data, dim, {
        numSubVectors: params.pq.numSubVectors, numBits, metric: 'l2',
        maxIters: pqIters, ...common, ...(quant ? { executor: quant } : {}),
      });
      pq = { numSubVectors: r.numSubVectors, numBits: r.numBits, codebook: r.codebook };
      params.onProgress?.({ stage: 'pq', fraction: 1 });
    } else if (params.sq) {
      sq = { numBits: 8, lower: merged.sqBounds!.lower, upper: merged.sqBounds!.upper };
      params.onProgress?.({ stage: 'sq', fraction: 1 });
    }
    return {
      metric, dim, ivf,
      ...(pq ? { pq } : {}),
      ...(sq ? { sq } : {}),
      sample: { rows: merged.ivfRows, dropped: merged.ivfDropped, ...(pq || sq ? { quant: { rows: merged.quantRows, dropped: merged.quantDropped } } : {}) },
    };
  } finally {
    local?.close();
    await pool?.close();
  }
}

/** `x − c_nearest` (squared L2) for every row; rows with no nearest centroid become NaN. */
export const residuals: (data: Float32Array, dim: number, centroids: Float32Array, kernels: Kernels) => Float32Array = residualRows;

/** Offset over spread (‖mean‖² / mean ‖x − mean‖²) above which the f32 distance expansion ‖x‖² + ‖c‖² − 2x·c loses the
 *  differences between centroids (an audit: 6,171 of 20,000 rows to a farther centroid at offset 100 ± 1, none at 0). */
export const OFFSET_WARN_RATIO = 2 ** 12;

/** Rows the offset warning looks at, at most. */
const OFFSET_CHECK_ROWS = 8192;

/** Warns when the rows share an offset far larger than their spread (see {@link OFFSET_WARN_RATIO}). */
function warnOffset(x: Float32Array, dim: number, logger: { warn(message: string): void }): void {
  const rows = x.length / dim;
  if (rows < 2) return;
  // A warning's estimate: at most OFFSET_CHECK_ROWS rows, evenly spaced over the sample.
  const step = Math.max(1, Math.floor(rows / OFFSET_CHECK_ROWS));
  const n = Math.ceil(rows / step);
  const mean = new Float64Array(dim);
  for (let i = 0; i < x.length; i += step * dim) for (let j = 0; j < dim; j++) mean[j]! += x[i + j]!;
  let m2 = 0;
  for (let j = 0; j < dim; j++) { mean[j]! /= n; m2 += mean[j]! * mean[j]!; }
  let spread = 0;
  for (let i = 0; i < x.length; i += step * dim) for (let j = 0; j < dim; j++) { const v = x[i + j]! - mean[j]!; spread += v * v; }
  spread /= n;
  if (!(m2 > OFFSET_WARN_RATIO * spread)) return;
  logger.warn(`ivfkit: the training rows share an offset ${Math.sqrt(m2 / spread).toFixed(0)} times their spread (‖mean‖ ${Math.sqrt(m2).toPrecision(3)}, ` +
    `rms distance to the mean ${Math.sqrt(spread).toPrecision(3)}): f32 distances (‖x‖² + ‖c‖² − 2x·c) then blur the differences between centroids ` +
    `and rows go to farther ones; subtract the mean vector before training and add it back to the IVF centroids (the PQ codebook is unchanged)`);
}

/** A pool executor over `data` when `threads` asks for one (or, unset, when there are POOL_MIN_ROWS rows and several
 *  cores); undefined means the calling thread. A default pool that cannot start is reported and skipped. */
async function openPool(data: Float32Array, dim: number, threads: number | undefined, params: Pick<TrainParams, 'signal' | 'workerUrl'>,
  kernels: Kernels, logger: { warn(message: string): void }): Promise<PoolExecutor | undefined> {
  const { signal, workerUrl } = params;
  const auto = threads === undefined;
  if (auto ? data.length / dim < POOL_MIN_ROWS : threads <= 1) return undefined;
  const pool = await import('../workers/executor.js');
  const cores = await pool.defaultThreads();
  const count = threads ?? cores;
  if (count <= 1) return undefined;
  if (count > cores && count > 2) {
    logger.warn(`ivfkit: threads ${count} on ${cores} logical cores: the workers share the cores, each k-means step waits for the slowest ` +
      `of them, and each holds a copy of its shard and bounds — slower and larger than threads ${cores}`);
  }
  try {
    return await pool.createPoolExecutor(data, dim, { threads: count, build: kernels.build, ...(signal ? { signal } : {}), ...(workerUrl !== undefined ? { workerUrl } : {}) });
  } catch (err) {
    if (!auto || signal?.aborted) throw err;
    logger.warn(`ivfkit: could not start ${count} worker threads (${(err as Error).message}); training in the calling thread`);
    return undefined;
  }
}
