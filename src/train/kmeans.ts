import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import type { Progress } from '../types.js';
import { expect, IvfkitError, rowsOf, throwIfAborted } from '../util/errors.js';
import { expectF32Range, expectF32Resolution, fromFixed, lossShift as lossShiftOf, maxAbs as maxAbsOf, sumShift } from '../util/fixed.js';
import { DEFAULT_SEED } from '../util/rng.js';
import { localExecutor, type KmeansExecutor } from './executor.js';
import { hierarchicalCentroids, type SplitResult } from './hierarchical.js';
import { checkReturned, lloyd, subRunSplit, type LloydSpec, type SubRunSpec } from './lloyd.js';
import { kmeansPlusPlus, randomInit } from './init.js';
import { countEmpty, statsFingerprint, type StatsContext } from './partial.js';

export type { KmeansExecutor } from './executor.js';
export { boundsPolicy, lloyd, subRunSplit, type LloydResult, type LloydSpec, type SubRunSpec } from './lloyd.js';
export { gatherRows, localExecutor } from './executor.js';
export type { FinalizeOptions, FinalizeResult, PartialStats, StatsContext, StatsScratch } from './partial.js';
export { finalizeCentroids, kmeansPartialStats, mergePartialStats, pqSubspaceSeed, SPLIT_EPS, statsFingerprint } from './partial.js';

/** Options of {@link kmeans} and {@link kmeansWith}. Every field has a default in {@link KMEANS_DEFAULTS}. */
export interface KmeansOptions {
  /** Lloyd iterations at most (Lance: 50). */
  maxIters?: number;
  /** Stop when |loss_prev − loss| < tolerance · |loss| (or loss is 0). Lance: 1e-4. */
  tolerance?: number;
  /** 'random' (Lance: k distinct rows) or 'kmeans++' (D² seeding; needs rows in this process, else 'random'). */
  init?: 'random' | 'kmeans++';
  /** Runs from different starts; the one with the lowest loss is kept. */
  redos?: number;
  /** Every random choice (init, splits, hierarchical sub-runs) derives from it. */
  seed?: number;
  /** 'l2' = squared Euclidean, 'dot' = 1 − x·c. (Cosine: normalize rows and use 'l2', as `trainIvf` does.) */
  metric?: 'l2' | 'dot';
  /**
   * Lance's balance factor (IVF uses 1.0): each row joins argmin_j dist + bf·size_j, where size_j are the
   * previous iteration's sizes (after its empty-cluster split, as Lance) and
   * bf = min((radius_big − mean_big) / n, balanceFactor / n).
   */
  balanceFactor?: number;
  /** k > 256 → hierarchical k-means splitting clusters up to this many ways (Lance: 16); 0 or 1 disables. */
  hierarchicalK?: number;
  /** Lloyd iterations over all rows after hierarchical k-means (Lance: none). */
  refineIters?: number;
  /** Repair empty clusters by splitting large ones (faiss / Lance). */
  splitEmpty?: boolean;
  /** Start from these k × dim centroids (no init, no hierarchical). */
  initialCentroids?: Float32Array;
  /** Called after every Lloyd iteration with `{ stage: 'kmeans', iteration, maxIters, loss }`. */
  onProgress?: (p: Progress) => void;
  /** Checked between iterations; aborting rejects with `IvfkitError` code 'aborted' (name 'AbortError'). */
  signal?: AbortSignal;
  /** Kernels for kmeans++ / hierarchical steps and the default executor. Default `loadKernels()`. */
  kernels?: Kernels;
  /** Exact distance bounds in the map step (Yinyang style, groups of 8 nearby centroids): a row skips the
   *  groups that provably cannot hold its nearest centroid (with the balance term too). Used for 'l2', never
   *  with the relaxed-SIMD build. The Lloyd loop turns them on once an iteration lowers the loss by less
   *  than 1 % ({@link boundsPolicy}): before that they would settle almost nothing. Results are
   *  bit-identical either way. Default true. */
  bounds?: boolean;
}

/** Result of k-means. */
export interface KmeansResult {
  /** k × dim, row-major. One update newer than `loss` (Lance returns the same pair). */
  centroids: Float32Array;
  /**
   * Σ over assigned rows of the (unbiased) distance to the chosen centroid, in the last assignment
   * step — i.e. the loss of the centroids before the final update, as Lance reports it.
   */
  loss: number;
  /** Lloyd iterations run (of the kept redo; for hierarchical runs, of the refinement). */
  iterations: number;
  /** `loss` of every iteration of the kept redo. */
  lossHistory: number[];
  /**
   * Clusters that no row chose in the last assignment step (before the empty-cluster split refilled them).
   * Many of them — Lance warns above 10 % — mean the rows hold fewer distinct vectors than k, or (after few
   * iterations) that the split clusters had not settled yet.
   */
  emptyClusters: number;
}

