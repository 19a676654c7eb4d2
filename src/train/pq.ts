import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import type { Metric, PqModel, Progress } from '../types.js';
import { expect, IvfkitError, rowsOf, throwIfAborted } from '../util/errors.js';
import { createRng, sampleDistinct, STREAM } from '../util/rng.js';
import { localExecutor, type KmeansExecutor, type LocalExecutor } from './executor.js';
import { checkMetric, prepareRows } from './ivf.js';
import { KMEANS_DEFAULTS, lloyd } from './kmeans.js';
import { pqSubspaceSeed, residualRows } from './partial.js';
import { expectF32Range } from '../util/fixed.js';

export { residualRows };

/** Options of {@link trainPq}. */
export interface TrainPqOptions {
  /** M: sub-vectors per row; must divide dim (and be even for 4-bit codes). */
  numSubVectors: number;
  /** 8 (256 codes per sub-space, default) or 4 (16 codes). */
  numBits?: 8 | 4;
  /** 'l2' (default), 'cosine' (rows normalized first) or 'dot' (raw rows, never residuals). */
  metric?: Metric;
  /** IVF centroids (k × dim): for l2 / cosine the codebook is trained on residuals x − c_nearest (L2). */
  ivfCentroids?: Float32Array;
  /** Default 50. */
  maxIters?: number;
  /** Relative loss-change tolerance per sub-space; default 1e-4. */
  tolerance?: number;
  seed?: number;
  /** Runs the Lloyd iterations over rows already prepared (normalized, residuals, finite); `data` is then only checked for `dim`. */
  executor?: KmeansExecutor;
  kernels?: Kernels;
  /** Distance bounds per (row, sub-space) in the Lloyd iterations (pairs whose code provably cannot change
   *  skip the search; with 256 codes one bound per group of 16 nearby codes, so the others search only a
   *  few groups). Results are bit-identical either way; default true (the relaxed-SIMD build never uses
   *  them). */
  bounds?: boolean;
  /** Progress: stage 'pq', iteration, loss = Σ sub-space losses. */
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** Result of {@link trainPq}: the model, and how each sub-space's k-means ended. */
export interface PqTrainResult extends PqModel {
  /** Lloyd iterations run by each sub-space (index m), each ≤ `maxIters`: a sub-space stops on its own
   *  once its relative loss change falls below `tolerance` (with tolerance 0, only a loss of 0 stops it early). */
  iterations: number[];
  /** Each sub-space's k-means loss at its last iteration: Σ over training rows of the squared distance
   *  of the sub-vector to its nearest code, measured before that iteration's update (as `kmeans`'s `loss`). */
  subspaceLoss: number[];
}

/** Defaults of {@link trainPq}. */
export const PQ_DEFAULTS = { numBits: 8 as 8 | 4, metric: 'l2' as Metric, maxIters: KMEANS_DEFAULTS.maxIters, bounds: true } as const;

/**
 * Trains a PQ codebook as Lance: M sub-spaces of dim/M, each an independent flat k-means with 2^bits
 * centroids (random init, tolerance 1e-4, no balance term, empty-cluster split), on residuals for
 * l2 / cosine when `ivfCentroids` is given, raw rows for dot. The M runs go in lock step (one pass
 * over the data per iteration); sub-space m equals `kmeans` on its sub-vectors with seed
 * `pqSubspaceSeed(seed, m)`, and stops on its own. Codebook layout: flat `[m][c][j]`.
 */
export async function trainPq(data: Float32Array, dim: number, opts: TrainPqOptions): Promise<PqTrainResult> {
  expect(typeof opts === 'object' && opts !== null, 'invalid-argument', 'options', 'an object with numSubVectors', opts);
  const m = opts.numSubVectors;
  expect(Number.isSafeInteger(m) && m > 0, 'invalid-argument', 'numSubVectors', 'a positive integer', m);
  expect(Number.isSafeInteger(dim) && dim > 0, 'invalid-argument', 'dim', 'a positive integer', dim);
  if (dim % m !== 0) throw new IvfkitError('invalid-argument', `numSubVectors: expected a divisor of dim ${dim}, got ${m}`);
  const numBits = opts.numBits ?? PQ_DEFAULTS.numBits;
  expect(numBits === 8 || numBits === 4, 'invalid-argument', 'numBits', '8 or 4', numBits);
  if (numBits === 4 && m % 2 !== 0) throw new IvfkitError('invalid-argument', `numSubVectors with 4-bit codes: expected an even number, got ${m}`);
  const metric = opts.metric ?? PQ_DEFAULTS.metric;
  checkMetric(metric);
  const maxIters = opts.maxIters ?? PQ_DEFAULTS.maxIters;
  expect(Number.isSafeInteger(maxIters) && maxIters >= 1, 'invalid-argument', 'maxIters', 'an integer ≥ 1', maxIters);
  const tolerance = opts.tolerance ?? KMEANS_DEFAULTS.tolerance;
  expect(typeof tolerance === 'number' && Number.isFinite(tolerance) && tolerance >= 0, 'invalid-argument', 'tolerance', 'a finite number ≥ 0', tolerance);
  const seed = opts.seed ?? KMEANS_DEFAULTS.seed;
  expect(Number.isSafeInteger(seed) && seed >= 0, 'invalid-argument', 'seed', 'a non-negative integer', seed);
  const bounds = opts.bounds ?? PQ_DEFAULTS.bounds;
  expect(typeof bounds === 'boolean', 'invalid-argument', 'bounds', 'a boolean', bounds);
  const ksub = 2 ** numBits;
  const ds = dim / m;
  const kernels = opts.kernels ?? (await loadKernels());

  let executor = opts.executor;
  let own: LocalExecutor | undefined;
  if (executor) {
    expect(executor.dim === dim, 'dimension-mismatch', 'executor dim', dim, executor.dim);
  } else {
    expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data);
    rowsOf(data, dim);
    let x = prepareRows(data, dim, metric, kernels).data;
    if (opts.ivfCentroids !== undefined && metric !== 'dot') {
      const c = opts.ivfCentroids;
      expect(c instanceof Float32Array && c.length > 0 && c.length % dim === 0, 'dimension-mismatch', 'ivfCentroids length',
        `a positive multiple of dim ${dim}`, c?.length);
      // The assignment to the IVF centroids takes whole rows: their range, not only the sub-vectors'.
      expectF32Range(Math.max(kernels.maxAbs(x), kernels.maxAbs(c)), dim, 'rows and IVF centroids');
      x = prepareRows(residualRows(x, dim, c, kernels), dim, 'l2', kernels).data;
    }
    executor = own = localExecutor(x, dim, kernels);
  }
  const n = executor.n;
  if (n < ksub) {
    throw new IvfkitError('too-few-rows', `PQ training rows: expected at least 2^${numBits} = ${ksub} (finite) rows, got ${n}`);
  }
  throwIfAborted(opts.signal, 'PQ training');

  const picks = new Uint32Array(m * ksub);
  for (let s = 0; s < m; s++) picks.set(sampleDistinct(createRng(pqSubspaceSeed(seed, s), STREAM.INIT, 0), n, ksub), s * ksub);
  const rows = await executor.rows(picks);
  const codebook = new Float32Array(m * ksub * ds);
  for (let s = 0; s < m; s++) {
    for (let c = 0; c < ksub; c++) {
      const r = (s * ksub + c) * dim + s * ds;
      codebook.set(rows.subarray(r, r + ds), (s * ksub + c) * ds);
    }
  }
  const onProgress = opts.onProgress;
  const res = await lloyd({
    executor, k: m * ksub, cdim: ds, pq: { m, ksub }, metric: 'l2', maxIters, tolerance, balanceFactor: 0,
    splitEmpty: true, seed, redo: 0, stage: 'pq', bounds,
    ...(opts.signal ? { signal: opts.signal } : {}), ...(onProgress ? { onProgress } : {}),
  }, codebook).finally(() => own?.close());
  return { numSubVectors: m, numBits, codebook: res.centroids, iterations: res.groupIterations, subspaceLoss: res.groupLoss };
}
