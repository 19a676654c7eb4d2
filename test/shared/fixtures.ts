import type { Kernels } from '../../src/kernels/types.js';
import { gatherRows } from '../../src/train/executor.js';
import { kmeansPartialStats, mergePartialStats, type KmeansExecutor, type StatsScratch } from '../../src/train/kmeans.js';
import { maxAbs } from '../../src/util/fixed.js';
import { createRng } from '../../src/util/rng.js';

// Seeded test data shared by the test files (this file holds no tests).

/** n rows of dim around `centers` random centers in [−10, 10)^dim, noise of scale `noise`, all shifted by
 *  `offset`; `stream` selects an independent random stream for the same seed. */
export function blobs(n: number, dim: number, centers: number, seed: number, noise = 1, offset = 0, stream = 77): Float32Array {
  const rng = createRng(seed, stream);
  const c = Float32Array.from({ length: centers * dim }, () => rng.next() * 20 - 10);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const b = rng.int(centers);
    for (let j = 0; j < dim; j++) out[i * dim + j] = offset + c[b * dim + j]! + noise * (rng.next() + rng.next() + rng.next() - 1.5);
  }
  return out;
}

/** Small integers with many duplicate rows: exact distance ties everywhere. */
export function integers(n: number, dim: number, seed: number): Float32Array {
  const rng = createRng(seed, 78);
  const base = Float32Array.from({ length: 40 * dim }, () => rng.int(5));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const r = rng.int(40);
    if (rng.next() < 0.5) out.set(base.subarray(r * dim, (r + 1) * dim), i * dim);
    else for (let j = 0; j < dim; j++) out[i * dim + j] = rng.int(4);
  }
  return out;
}

/** An executor over `shards` slices of the rows, each with its own scratch (as pool workers keep them);
 *  `log` receives, per map step, the rows (PQ: row and sub-space pairs) the bounds settled. */
export function shardedExecutor(data: Float32Array, dim: number, shards: number, kernels: Kernels, log?: number[]): KmeansExecutor {
  const n = data.length / dim;
  const parts: { rows: Float32Array; scratch: StatsScratch }[] = [];
  for (let s = 0; s < shards; s++) {
    const a = Math.floor((s * n) / shards), b = Math.floor(((s + 1) * n) / shards);
    parts.push({ rows: data.slice(a * dim, b * dim), scratch: {} });
  }
  return {
    n, dim, maxAbs: maxAbs(data),
    rows: async (idx) => gatherRows(data, dim, idx),
    async partialStats(centroids, ctx) {
      const stats = parts.map((p) => kmeansPartialStats(p.rows, dim, centroids, ctx, kernels, p.scratch));
      log?.push(parts.reduce((t, p) => t + (p.scratch.skipped ?? 0), 0));
      return mergePartialStats(...stats);
    },
  };
}
