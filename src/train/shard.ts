import type { Kernels } from '../kernels/types.js';
import { expect, rowsOf } from '../util/errors.js';
import { maxAbs as maxAbsOf } from '../util/fixed.js';
import type { KmeansExecutor } from './executor.js';
import { kmeansPartialStats, nearestCentroids, releasedSums, releaseScratch, type StatsScratch } from './partial.js';

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

/** {@link localExecutor}'s body: `load` gives the kernels when `kernels` is undefined (kept out of this module, which a
 *  pool's worker imports: loadKernels holds every wasm build). */
export function shardExecutor(data: Float32Array, dim: number, kernels: Kernels | undefined, load: () => Promise<Kernels>): LocalExecutor {
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
      k ??= await load();
      return kmeansPartialStats(data, dim, centroids, ctx, k, scratch);
    },
    release(stats) {
      scratch.spare = releasedSums(stats) ?? scratch.spare;
    },
    async nearest(centroids) {
      k ??= await load();
      return nearestCentroids(data, dim, centroids, k, scratch, ex.maxAbs);
    },
    close() {
      releaseScratch(scratch);
    },
  };
  return ex;
}