/** Defaults of {@link KmeansOptions}. */
export const KMEANS_DEFAULTS = {
  maxIters: 50,
  tolerance: 1e-4,
  init: 'random' as 'random' | 'kmeans++',
  redos: 1,
  seed: DEFAULT_SEED,
  metric: 'l2' as 'l2' | 'dot',
  balanceFactor: 0,
  hierarchicalK: 16,
  /** k above which hierarchical k-means is used (Lance: 256). */
  hierarchicalAbove: 256,
  refineIters: 5,
  splitEmpty: true,
  bounds: true,
} as const;

/** Test hook (never set in production): sees each hierarchical sub-run's rows, k and balance factor. */
export const kmeansDebug: { onSubRun?: (run: { rows: number; k: number; balanceFactor: number }) => void } = {};

interface Resolved {
  maxIters: number; tolerance: number; init: 'random' | 'kmeans++'; redos: number; seed: number; metric: 'l2' | 'dot';
  balanceFactor: number; hierarchicalK: number; refineIters: number; splitEmpty: boolean;
}

/** A hierarchical split over rows that are elsewhere: trains here on the first `train` of them (fetched), and the executor
 *  assigns the others where they are; the same centroids and nearest ids as {@link subRunSplit} over all of them. */
async function remoteSplit(executor: KmeansExecutor, ids: Uint32Array, train: number, s: SubRunSpec, kernels: Kernels,
  signal?: AbortSignal): Promise<SplitResult> {
  const head = await executor.rows(ids.subarray(0, train));
  expect(head.length === train * executor.dim, 'invalid-result', 'split rows from the executor', `${train} rows of ${executor.dim}`,
    `${head.length} values`);
  const res = await subRunSplit(head, train, executor.dim, s, kernels, signal);
  if (train === ids.length) return { centroids: res.centroids, index: res.index };
  const rest = await executor.assign!(ids.subarray(train), res.centroids, s.metric);
  expect(rest instanceof Int32Array && rest.length === ids.length - train, 'invalid-result', 'nearest centroids from the executor',
    `an Int32Array of ${ids.length - train}`, rest);
  const index = new Int32Array(ids.length);
  index.set(res.index);
  index.set(rest, train);
  return { centroids: res.centroids, index };
}

/** Validates options and fills defaults. */
export function resolveKmeansOptions(opts: KmeansOptions = {}): Resolved {
  expect(typeof opts === 'object' && opts !== null, 'invalid-argument', 'options', 'an object', opts);
  const d = KMEANS_DEFAULTS;
  const r: Resolved = {
    maxIters: opts.maxIters ?? d.maxIters, tolerance: opts.tolerance ?? d.tolerance, init: opts.init ?? d.init,
    redos: opts.redos ?? d.redos, seed: opts.seed ?? d.seed, metric: opts.metric ?? d.metric,
    balanceFactor: opts.balanceFactor ?? d.balanceFactor, hierarchicalK: opts.hierarchicalK ?? d.hierarchicalK,
    refineIters: opts.refineIters ?? d.refineIters, splitEmpty: opts.splitEmpty ?? d.splitEmpty,
  };
  const int = (v: number, name: string, min: number): void =>
    expect(Number.isSafeInteger(v) && v >= min, 'invalid-argument', name, `an integer ≥ ${min}`, v);
  int(r.maxIters, 'maxIters', 1);
  int(r.redos, 'redos', 1);
  int(r.hierarchicalK, 'hierarchicalK', 0);
  int(r.refineIters, 'refineIters', 0);
  expect(Number.isSafeInteger(r.seed) && r.seed >= 0, 'invalid-argument', 'seed', 'a non-negative integer', r.seed);
  expect(typeof r.tolerance === 'number' && Number.isFinite(r.tolerance) && r.tolerance >= 0, 'invalid-argument', 'tolerance', 'a finite number ≥ 0', r.tolerance);
  expect(opts.bounds === undefined || typeof opts.bounds === 'boolean', 'invalid-argument', 'bounds', 'a boolean', opts.bounds);
  expect(typeof r.balanceFactor === 'number' && r.balanceFactor >= 0 && Number.isFinite(r.balanceFactor),
    'invalid-argument', 'balanceFactor', 'a finite number ≥ 0', r.balanceFactor);
  expect(r.init === 'random' || r.init === 'kmeans++', 'invalid-argument', 'init', "'random' or 'kmeans++'", r.init);
  expect(r.metric === 'l2' || r.metric === 'dot', 'invalid-argument', 'metric',
    "'l2' or 'dot' (for cosine, normalize rows and use 'l2', or call trainIvf)", r.metric);
  return r;
}

