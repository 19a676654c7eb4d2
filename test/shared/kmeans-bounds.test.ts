import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import { boundsPolicy, kmeans, kmeansWith, localExecutor, type KmeansExecutor, type KmeansOptions, type KmeansResult } from '../../src/train/kmeans.js';
import { addI64, boundsDebug, boundsSessionPolicy, kmeansPartialStats, mergeInto, mergePartialStats, nearestCentroids, type StatsScratch } from '../../src/train/partial.js';
import { lossShift, sumShift } from '../../src/util/fixed.js';
import { blobs, integers, shardedExecutor } from './fixtures.js';

function same(a: KmeansResult, b: KmeansResult): void {
  expect(a.iterations).toBe(b.iterations);
  expect(Object.is(a.loss, b.loss) || a.loss === b.loss).toBe(true);
  expect(a.lossHistory).toEqual(b.lossHistory);
  expect(new Uint32Array(a.centroids.buffer, a.centroids.byteOffset, a.centroids.length))
    .toEqual(new Uint32Array(b.centroids.buffer, b.centroids.byteOffset, b.centroids.length));
}


async function both(data: Float32Array, dim: number, k: number, opts: KmeansOptions): Promise<void> {
  const on = await kmeans(data, dim, k, { ...opts, bounds: true });
  const off = await kmeans(data, dim, k, { ...opts, bounds: false });
  same(on, off);
}

// Bounds from the first iteration here (the largest drifts); the Lloyd loop's own start policy is tested last.
beforeAll(() => { boundsPolicy.always = true; });
afterAll(() => { boundsPolicy.always = false; });

