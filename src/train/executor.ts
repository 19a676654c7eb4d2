import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import type { SplitResult } from './hierarchical.js';
import type { SubRunSpec, subRunSplit } from './lloyd.js';
import type { PartialStats, StatsContext } from './partial.js';
import { shardExecutor, type LocalExecutor } from './shard.js';

export { gatherRows, type LocalExecutor } from './shard.js';

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
  /** Optional: workers that run whole hierarchical sub-runs ({@link subRunSplit}), `slots` at once, on rows sent to them
   *  (transferred, and given back in the result). A pool of threads offers it. */
  readonly subRuns?: {
    readonly slots: number;
    run(rows: Float32Array, train: number, spec: SubRunSpec): Promise<SplitResult>;
  };
  /** Optional: the nearest of `centroids` (plain assignment: no balance term) for rows by global index, as the kernels' `assign`
   *  gives it. With it, an executor whose rows are elsewhere (no `local`) runs hierarchical k-means: each split trains in this
   *  process on at most k_sub · 512 of its rows (fetched with `rows`) and the executor assigns the rest where they are. */
  assign?(indices: Uint32Array, centroids: Float32Array, metric: 'l2' | 'dot'): Promise<Int32Array>;
  /** Optional: the caller no longer reads `stats` (a result of partialStats), so its buffers may be reused by a
   *  later call (the Lloyd loop calls it after each update; fresh buffers cost page faults every step). */
  release?(stats: PartialStats): void;
}

/**
 * The one-shard executor over an array in this thread. `kernels` defaults to `loadKernels()` (SIMD
 * when the runtime has it). Assignment buffers are reused across iterations.
 */
export function localExecutor(data: Float32Array, dim: number, kernels?: Kernels): LocalExecutor {
  return shardExecutor(data, dim, kernels, loadKernels);
}
