import type { Kernels } from '../kernels/types.js';
import type { Progress } from '../types.js';
import { expect, IvfkitError, throwIfAborted, yieldToEventLoop } from '../util/errors.js';
import { expectF32Range, fromFixed, lossShift as lossShiftOf, maxAbs as maxAbsOf, sumShift } from '../util/fixed.js';
import { createRng, sampleDistinct, STREAM } from '../util/rng.js';
import type { KmeansExecutor } from './executor.js';
import type { SplitResult } from './hierarchical.js';
import { kmeansPlusPlus } from './init.js';
import type { KmeansResult } from './kmeans.js';
import { finalizeCentroids, pqGroupsFit, statsFingerprint, type PartialStats, type StatsContext } from './partial.js';
import { gatherRows, shardExecutor } from './shard.js';

// Lance's Lloyd loop, and the hierarchical sub-run built on it: kept apart from the public entry points (kmeans.ts),
// which load kernels, so that a pool's worker can import them without the embedded wasm builds.

/** Settings of one Lloyd run (after validation). */
export interface LloydSpec {
  executor: KmeansExecutor;
  /** Total clusters (PQ: M · ksub). */
  k: number;
  /** Centroid dimension (PQ: dim / M). */
  cdim: number;
  pq?: { m: number; ksub: number };
  metric: 'l2' | 'dot';
  maxIters: number;
  tolerance: number;
  balanceFactor: number;
  splitEmpty: boolean;
  seed: number;
  redo: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Progress stage name. */
  stage: string;
  /** true: distance bounds in the map step (see {@link KmeansOptions.bounds}). */
  bounds?: boolean;
}

/** Result of {@link lloyd}. */
export interface LloydResult extends KmeansResult {
  /** Per group (PQ sub-space): last loss and iterations run before it converged or hit maxIters. */
  groupLoss: number[];
  groupIterations: number[];
}

/**
 * Lance's Lloyd loop (§2.3) over an executor, for `groups` independent k-means in lock step (1 for
 * flat k-means, M for PQ). Each iteration: map (assign + accumulate) through the executor, reduce
 * (mean, empty-cluster split), then per group the convergence test
 * |loss_prev − loss| < tolerance · |loss| or loss = 0 (loss includes the balance loss); a converged
 * group is frozen (its centroids no longer change). The loop ends when every group is frozen.
 */
export async function lloyd(spec: LloydSpec, init: Float32Array): Promise<LloydResult> {
  const { executor, k, cdim, pq, metric, maxIters, tolerance } = spec;
  const groups = pq ? pq.m : 1;
  const n = executor.n;
  const bound = Math.max(executor.maxAbs, maxAbsOf(init));
  expectF32Range(bound, cdim, pq ? 'sub-vectors and centroids' : 'rows and centroids');
  const shift = sumShift(bound, n);
  // A loss is a sum of distances between vectors of cdim values (PQ: sub-vectors, not whole rows).
  const lShift = lossShiftOf(metric, cdim, bound, n);
  let centroids = init;
  const prev = new Array<number>(groups).fill(Infinity);
  const groupLoss = new Array<number>(groups).fill(NaN);
  const groupIterations = new Array<number>(groups).fill(0);
  const frozen = new Uint8Array(groups);
  const lossHistory: number[] = [];
  let bias: Float32Array | undefined;
  let bf = 0;
  let iterations = 0;
  let boundsOn = boundsPolicy.always || (pq !== undefined && pqGroupsFit(n, pq.m, pq.ksub)), boundsUsed = boundsPolicy.always;
  let lastTotal = NaN, emptyClusters = 0;
  for (let it = 1; it <= maxIters; it++) {
    if (spec.signal) await yieldToEventLoop();
    throwIfAborted(spec.signal, 'k-means');
    const bounded = spec.bounds === true && boundsOn && (it < maxIters || boundsUsed);
    const ctx: StatsContext = { iteration: it, shift, lossShift: lShift, metric, ...(bias ? { bias } : {}), ...(pq ? { pq } : {}),
      ...(bounded ? { bounds: true } : spec.bounds === true && !pq && it < maxIters ? { boundsSoon: true } : {}),
      ...(!pq && spec.balanceFactor > 0 ? { balanced: true } : {}) };
    boundsUsed = ctx.bounds === true;
    // The fingerprint to expect is hashed while the executor works (a pool's threads, a queue's machines).
    const pending = executor.partialStats(centroids, ctx);
    const expected = statsFingerprint(centroids, ctx);
    const stats = await pending;
    checkReturned(stats, expected, k, cdim);
    const fin = finalizeCentroids(stats, centroids, { seed: spec.seed, redo: spec.redo, splitEmpty: spec.splitEmpty, ...(pq ? { pq } : {}), frozen });
    emptyClusters = fin.empty;
    let balanceLoss = 0;
    if (!pq && spec.balanceFactor > 0) {
      const counts = stats.counts;
      let big = 0, sq = 0;
      for (let c = 0; c < k; c++) {
        const s = counts[c]!;
        sq += s * s;
        if (s > counts[big]!) big = c;
      }
      balanceLoss = bf * (sq - (n * n) / k);
      const sb = counts[big]!;
      const adjusted = sb > 0 ? (stats.radius[big]! - fromFixed(stats.clusterLoss[big]!, stats.lossShift) / sb) / n : 0;
      bf = Math.max(0, Math.min(adjusted, spec.balanceFactor / n));
      bias ??= new Float32Array(k);
      // From the sizes after the split, as Lance: a refilled cluster and its donor start with the same term (with the
      // counts before it, the refilled copy's term would be 0 and it would take every row of its twin, emptying it).
      for (let c = 0; c < k; c++) bias[c] = bf * fin.sizes[c]!;
    }
    iterations = it;
    let total = 0;
    for (let g = 0; g < groups; g++) {
      if (frozen[g]) { total += groupLoss[g]!; continue; }
      const reported = fin.groupLoss[g]!;
      const l = reported + (groups === 1 ? balanceLoss : 0);
      groupLoss[g] = reported;
      groupIterations[g] = it;
      total += reported;
      // A loss of 0 stops only when it is one: rows on their centroids leave those centroids where they were. (A loss that
      // rounds to 0 at the run's fixed-point step — small distances beside one huge value — moves them, and goes on.)
      if (Math.abs(prev[g]! - l) < tolerance * Math.abs(l) || (l === 0 && fin.groupKept[g])) frozen[g] = 1;
      prev[g] = l;
    }
    centroids = fin.centroids;
    if (Math.abs(lastTotal - total) < boundsPolicy.startGain * Math.abs(total) || (!pq && cdim >= boundsPolicy.earlyDim)) boundsOn = true;
    lastTotal = total;
    lossHistory.push(total);
    executor.release?.(stats);
    spec.onProgress?.({ stage: spec.stage, iteration: it, maxIters, loss: total });
    if (frozen.every((f) => f === 1)) break;
  }
  const loss = groupLoss.reduce((a, b) => a + b, 0);
  return { centroids, loss, iterations, lossHistory, emptyClusters, groupLoss, groupIterations };
}