describe('k-means Hamerly bounds: identical to brute force', () => {
  for (const build of ['auto', 'scalar', 'reference'] as const) {
    it(`blobs, several seeds and k (${build})`, async () => {
      const kernels = await loadKernels({ build });
      const n = build === 'reference' ? 600 : 3000;
      for (const [dim, k, seed] of [[16, 20, 1], [13, 7, 2], [32, 50, 3]] as const) {
        await both(blobs(n, dim, 12, seed), dim, k, { maxIters: 25, seed, tolerance: 0, kernels });
      }
    });
  }

  for (const build of ['auto', 'scalar', 'reference'] as const) {
    it(`balance term (Lance's bias): blobs, integers, large offset (${build})`, async () => {
      const kernels = await loadKernels({ build });
      const n = build === 'reference' ? 500 : 2500;
      for (const [dim, k, seed] of [[16, 20, 21], [9, 33, 22]] as const) {
        await both(blobs(n, dim, 12, seed), dim, k, { maxIters: 20, seed, tolerance: 0, balanceFactor: 1, kernels });
      }
      await both(integers(n, 8, 23), 8, 15, { maxIters: 20, seed: 3, tolerance: 0, balanceFactor: 1, kernels });
      await both(blobs(n, 16, 10, 24, 0.05, 3000), 16, 24, { maxIters: 20, seed: 4, tolerance: 0, balanceFactor: 1, kernels });
    });
  }

  it('balance term: rows are skipped, shards agree with one local run', async () => {
    const kernels = await loadKernels();
    const dim = 16;
    const data = blobs(4000, dim, 10, 25);
    const log: number[] = [];
    const on = await kmeansWith(shardedExecutor(data, dim, 2, kernels, log), 24, { maxIters: 25, tolerance: 0, seed: 6, balanceFactor: 1, bounds: true });
    const off = await kmeansWith(localExecutor(data, dim, kernels), 24, { maxIters: 25, tolerance: 0, seed: 6, balanceFactor: 1, bounds: false });
    same(on, off);
    expect(Math.max(...log)).toBeGreaterThan(1000);
  });

  it('near ties: integer data with duplicate rows', async () => {
    const kernels = await loadKernels();
    for (const seed of [4, 5, 6]) await both(integers(2500, 8, seed), 8, 15, { maxIters: 30, seed, tolerance: 0, kernels });
  });

  it('fewer bound groups than centroids (Yinyang) and one group (Hamerly)', async () => {
    const kernels = await loadKernels();
    const saved = boundsDebug.maxEntries;
    try {
      for (const groups of [1, 3, 7]) {
        boundsDebug.maxEntries = 3000 * groups;
        await both(blobs(3000, 16, 12, 14), 16, 20, { maxIters: 25, seed: 2, tolerance: 0, kernels });
        await both(integers(3000, 8, 15), 8, 15, { maxIters: 25, seed: 2, tolerance: 0, kernels });
        await both(blobs(3000, 16, 10, 16, 0.05, 3000), 16, 24, { maxIters: 25, seed: 2, tolerance: 0, kernels });
      }
    } finally {
      boundsDebug.maxEntries = saved;
    }
  });

  it('large offset (rounding dominates the distances)', async () => {
    const kernels = await loadKernels();
    for (const seed of [7, 8]) {
      await both(blobs(3000, 16, 10, seed, 0.05, 3000), 16, 24, { maxIters: 30, seed, tolerance: 0, kernels });
      await both(blobs(3000, 16, 10, seed, 1, 1e5), 16, 24, { maxIters: 30, seed, tolerance: 0, kernels });
    }
  });

  it('k = 1, bias (balanceFactor 1), dot metric, kmeans++, redos', async () => {
    const kernels = await loadKernels();
    const data = blobs(2000, 12, 8, 9);
    await both(data, 12, 1, { maxIters: 5, kernels });
    await both(data, 12, 16, { maxIters: 20, balanceFactor: 1, tolerance: 0, kernels });
    await both(data, 12, 16, { maxIters: 20, metric: 'dot', tolerance: 0, kernels });
    await both(data, 12, 16, { maxIters: 20, init: 'kmeans++', redos: 3, kernels });
  });

  it('hierarchical k-means (k > 256, sub-runs and refinement)', async () => {
    const kernels = await loadKernels();
    await both(blobs(3000, 8, 40, 10), 8, 300, { maxIters: 10, kernels });
  });

  it('NaN rows through kmeansWith(localExecutor)', async () => {
    const kernels = await loadKernels();
    const dim = 10;
    const data = blobs(2000, dim, 6, 11);
    for (let i = 0; i < 2000; i += 97) data[i * dim + (i % dim)] = NaN;
    const on = await kmeansWith(localExecutor(data, dim, kernels), 9, { maxIters: 20, tolerance: 0, seed: 3, kernels, bounds: true });
    const off = await kmeansWith(localExecutor(data, dim, kernels), 9, { maxIters: 20, tolerance: 0, seed: 3, kernels, bounds: false });
    same(on, off);
  });

  it('several shards with their own scratch, and rows actually skipped', async () => {
    const kernels = await loadKernels();
    const dim = 16;
    const data = blobs(4000, dim, 10, 12);
    const log: number[] = [];
    const on = await kmeansWith(shardedExecutor(data, dim, 3, kernels, log), 20, { maxIters: 25, tolerance: 0, seed: 5, bounds: true });
    const off = await kmeansWith(localExecutor(data, dim, kernels), 20, { maxIters: 25, tolerance: 0, seed: 5, bounds: false });
    same(on, off);
    expect(log[0]).toBe(0);
    expect(Math.max(...log)).toBeGreaterThan(2000);
  });

  it('outSecond: the second-best distance of assign agrees across builds', async () => {
    const ref = await loadKernels({ build: 'reference' });
    const dim = 9;
    const data = integers(300, dim, 13);
    for (const k of [1, 5, 8, 13]) {
      const cents = data.slice(0, k * dim);
      const want = new Float32Array(300);
      ref.assign(data, dim, cents, { outSecond: want });
      for (const build of ['auto', 'scalar'] as const) {
        const kern = await loadKernels({ build });
        const got = new Float32Array(300);
        kern.assign(data, dim, cents, { outSecond: got });
        expect(Array.from(got)).toEqual(Array.from(want));
      }
      if (k === 1) expect(want.every((v) => v === Infinity)).toBe(true);
    }
  });
});

