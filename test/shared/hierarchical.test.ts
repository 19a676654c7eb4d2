import { describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import { hierarchicalCentroids, type SplitResult } from '../../src/train/hierarchical.js';
import { gatherRows, kmeans, kmeansWith, localExecutor, type KmeansExecutor } from '../../src/train/kmeans.js';
import { fromFloat32Array } from '../../src/sources/memory.js';
import { trainLocal } from '../../src/train/local.js';
import { createPoolExecutor } from '../../src/workers/executor.js';
import { createRng } from '../../src/util/rng.js';
import { blobs } from './fixtures.js';

// Splits that run at once (a pool's workers) must give the sequential result: later splits start on a prediction of
// the sequential order and are kept only where it holds.

/** A deterministic split: rows ordered by their first value (ties by position), cut into kSub parts of uneven sizes
 *  (weights from the seed, so a child can outgrow the next cluster in line; some empty, so a split can give fewer parts
 *  than asked and leave more to the next); each part's mean is its centroid. Answers
 *  after a seeded delay, so that splits in flight finish out of order. */
function fakeSplit(dim: number, calls: { seeds: number[] }) {
  return async (rows: Float32Array, _train: number, kSub: number, seed: number): Promise<SplitResult> => {
    calls.seeds.push(seed);
    const n = rows.length / dim;
    const rng = createRng(seed, 9);
    await new Promise((r) => setTimeout(r, Math.floor(rng.next() * 4)));
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => rows[a * dim]! - rows[b * dim]! || a - b);
    const w = Array.from({ length: kSub }, () => (rng.next() < 0.25 ? 0 : 0.05 + rng.next() ** 3 * 5));
    const total = w.reduce((a, b) => a + b, 0);
    const index = new Int32Array(n);
    let at = 0;
    for (let j = 0; j < kSub; j++) {
      const end = j === kSub - 1 ? n : Math.min(n, at + Math.round((w[j]! / total) * n));
      for (; at < end; at++) index[order[at]!] = j;
    }
    const centroids = new Float32Array(kSub * dim), counts = new Float64Array(kSub);
    for (let i = 0; i < n; i++) {
      counts[index[i]!]!++;
      for (let d = 0; d < dim; d++) centroids[index[i]! * dim + d]! += rows[i * dim + d]!;
    }
    for (let j = 0; j < kSub; j++) for (let d = 0; d < dim; d++) centroids[j * dim + d]! /= Math.max(1, counts[j]!);
    return { centroids, index };
  };
}

describe('hierarchical k-means with splits in flight', () => {
  it('gives the sequential result at every parallelism, also where predictions fail (uneven splits)', async () => {
    const dim = 3, x = blobs(2000, dim, 30, 71);
    let dropped = 0;
    // k 40: the last splits' k_sub is bound by the centroids still missing, which a split with empty parts changes.
    for (const k of [40, 700]) {
      const run = async (parallel: number) => {
        const calls = { seeds: [] as number[] };
        const c = await hierarchicalCentroids(x, dim, k, { hierarchicalK: 16, seed: 5, redo: 0, split: fakeSplit(dim, calls), parallel });
        return { c, calls: calls.seeds.length };
      };
      const seq = await run(1);
      for (const parallel of [2, 3, 8]) {
        const par = await run(parallel);
        expect(par.c, `k ${k}, parallel ${parallel}`).toEqual(seq.c);
        dropped += par.calls - seq.calls;
      }
    }
    expect(dropped, 'splits started on a prediction that failed (their results dropped)').toBeGreaterThan(0);
  });

  it('an executor without the rows here (rows by id, assign where they are) gives the local result; its splits fetch only training rows', async () => {
    const kernels = await loadKernels();
    const dim = 8, x = blobs(9000, dim, 50, 73);
    for (const metric of ['l2', 'dot'] as const) {
      // hierarchicalK 4: splits train on at most 4 · 512 rows, so clusters of the first split (≈ 2,250 rows) are assigned remotely too.
      const opts = { seed: 3, maxIters: 5, refineIters: 1, hierarchicalK: 4, metric, kernels };
      const one = await kmeans(x, dim, 300, opts);
      const inner = localExecutor(x, dim, kernels);
      let fetched = 0, largestFetch = 0, assigned = 0, assignCalls = 0;
      const remote: KmeansExecutor = {
        n: inner.n, dim, maxAbs: inner.maxAbs,
        rows: async (ids) => { fetched += ids.length; largestFetch = Math.max(largestFetch, ids.length); return inner.rows(ids); },
        partialStats: (c, ctx) => inner.partialStats(c, ctx),
        assign: async (ids, c, m) => {
          assignCalls++;
          assigned += ids.length;
          return kernels.assign(gatherRows(x, dim, ids), dim, c, { metric: m }).index;
        },
      };
      try {
        const got = await kmeansWith(remote, 300, opts);
        expect(got.centroids, metric).toEqual(one.centroids);
        expect(got.loss, metric).toBe(one.loss);
      } finally {
        inner.close();
      }
      expect(assignCalls, `${metric}: splits assigned by the executor`).toBeGreaterThan(1);
      expect(assigned, metric).toBeGreaterThan(x.length / dim - 2048);
      // Each split fetches at most its training rows (k_sub · 512 ≤ 2,048 here), never a larger cluster whole.
      expect(fetched + assigned, metric).toBeGreaterThan(x.length / dim);
      expect(largestFetch, metric).toBe(4 * 512);
    }
    // Without assign (and without rows here), k-means stays flat: a different result.
    const inner = localExecutor(x, dim, kernels);
    try {
      const flat = await kmeansWith({ n: inner.n, dim, maxAbs: inner.maxAbs, rows: (ids) => inner.rows(ids), partialStats: (c, ctx) => inner.partialStats(c, ctx) },
        300, { seed: 3, maxIters: 5, refineIters: 1, hierarchicalK: 4, kernels });
      expect(flat.centroids).not.toEqual((await kmeans(x, dim, 300, { seed: 3, maxIters: 5, refineIters: 1, hierarchicalK: 4, kernels })).centroids);
    } finally {
      inner.close();
    }
  });

  it('a pool runs the splits on its workers: the same centroids as one thread; trainLocal on two threads too', async () => {
    const kernels = await loadKernels();
    const dim = 16, x = blobs(9000, dim, 60, 72);
    const opts = { seed: 8, maxIters: 6, refineIters: 1, kernels };
    const one = await kmeans(x, dim, 300, opts);
    const pool = await createPoolExecutor(x, dim, { threads: 2, build: kernels.build });
    let runs = 0;
    try {
      const run = pool.subRuns!.run.bind(pool.subRuns);
      const counted = { ...pool, subRuns: { slots: pool.subRuns!.slots, run: (...a: Parameters<typeof run>) => { runs++; return run(...a); } } };
      const two = await kmeansWith(counted, 300, opts);
      expect(two.centroids).toEqual(one.centroids);
      expect(two.loss).toBe(one.loss);
    } finally {
      await pool.close();
    }
    expect(runs, 'splits run on the workers').toBeGreaterThan(10);
    const src = fromFloat32Array(x, dim, { fragmentRows: 2000 });
    const params = { numPartitions: 300, sampleRate: 30, maxIters: 5, seed: 2, kernels, pq: { numSubVectors: 4, maxIters: 3 }, logger: { warn: () => {} } };
    const [a, b] = [await trainLocal(src, { ...params, threads: 1 }), await trainLocal(src, { ...params, threads: 2 })];
    expect(b.ivf.centroids).toEqual(a.ivf.centroids);
    expect(b.pq!.codebook).toEqual(a.pq!.codebook);
  });
});