/**
 * When the Lloyd loop turns distance bounds on (`bounds: true`): k-means rows of `earlyDim` or more values
 * from the second iteration (the per-row bookkeeping of a bounded step is small next to the distances, and
 * rows that need most groups take the brute-force kernel, so an early bounded step costs about a plain
 * one: workload E 6.7 → 5.8 s, Fashion-MNIST IVF 5.7 → 4.2 s; the rows a step computes in full take the 16-bit
 * filter like a plain step, so this holds with it too: E 4.2 → 3.7 s). Otherwise — and for PQ — once an iteration
 * lowers the loss by less than `startGain` (relative): before that the bookkeeping costs more than the
 * few rows it settles (workload A: 1.87 vs 1.95 s). The last iteration never starts them (starting costs
 * more than a plain step, and nothing follows). PQ with 256 codes whose group bounds fit
 * (`pqGroupPolicy`) starts them at the first iteration: its first bounded step costs ~1.2× a plain one and
 * the second already less than one (workload B). Same bits either way. `always` (a test hook)
 * turns them on from the start.
 */
export const boundsPolicy = { startGain: 0.01, earlyDim: 256, always: false };

export function checkReturned(stats: PartialStats, fingerprint: string, k: number, cdim: number): void {
  if (!stats || stats.fingerprint !== fingerprint) {
    throw new IvfkitError('fingerprint-mismatch',
      `executor stats fingerprint: expected ${fingerprint}, got ${String(stats?.fingerprint)} (stats of other centroids or another iteration)`);
  }
  expect(stats.k === k && stats.dim === cdim, 'dimension-mismatch', 'executor stats shape (k × dim)', `${k} × ${cdim}`, `${stats.k} × ${stats.dim}`);
}

/** A hierarchical sub-run's parameters besides its rows: plain data, so that it can run on a pool's worker. */
export interface SubRunSpec {
  k: number;
  seed: number;
  metric: 'l2' | 'dot';
  maxIters: number;
  tolerance: number;
  /** Already scaled to the sub-run's rows (see kmeansWith). */
  balanceFactor: number;
  splitEmpty: boolean;
  bounds: boolean;
  init: 'random' | 'kmeans++';
}

/**
 * One hierarchical split: flat k-means on the first `train` rows of `rows` (Lance's Lloyd loop, from random rows or
 * kmeans++), then every row's nearest centroid as `kernels.assign` finds it. The same code on the calling thread and on
 * a pool's workers ({@link KmeansExecutor.subRuns}): the same bits.
 */
export async function subRunSplit(rows: Float32Array, train: number, dim: number, s: SubRunSpec, kernels: Kernels,
  signal?: AbortSignal): Promise<SplitResult> {
  const data = rows.subarray(0, train * dim);
  const ex = shardExecutor(data, dim, kernels, async () => kernels);
  let centroids: Float32Array;
  try {
    const init = s.init === 'kmeans++' ? kmeansPlusPlus(data, dim, s.k, s.seed, 0, kernels) : randomInitLocal(data, dim, s.k, s.seed);
    centroids = (await lloyd({
      executor: ex, k: s.k, cdim: dim, metric: s.metric, maxIters: s.maxIters, tolerance: s.tolerance, balanceFactor: s.balanceFactor,
      splitEmpty: s.splitEmpty, seed: s.seed, redo: 0, stage: 'kmeans-hierarchical-run', ...(s.bounds ? { bounds: true } : {}),
      ...(signal ? { signal } : {}),
    }, init)).centroids;
  } finally {
    ex.close();
  }
  const { index } = kernels.assign(rows, dim, centroids, { metric: s.metric });
  return { centroids, index };
}

/** Random init (as {@link randomInit}, redo 0) over rows in this process. */
function randomInitLocal(data: Float32Array, dim: number, k: number, seed: number): Float32Array {
  return gatherRows(data, dim, sampleDistinct(createRng(seed, STREAM.INIT, 0), data.length / dim, k));
}