describe('when the Lloyd loop turns bounds on', () => {
  it('once an iteration lowers the loss by less than 1 %; results as without bounds', async () => {
    boundsPolicy.always = false;
    try {
      const kernels = await loadKernels();
      const dim = 16;
      const data = blobs(4000, dim, 30, 14, 2);
      const log: number[] = [], used: boolean[] = [];
      const inner = shardedExecutor(data, dim, 2, kernels, log);
      const spy: KmeansExecutor = { ...inner, partialStats: (c, ctx) => { used.push(ctx.bounds === true); return inner.partialStats(c, ctx); } };
      const on = await kmeansWith(spy, 40, { maxIters: 25, tolerance: 0, seed: 7, bounds: true });
      const off = await kmeansWith(localExecutor(data, dim, kernels), 40, { maxIters: 25, tolerance: 0, seed: 7, bounds: false });
      same(on, off);
      const h = on.lossHistory;
      for (let t = 0; t < used.length; t++) {
        let want = false;
        for (let s = 1; s < t; s++) if (Math.abs(h[s - 1]! - h[s]!) < 0.01 * Math.abs(h[s]!)) want = true;
        if (t === 24 && !used[23]) want = false; // the last iteration starts none
        expect(used[t], `iteration ${t + 1}`).toBe(want);
      }
      expect(used[0]).toBe(false);
      expect(used.some((u) => u)).toBe(true);
      for (let t = 0; t < used.length; t++) if (!used[t]) expect(log[t]).toBe(0);
      expect(Math.max(...log)).toBeGreaterThan(1000);
      // Stopping at the iteration where bounds would start: they do not start (nothing would use them).
      const first = used.indexOf(true) + 1;
      const usedShort: boolean[] = [];
      const spyShort: KmeansExecutor = { ...inner, partialStats: (c, ctx) => { usedShort.push(ctx.bounds === true); return inner.partialStats(c, ctx); } };
      const short = await kmeansWith(spyShort, 40, { maxIters: first, tolerance: 0, seed: 7, bounds: true });
      same(short, await kmeansWith(localExecutor(data, dim, kernels), 40, { maxIters: first, tolerance: 0, seed: 7, bounds: false }));
      expect(usedShort).toEqual(new Array(first).fill(false));
    } finally {
      boundsPolicy.always = true;
    }
  });

  it(`rows of ${boundsPolicy.earlyDim} or more values: from the second iteration, with or without the 16-bit filter; results as without bounds`, async () => {
    boundsPolicy.always = false;
    try {
      const kernels = await loadKernels({ qFilter: 'off' });
      const dim = boundsPolicy.earlyDim;
      const data = blobs(600, dim, 12, 15, 2);
      const used: boolean[] = [];
      const inner = localExecutor(data, dim, kernels);
      const spy: KmeansExecutor = { ...inner, partialStats: (c, ctx) => { used.push(ctx.bounds === true); return inner.partialStats(c, ctx); } };
      const on = await kmeansWith(spy, 20, { maxIters: 6, tolerance: 0, seed: 9, bounds: true });
      same(on, await kmeansWith(localExecutor(data, dim, kernels), 20, { maxIters: 6, tolerance: 0, seed: 9, bounds: false }));
      expect(used).toEqual([false, true, true, true, true, true]);
      const narrow: boolean[] = [];
      const small = localExecutor(data.subarray(0, 600 * (dim - 1)), dim - 1, kernels);
      const spy2: KmeansExecutor = { ...small, partialStats: (c, ctx) => { narrow.push(ctx.bounds === true); return small.partialStats(c, ctx); } };
      await kmeansWith(spy2, 20, { maxIters: 3, tolerance: 0, seed: 9, bounds: true });
      expect(narrow[1]).toBe(false);
      // Kernels with the 16-bit filter (the start step's rows go through it): early as well, same results.
      const fk = await loadKernels({ build: 'simd', qFilter: 'on' });
      const fx = localExecutor(data, dim, fk);
      const filtered: boolean[] = [];
      const spy3: KmeansExecutor = { ...fx, partialStats: (c, ctx) => { filtered.push(ctx.bounds === true); return fx.partialStats(c, ctx); } };
      const rowsBefore = fk.filterStats!.rows;
      const got = await kmeansWith(spy3, 20, { maxIters: 6, tolerance: 0, seed: 9, bounds: true });
      same(got, await kmeansWith(localExecutor(data, dim, kernels), 20, { maxIters: 6, tolerance: 0, seed: 9, bounds: false }));
      expect(filtered).toEqual([false, true, true, true, true, true]);
      expect(fk.filterStats!.rows - rowsBefore).toBeGreaterThanOrEqual(2 * 600);
    } finally {
      boundsPolicy.always = true;
    }
  });
});

