import type { Kernels } from '../kernels/types.js';
import { createRng, sampleDistinct, STREAM, type Rng } from '../util/rng.js';
import type { KmeansExecutor } from './executor.js';
import { gatherRows } from './shard.js';

/** Lance's random init: k distinct rows, uniform, drawn from `(seed, INIT, redo)`, in ascending row order. */
export async function randomInit(executor: KmeansExecutor, k: number, seed: number, redo: number): Promise<Float32Array> {
  const idx = sampleDistinct(createRng(seed, STREAM.INIT, redo), executor.n, k);
  return executor.rows(idx);
}

/**
 * k-means++ seeding (D² sampling) over rows in this process, with the `(seed, INIT, redo)` stream.
 * Distances are squared L2 whatever the k-means metric. Rows with NaN distances get weight 0; when
 * every remaining weight is 0 (duplicates), the next row is drawn uniformly.
 */
export function kmeansPlusPlus(data: Float32Array, dim: number, k: number, seed: number, redo: number, kernels: Kernels): Float32Array {
  const n = data.length / dim;
  const rng: Rng = createRng(seed, STREAM.INIT, redo, 0x2b2b);
  const chosen = new Uint32Array(k);
  const minD = new Float64Array(n);
  const d = new Float32Array(n);
  chosen[0] = rng.int(n);
  for (let c = 1; c <= k; c++) {
    const r = chosen[c - 1]!;
    kernels.l2Many(data.subarray(r * dim, (r + 1) * dim), data, dim, d);
    let total = 0;
    if (c === 1) {
      for (let i = 0; i < n; i++) { const v = d[i]!; minD[i] = v >= 0 ? v : 0; total += minD[i]!; }
    } else {
      for (let i = 0; i < n; i++) { const v = d[i]!; if (v < minD[i]!) minD[i] = v; total += minD[i]!; }
    }
    if (c === k) break;
    let pick = -1;
    if (total > 0 && Number.isFinite(total)) {
      const target = rng.next() * total;
      let acc = 0;
      for (let i = 0; i < n; i++) {
        acc += minD[i]!;
        if (acc > target && minD[i]! > 0) { pick = i; break; }
      }
      if (pick < 0) for (let i = n - 1; i >= 0; i--) if (minD[i]! > 0) { pick = i; break; }
    }
    chosen[c] = pick >= 0 ? pick : rng.int(n);
  }
  return gatherRows(data, dim, chosen);
}
