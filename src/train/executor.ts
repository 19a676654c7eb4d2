import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import { expect, rowsOf } from '../util/errors.js';
import { maxAbs as maxAbsOf } from '../util/fixed.js';
import { kmeansPartialStats, nearestCentroids, releasedSums, releaseScratch, type PartialStats, type StatsContext, type StatsScratch } from './partial.js';

/**
 * Where the rows of a k-means run live. The Lloyd loop talks to the data only through this, so the
 * same loop runs on one array ({@link localExecutor}), on thread shards (`createPoolExecutor`) or on
 * remote workers.
 */
export interface KmeansExecutor {
  /** Rows in all shards (for PQ: data rows, not n·M). */
  readonly n: number;
  /** Full row dimension. */
  readonly dim: number;
  /** max |x| over all shards (finite values), for the fixed-point shifts. */
  readonly maxAbs: number;
  /** All rows in canonical order when they are in this process (enables kmeans++ and hierarchical k-means). */
  readonly local?: Float32Array;
  /** Rows by global index (canonical order: shard 0 rows, then shard 1, ...). For init and splits. */
  rows(indices: Uint32Array): Promise<Float32Array>;
  /** The map step on every shard, merged (order-free thanks to fixed point). */
  partialStats(centroids: Float32Array, ctx: StatsContext): Promise<PartialStats>;
  /** Optional: the caller no longer reads `stats` (a result of partialStats), so its buffers may be reused by a
   *  later call (the Lloyd loop calls it after each update; fresh buffers cost page faults every step). */
  release?(stats: PartialStats): void;
}

/** Copies rows `indices` of a row-major array. */
export function gatherRows(data: Float32Array, dim: number, indices: ArrayLike<number>): Float32Array {
  const n = data.length / dim;
  const out = new Float32Array(indices.length * dim);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    expect(Number.isInteger(r) && r >= 0 && r < n, 'invalid-argument', `row index ${i}`, `an integer in [0, ${n})`, r);
    out.set(data.subarray(r * dim, (r + 1) * dim), i * dim);
  }
  return out;
}

/** {@link localExecutor}'s executor: also the nearest centroid of every row, reusing the distance bounds of
 *  the last map steps ({@link nearestCentroids}). */
export interface LocalExecutor extends KmeansExecutor {
  readonly local: Float32Array;
  nearest(centroids: Float32Array): Promise<Int32Array>;
  /** Closes the kernels' sessions of its bounds (their wasm memory goes to the next session opened, e.g. the next
   *  stage's). It stays usable: a later step opens a new session and starts its bounds afresh (same bits). */
  close(): void;
}

/**
 * The one-shard executor over an array in this thread. `kernels` defaults to `loadKernels()` (SIMD
 * when the runtime has it). Assignment buffers are reused across iterations.
 */
export function localExecutor(data: Float32Array, dim: number, kernels?: Kernels): LocalExecutor {
  expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data);
  const n = rowsOf(data, dim);
  const scratch: StatsScratch = {};
  let k: Kernels | undefined = kernels;
  let maxAbs: number | undefined;
  const ex: LocalExecutor = {
    n, dim, local: data,
    get maxAbs(): number { return (maxAbs ??= k ? k.maxAbs(data) : maxAbsOf(data)); },
    rows: async (indices) => gatherRows(data, dim, indices),
    async partialStats(centroids, ctx) {
      k ??= await loadKernels();
      return kmeansPartialStats(data, dim, centroids, ctx, k, scratch);
    },
    release(stats) {
      scratch.spare = releasedSums(stats) ?? scratch.spare;
    },
    async nearest(centroids) {
      k ??= await loadKernels();
      return nearestCentroids(data, dim, centroids, k, scratch, ex.maxAbs);
    },
    close() {
      releaseScratch(scratch);
    },
  };
  return ex;
}