describe('steps before bounds start (boundsSoon)', () => {
  it('kernels with sessions compute every row through one and keep its bounds, so the first bounded step already settles rows; others take plain steps', async () => {
    const kernels = await loadKernels();
    const dim = 16, n = 3000, k = 20;
    const data = blobs(n, dim, 20, 31, 2), cs = data.slice(0, k * dim);
    let m = 0;
    for (const v of data) m = Math.max(m, Math.abs(v));
    const ctx = { iteration: 1, shift: sumShift(m, n), lossShift: lossShift('l2', dim, m, n), metric: 'l2' as const };
    const plain = kmeansPartialStats(data, dim, cs, ctx, kernels);
    const scratch: StatsScratch = {};
    const soon = kmeansPartialStats(data, dim, cs, { ...ctx, boundsSoon: true }, kernels, scratch);
    expect(scratch.bounds, 'bounds kept').toBeDefined();
    expect({ skipped: scratch.skipped, blocks: scratch.blocks }).toEqual({ skipped: 0, blocks: n * Math.ceil(k / 8) });
    const next = kmeansPartialStats(data, dim, cs, { ...ctx, iteration: 2, bounds: true }, kernels, scratch);
    expect(scratch.skipped, 'rows settled by the kept bounds').toBeGreaterThan(n / 2);
    for (const s of [soon, next]) {
      expect(Array.from(s.sums)).toEqual(Array.from(plain.sums));
      expect(Array.from(s.counts)).toEqual(Array.from(plain.counts));
      expect(Array.from(s.clusterLoss)).toEqual(Array.from(plain.clusterLoss));
    }
    boundsSessionPolicy.sessionBytes = 0;
    try {
      const capped: StatsScratch = {};
      const c1 = kmeansPartialStats(data, dim, cs, { ...ctx, boundsSoon: true }, kernels, capped);
      expect(capped.bounds, 'over the session cap: a plain step keeps nothing').toBeUndefined();
      const c2 = kmeansPartialStats(data, dim, cs, { ...ctx, iteration: 2, bounds: true }, kernels, capped);
      expect(capped.bounds?.session, 'bounds without a session (per-call copies)').toBeUndefined();
      expect(capped.bounds).toBeDefined();
      for (const s of [c1, c2]) expect(Array.from(s.sums)).toEqual(Array.from(plain.sums));
    } finally {
      boundsSessionPolicy.sessionBytes = 2 ** 30;
    }
    const ref = await loadKernels({ build: 'reference' });
    const refScratch: StatsScratch = {};
    const r = kmeansPartialStats(data, dim, cs, { ...ctx, boundsSoon: true }, ref, refScratch);
    expect(refScratch.bounds, 'no session: a plain step keeps nothing').toBeUndefined();
    expect(Array.from(r.sums)).toEqual(Array.from(plain.sums));
  });
});