/**
 * k-means over an executor: Lance's Lloyd loop (random init or kmeans++, balance term, empty-cluster
 * split, relative tolerance, redos keeping the lowest loss). For k > 256, hierarchical k-means as Lance
 * (16-way splits of the largest cluster) but always returning exactly k centroids, followed by `refineIters`
 * Lloyd iterations over all rows through the executor — with the rows in this process (`executor.local`), or
 * elsewhere through an executor's `assign` (each split trains here on at most k_sub · 512 fetched rows); other
 * executors run flat k-means with random init.
 */
export async function kmeansWith(executor: KmeansExecutor, k: number, opts: KmeansOptions = {}): Promise<KmeansResult> {
  const o = resolveKmeansOptions(opts);
  expect(typeof executor === 'object' && executor !== null && typeof executor.partialStats === 'function',
    'invalid-argument', 'executor', 'a KmeansExecutor', executor);
  expect(Number.isSafeInteger(k) && k > 0, 'invalid-argument', 'k', 'a positive integer', k);
  const { n, dim } = executor;
  if (n < k) throw new IvfkitError('too-few-rows', `k-means rows: expected at least k = ${k} rows, got ${n}`);
  // l2 distances of rows this small underflow f32 (dot's 1 − x·c does not); checked once here, not in hierarchical sub-runs.
  if (o.metric === 'l2') expectF32Resolution(executor.maxAbs, 'rows');
  if (opts.initialCentroids !== undefined) {
    expect(opts.initialCentroids instanceof Float32Array, 'invalid-argument', 'initialCentroids', `a Float32Array of k·dim = ${k * dim} values`,
      opts.initialCentroids);
    expect(opts.initialCentroids.length === k * dim, 'dimension-mismatch',
      'initialCentroids length', `k·dim = ${k}·${dim} = ${k * dim}`, opts.initialCentroids?.length);
  }
  const hierarchical = !opts.initialCentroids && k > KMEANS_DEFAULTS.hierarchicalAbove && o.hierarchicalK > 1 &&
    (executor.local !== undefined || typeof executor.assign === 'function');
  const needLocalKernels = hierarchical || (executor.local !== undefined && o.init === 'kmeans++');
  const kernels = opts.kernels ?? (needLocalKernels ? await loadKernels() : undefined);
  const base = {
    executor, k, cdim: dim, metric: o.metric, maxIters: o.maxIters, tolerance: o.tolerance,
    balanceFactor: o.balanceFactor, splitEmpty: o.splitEmpty, seed: o.seed, stage: 'kmeans',
    ...((opts.bounds ?? KMEANS_DEFAULTS.bounds) ? { bounds: true } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  let best: KmeansResult | undefined;
  for (let redo = 0; redo < o.redos; redo++) {
    throwIfAborted(opts.signal, 'k-means');
    let res: KmeansResult;
    const spec: LloydSpec = { ...base, redo };
    if (hierarchical && kernels) {
      const local = executor.local;
      const pool = executor.subRuns;
      const split = (rows: Float32Array | Uint32Array, train: number, subK: number, seed: number): Promise<SplitResult> => {
        // Lance scales the balance factor by the whole sample's size once, and every sub-run keeps that scale: a sub-run of
        // n_sub rows caps its term at balanceFactor / N, not / n_sub.
        const balanceFactor = spec.balanceFactor * train / executor.n;
        kmeansDebug.onSubRun?.({ rows: train, k: subK, balanceFactor });
        const s: SubRunSpec = { k: subK, seed, metric: o.metric, maxIters: o.maxIters, tolerance: o.tolerance, balanceFactor, splitEmpty: o.splitEmpty,
          bounds: spec.bounds === true, init: o.init };
        if (rows instanceof Uint32Array) return remoteSplit(executor, rows, train, s, kernels, opts.signal);
        // The first split (over every row) runs here: sending the whole sample to a worker costs more than it saves.
        return pool && rows !== local ? pool.run(rows, train, s) : subRunSplit(rows, train, dim, s, kernels, opts.signal);
      };
      const hc = await hierarchicalCentroids(local ?? { n, rows: (ids) => executor.rows(ids) }, dim, k, {
        hierarchicalK: o.hierarchicalK, seed: o.seed, redo, split, ...(pool ? { parallel: pool.slots } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      res = o.refineIters > 0
        ? await lloyd({ ...spec, maxIters: Math.min(o.refineIters, o.maxIters) }, hc)
        : await lossOnly(spec, hc);
    } else {
      let init: Float32Array;
      if (opts.initialCentroids) init = opts.initialCentroids.slice();
      else if (o.init === 'kmeans++' && executor.local && kernels) init = kmeansPlusPlus(executor.local, dim, k, o.seed, redo, kernels);
      else init = await randomInit(executor, k, o.seed, redo);
      res = await lloyd(spec, init);
    }
    if (!best || res.loss < best.loss || Number.isNaN(best.loss)) best = res;
  }
  const { centroids, loss, iterations, lossHistory, emptyClusters } = best!;
  return { centroids, loss, iterations, lossHistory, emptyClusters };
}

async function lossOnly(spec: LloydSpec, centroids: Float32Array): Promise<KmeansResult> {
  const { executor, metric } = spec;
  const bound = Math.max(executor.maxAbs, maxAbsOf(centroids));
  expectF32Range(bound, spec.cdim, spec.pq ? 'sub-vectors and centroids' : 'rows and centroids');
  const ctx: StatsContext = { iteration: 0, shift: sumShift(bound, executor.n), lossShift: lossShiftOf(metric, executor.dim, bound, executor.n), metric,
    ...(spec.bounds === true ? { bounds: true } : {}) };
  const stats = await executor.partialStats(centroids, ctx);
  checkReturned(stats, statsFingerprint(centroids, ctx), spec.k, spec.cdim);
  let s = 0n;
  for (const v of stats.clusterLoss) s += v;
  return { centroids, loss: fromFixed(s, stats.lossShift), iterations: 0, lossHistory: [], emptyClusters: countEmpty(stats.counts, 0, spec.k) };
}

/**
 * k-means on one array: Lance's Lloyd loop (see {@link kmeansWith}) through {@link localExecutor}.
 * Rows with a NaN or ±Inf value take no part (as Lance, where such rows join no cluster); at least k
 * finite rows are needed.
 *
 * @example
 * const { centroids, loss } = await kmeans(data, 128, 256, { maxIters: 20, seed: 7 });
 */
export async function kmeans(data: Float32Array, dim: number, k: number, opts: KmeansOptions = {}): Promise<KmeansResult> {
  expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data);
  const n = rowsOf(data, dim);
  expect(Number.isSafeInteger(k) && k > 0, 'invalid-argument', 'k', 'a positive integer', k);
  resolveKmeansOptions(opts);
  if (n < k) throw new IvfkitError('too-few-rows', `k-means rows: expected at least k = ${k} rows, got ${n}`);
  const kernels = opts.kernels ?? (await loadKernels());
  const x = finiteRows(data, dim, kernels);
  if (x.rows === 0) throw new IvfkitError('no-finite-rows', `k-means rows: expected finite rows, got 0 of ${n} (every row has a NaN or ±Inf value)`);
  if (x.rows < k) {
    throw new IvfkitError('too-few-rows', `k-means rows: expected at least k = ${k} finite rows, got ${x.rows} (${n - x.rows} rows with NaN or ±Inf dropped)`);
  }
  const ex = localExecutor(x.data, dim, kernels);
  try {
    return await kmeansWith(ex, k, { ...opts, kernels });
  } finally {
    ex.close();
  }
}

/** The rows whose values are all finite (the input itself when every row is). */
export function finiteRows(data: Float32Array, dim: number, kernels: Kernels): { data: Float32Array; rows: number; dropped: number } {
  const n = data.length / dim;
  const { mask, count } = kernels.finiteMask(data, dim);
  if (count === n) return { data, rows: n, dropped: 0 };
  const out = new Float32Array(count * dim);
  for (let i = 0, o = 0; i < n; i++) {
    if (mask[i]) { out.set(data.subarray(i * dim, (i + 1) * dim), o * dim); o++; }
  }
  return { data: out, rows: count, dropped: n - count };
}