describe('spare sums buffer (StatsScratch.spare)', () => {
  it('a call reuses a handed-back buffer of the right size (zeroed first), clears the field, and gives the same stats', async () => {
    const kernels = await loadKernels();
    const dim = 8, n = 500, k = 12;
    const data = blobs(n, dim, 6, 41, 2), cs = data.slice(0, k * dim);
    const ctx = { iteration: 1, shift: 20, lossShift: 20, metric: 'l2' as const };
    const want = kmeansPartialStats(data, dim, cs, ctx, kernels);
    const spare = new BigInt64Array(k * dim).fill(-3n).buffer;
    const scratch: StatsScratch = { spare };
    const got = kmeansPartialStats(data, dim, cs, ctx, kernels, scratch);
    expect(got.sums.buffer).toBe(spare);
    expect(scratch.spare).toBeUndefined();
    expect(Array.from(got.sums)).toEqual(Array.from(want.sums));
    const wrong = new ArrayBuffer(16);
    scratch.spare = wrong;
    const again = kmeansPartialStats(data, dim, cs, { ...ctx, iteration: 2 }, kernels, scratch);
    expect(again.sums.buffer).not.toBe(wrong);
    expect(scratch.spare, 'a buffer of another size stays').toBe(wrong);
    expect(Array.from(again.sums)).toEqual(Array.from(want.sums));
  });

  it('mergeInto writes into a spare buffer; a local executor reuses what release() hands back', async () => {
    const kernels = await loadKernels();
    const dim = 8, n = 600, k = 10;
    const data = blobs(n, dim, 5, 42, 2), cs = data.slice(0, k * dim);
    const ctx = { iteration: 1, shift: 20, lossShift: 20, metric: 'l2' as const };
    const a = kmeansPartialStats(data.subarray(0, 300 * dim), dim, cs, ctx, kernels);
    const b = kmeansPartialStats(data.subarray(300 * dim), dim, cs, ctx, kernels);
    const spare = new BigInt64Array(k * dim).fill(9n).buffer;
    const m = mergeInto([a, b], spare), want = mergePartialStats(a, b);
    expect(m.sums.buffer).toBe(spare);
    expect(Array.from(m.sums)).toEqual(Array.from(want.sums));
    expect(Array.from(m.counts)).toEqual(Array.from(want.counts));
    const ex = localExecutor(data, dim, kernels);
    const s1 = await ex.partialStats(cs, ctx);
    const ref = Array.from(s1.sums);
    ex.release!(s1);
    const s2 = await ex.partialStats(cs, { ...ctx, iteration: 2 });
    expect(s2.sums.buffer).toBe(s1.sums.buffer);
    expect(Array.from(s2.sums)).toEqual(ref);
    // The first shard's own buffer as the spare: the others are added to it in place, no copy.
    const a2 = kmeansPartialStats(data.subarray(0, 300 * dim), dim, cs, ctx, kernels);
    const own = a2.sums;
    const inPlace = mergeInto([a2, b], own.buffer as ArrayBuffer);
    expect(inPlace.sums).toBe(own);
    expect(Array.from(inPlace.sums)).toEqual(Array.from(want.sums));
    expect(Array.from(inPlace.clusterLoss)).toEqual(Array.from(want.clusterLoss));
  });

  it('addI64 adds i64 values as BigInt does: carries, borrows and wrap-around', () => {
    const edge = [0n, 1n, -1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n), 2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n),
      0xffffffffn * 3n, -0x80000001n, 0x7fffffff_ffffffffn - 0xffffffffn];
    const rand = (i: number): bigint => BigInt.asIntN(64, (BigInt(Math.imul(i, 2654435761) >>> 0) << 33n) ^ BigInt((i * 40503) >>> 0) ^ (BigInt(i % 7) << 61n)) * (i % 2 ? -1n : 1n);
    const xs: bigint[] = [], ys: bigint[] = [];
    for (const a of edge) for (const b of edge) { xs.push(a); ys.push(b); }
    for (let i = 0; i < 2000; i++) { xs.push(BigInt.asIntN(64, rand(i))); ys.push(BigInt.asIntN(64, rand(i + 7919))); }
    const dst = BigInt64Array.from(xs), src = BigInt64Array.from(ys);
    addI64(dst, src);
    for (let i = 0; i < xs.length; i++) expect(dst[i], `${xs[i]} + ${ys[i]}`).toBe(BigInt.asIntN(64, xs[i]! + ys[i]!));
    // Sub-array views (byteOffset ≠ 0) add only their own range.
    const big = new BigInt64Array(6).fill(5n), add = BigInt64Array.from([1n, -7n, 2n ** 40n]);
    addI64(big.subarray(2, 5), add);
    expect(Array.from(big)).toEqual([5n, 5n, 6n, -2n, 5n + 2n ** 40n, 5n]);
  });
});

describe('bounds state over many map steps', () => {
  it('300 steps with moving centroids: same stats as brute force; the state is rebuilt after 255 epochs', async () => {
    const kernels = await loadKernels();
    const dim = 8, k = 24, data = blobs(600, dim, 12, 31);
    const init = data.slice(0, k * dim);
    const shift = sumShift(40, 600), lShift = lossShift('l2', dim, 40, 600);
    const scratch: StatsScratch = {};
    const full = 600 * Math.ceil(k / 8);
    const blocks: number[] = [];
    for (let t = 0; t < 300; t++) {
      const cs = init.map((v, i) => v + 0.3 * Math.sin(t * 0.05 + i));
      const ctx = { iteration: t + 1, shift, lossShift: lShift, metric: 'l2' as const };
      const on = kmeansPartialStats(data, dim, cs, { ...ctx, bounds: true }, kernels, scratch);
      const off = kmeansPartialStats(data, dim, cs, ctx, kernels);
      expect(on.sums, `step ${t}`).toEqual(off.sums);
      expect(on.counts, `step ${t}`).toEqual(off.counts);
      expect(on.clusterLoss, `step ${t}`).toEqual(off.clusterLoss);
      blocks.push(scratch.blocks!);
    }
    expect(blocks[0]).toBe(full);
    expect(blocks[256]).toBe(full);
    expect(blocks.filter((b) => b === full).length).toBe(2);
    expect(Math.max(...blocks.slice(200, 255))).toBeLessThan(full / 2);
  });
});

describe('nearest centroids after a k-means run (residuals)', () => {
  it('localExecutor.nearest reuses the bounds and returns assign()\'s indices, with or without a balance term', async () => {
    const kernels = await loadKernels();
    const dim = 12, data = blobs(3000, dim, 14, 41);
    for (const balanceFactor of [0, 1]) {
      const ex = localExecutor(data, dim, kernels);
      const res = await kmeansWith(ex, 30, { maxIters: 15, tolerance: 0, seed: 8, balanceFactor, kernels, bounds: true });
      const want = kernels.assign(data, dim, res.centroids, { metric: 'l2' }).index;
      const got = await ex.nearest(res.centroids);
      expect(Array.from(got)).toEqual(Array.from(want.subarray(0, 3000)));
      const moved = res.centroids.map((v, i) => v + 0.05 * Math.cos(i));
      expect(Array.from(await ex.nearest(moved))).toEqual(Array.from(kernels.assign(data, dim, moved, { metric: 'l2' }).index.subarray(0, 3000)));
    }
    const fresh = localExecutor(data, dim, kernels);
    const c = data.slice(0, 20 * dim);
    expect(Array.from(await fresh.nearest(c))).toEqual(Array.from(kernels.assign(data, dim, c, { metric: 'l2' }).index.subarray(0, 3000)));
  });

  it('nearestCentroids moves the bounds on and skips most rows after convergence', async () => {
    const kernels = await loadKernels();
    const dim = 8, data = blobs(4000, dim, 10, 42);
    const scratch: StatsScratch = {};
    const ex = localExecutor(data, dim, kernels);
    const res = await kmeansWith(ex, 20, { maxIters: 30, tolerance: 0, seed: 3, kernels, bounds: true });
    const cs = res.centroids;
    const shift = sumShift(40, 4000), lShift = lossShift('l2', dim, 40, 4000);
    kmeansPartialStats(data, dim, cs, { iteration: 1, shift, lossShift: lShift, metric: 'l2', bounds: true }, kernels, scratch);
    const idx = nearestCentroids(data, dim, cs, kernels, scratch);
    expect(scratch.skipped).toBeGreaterThan(3000);
    expect(Array.from(idx)).toEqual(Array.from(kernels.assign(data, dim, cs, { metric: 'l2' }).index.subarray(0, 4000)));
  });
});

describe('pair bounds (one per row and centroid) in k-means', () => {
  it(`k ≥ ${boundsSessionPolicy.pairMinK}, rows of ≥ ${boundsSessionPolicy.pairMinDim} values, no balance term: steps through a pairs session; results as without bounds`, async () => {
    const kernels = await loadKernels();
    const dim = boundsSessionPolicy.pairMinDim, k = boundsSessionPolicy.pairMinK, n = 1600;
    const data = blobs(n, dim, 40, 61, 2);
    const seen: (boolean | undefined)[] = [];
    const scratch: StatsScratch = {};
    const exec: KmeansExecutor = { ...localExecutor(data, dim, kernels),
      partialStats: (c, ctx) => { const s = kmeansPartialStats(data, dim, c, ctx, kernels, scratch); seen.push(scratch.bounds?.session?.pairs); return s; } };
    const on = await kmeansWith(exec, k, { maxIters: 5, tolerance: 0, seed: 3, bounds: true });
    same(on, await kmeansWith(localExecutor(data, dim, kernels), k, { maxIters: 5, tolerance: 0, seed: 3, bounds: false }));
    expect(seen).toEqual([true, true, true, true, true]);
    expect(scratch.skipped, 'the last step settles rows').toBeGreaterThan(0);
    const again: StatsScratch = {};
    const balanced: (boolean | undefined)[] = [];
    const bx: KmeansExecutor = { ...exec, partialStats: (c, ctx) => { const s = kmeansPartialStats(data, dim, c, ctx, kernels, again); balanced.push(again.bounds?.session?.pairs); return s; } };
    const b = await kmeansWith(bx, k, { maxIters: 4, tolerance: 0, seed: 3, bounds: true, balanceFactor: 1 });
    same(b, await kmeansWith(localExecutor(data, dim, kernels), k, { maxIters: 4, tolerance: 0, seed: 3, bounds: false, balanceFactor: 1 }));
    expect(balanced, 'a balance term keeps group bounds from the start').toEqual([false, false, false, false]);
    // A direct caller that adds a bias to a pairs state: group bounds from that step, same stats as brute force.
    const direct: StatsScratch = {};
    const cs = data.slice(0, k * dim);
    const ctx = { iteration: 1, shift: sumShift(kernels.maxAbs(data), n), lossShift: 20, metric: 'l2' as const, bounds: true };
    kmeansPartialStats(data, dim, cs, ctx, kernels, direct);
    expect(direct.bounds?.session?.pairs).toBe(true);
    const bias = new Float32Array(k).fill(0.5);
    const withBias = kmeansPartialStats(data, dim, cs, { ...ctx, iteration: 2, bias }, kernels, direct);
    expect(direct.bounds?.session?.pairs).toBe(false);
    const plain = kmeansPartialStats(data, dim, cs, { ...ctx, iteration: 2, bias, bounds: false }, kernels);
    expect(Array.from(withBias.sums)).toEqual(Array.from(plain.sums));
    expect(Array.from(withBias.counts)).toEqual(Array.from(plain.counts));
  });

  it('a pairs state has no epochs to run out of: one session past 255 steps, same stats as brute force', async () => {
    const kernels = await loadKernels();
    const dim = boundsSessionPolicy.pairMinDim, k = boundsSessionPolicy.pairMinK, n = 48;
    const data = blobs(n, dim, 6, 63, 2);
    let cs = new Float32Array(k * dim);
    for (let j = 0; j < k; j++) cs.set(data.subarray((j % n) * dim, (j % n + 1) * dim), j * dim);
    const scratch: StatsScratch = {};
    const ctx = { shift: sumShift(kernels.maxAbs(data) + 1, n), lossShift: 20, metric: 'l2' as const, bounds: true };
    let first: unknown;
    for (let t = 1; t <= 260; t++) {
      cs = cs.map((v, i) => v + (((i * 7 + t) % 5) - 2) * 1e-3);
      const got = kmeansPartialStats(data, dim, cs, { ...ctx, iteration: t }, kernels, scratch);
      first ??= scratch.bounds?.session;
      expect(scratch.bounds?.session, `step ${t}`).toBe(first);
      if (t % 64 === 0 || t === 260) {
        const want = kmeansPartialStats(data, dim, cs, { ...ctx, iteration: t, bounds: false }, kernels);
        expect(Array.from(got.sums), `step ${t}`).toEqual(Array.from(want.sums));
      }
    }
    expect((first as { pairs?: boolean } | undefined)?.pairs).toBe(true);
  });
});
