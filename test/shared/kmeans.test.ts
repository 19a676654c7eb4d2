import { describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import {
  finalizeCentroids, kmeans, KMEANS_DEFAULTS, kmeansPartialStats, kmeansWith, localExecutor, mergePartialStats,
  type PartialStats, type StatsContext,
} from '../../src/train/kmeans.js';
import { IvfkitError } from '../../src/util/errors.js';
import { lossShift, maxAbs, sumShift } from '../../src/util/fixed.js';
import { createRng } from '../../src/util/rng.js';

/** n rows of dim around `centers` random centers (uniform in [-10, 10)), gaussian-ish noise of scale `noise`. */
function blobs(n: number, dim: number, centers: number, seed: number, noise = 1): Float32Array {
  const rng = createRng(seed, 99);
  const c = Float32Array.from({ length: centers * dim }, () => rng.next() * 20 - 10);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const b = rng.int(centers);
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[b * dim + j]! + noise * (rng.next() + rng.next() + rng.next() - 1.5);
  }
  return out;
}

function ctxFor(data: Float32Array, dim: number, n: number, iteration = 1, metric: 'l2' | 'dot' = 'l2'): StatsContext {
  const m = maxAbs(data);
  return { iteration, shift: sumShift(m, n), lossShift: lossShift(metric, dim, m, n), metric };
}

function sameStats(a: PartialStats, b: PartialStats): void {
  expect(a.fingerprint).toBe(b.fingerprint);
  expect(Array.from(a.sums)).toEqual(Array.from(b.sums));
  expect(Array.from(a.counts)).toEqual(Array.from(b.counts));
  expect(Array.from(a.clusterLoss)).toEqual(Array.from(b.clusterLoss));
  expect(Array.from(a.radius)).toEqual(Array.from(b.radius));
}

async function rejectsWith(p: Promise<unknown>, code: string, ...parts: string[]): Promise<IvfkitError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(IvfkitError);
  expect((err as IvfkitError).code).toBe(code);
  for (const s of parts) expect((err as Error).message).toContain(s);
  return err as IvfkitError;
}

const kernels = await loadKernels();
const dim = 12;
const data = blobs(3000, dim, 20, 1);

describe('kmeans: Lloyd loop properties', () => {
  it('the loss never rises without balance term and splits; lossHistory has one entry per iteration', async () => {
    const r = await kmeans(data, dim, 32, { maxIters: 25, tolerance: 0, splitEmpty: false, kernels, seed: 3 });
    expect(r.iterations).toBe(25);
    expect(r.lossHistory).toHaveLength(25);
    for (let i = 1; i < r.lossHistory.length; i++) {
      expect(r.lossHistory[i]!).toBeLessThanOrEqual(r.lossHistory[i - 1]! * (1 + 1e-6));
    }
    expect(r.loss).toBe(r.lossHistory.at(-1));
    expect(r.lossHistory[0]!).toBeGreaterThan(r.loss);
  });

  it('data scaled by a power of two trains to the same centroids scaled (tiny values keep their loss resolution)', async () => {
    const base = await kmeans(data, dim, 16, { maxIters: 8, tolerance: 0, kernels, seed: 9 });
    for (const e of [-40, -58, 40]) {
      const s = 2 ** e;
      const r = await kmeans(data.map((v) => v * s), dim, 16, { maxIters: 8, tolerance: 0, kernels, seed: 9 });
      expect(r.iterations).toBe(base.iterations);
      expect(r.loss).toBe(base.loss * s * s);
      expect(r.lossHistory).toEqual(base.lossHistory.map((l) => l * s * s));
      expect(Array.from(r.centroids)).toEqual(Array.from(base.centroids, (v) => v * s));
    }
    // Below 2^-60 squared distances underflow f32: refused, not trained to a loss of 0 in one step.
    await rejectsWith(kmeans(data.map((v) => v * 2 ** -70), dim, 16, { kernels, seed: 9 }), 'out-of-range', 'scale the vectors up');
    const zero = await kmeans(new Float32Array(40 * dim), dim, 4, { kernels, seed: 9 });   // all zero: taken, loss never negative
    expect(zero.lossHistory.every((l) => l >= 0 && l < 1e-3)).toBe(true);
  });

  it('one huge value does not end the run: a loss that rounds to 0 at the run\'s fixed-point step goes on while centroids move', async () => {
    const x = data.slice();
    x[5] = 1e9;
    const r = await kmeans(x, dim, 16, { maxIters: 12, tolerance: 0, kernels, seed: 9 });
    expect(r.iterations).toBe(12);
    const ref = await kmeans(x, dim, 16, { maxIters: 12, tolerance: 0, kernels: await loadKernels({ build: 'reference' }), seed: 9 });
    expect(Array.from(r.centroids)).toEqual(Array.from(ref.centroids));
  });

  it('fewer distinct rows than k: a loss of 0 stops the run although empty clusters were split (their donors move)', async () => {
    const rows = Float32Array.from({ length: 90 * 4 }, (_, i) => [1, 5, 9][Math.floor(i / 4) % 3]! + (i % 4));
    for (const balanceFactor of [0, 1]) {
      const r = await kmeans(rows, 4, 8, { maxIters: 30, kernels, seed: 2, balanceFactor });
      expect(r.loss).toBe(0);
      expect(r.iterations).toBeLessThan(30);
    }
  });

  it('k > 256 on data with a cluster of tiny rows (hierarchical sub-runs are not range-checked on their own), and dot on tiny data', async () => {
    const rng = createRng(77);
    const x = new Float32Array(3200 * 4);
    for (let i = 0; i < 3200; i++) for (let j = 0; j < 4; j++) x[i * 4 + j] = i < 2800 ? 10 + 10 * rng.next() : 1e-20 * (1 + rng.next());
    const r = await kmeans(x, 4, 300, { maxIters: 3, kernels, seed: 1 });
    expect(r.centroids.every(Number.isFinite)).toBe(true);
    const d = await kmeans(x.map((v) => v * 1e-25), 4, 8, { metric: 'dot', maxIters: 3, kernels, seed: 1 });
    expect(d.centroids.every(Number.isFinite)).toBe(true);
  });

  it('k = number of distinct rows → loss 0, and the loop stops at once (Lance would not)', async () => {
    const rng = createRng(5);
    const x = Float32Array.from({ length: 40 * 6 }, () => rng.int(50) - 25);
    const r = await kmeans(x, 6, 40, { kernels, maxIters: 50 });
    expect(r.loss).toBe(0);
    expect(r.iterations).toBe(1);
    const sorted = (a: Float32Array) => Array.from({ length: 40 }, (_, i) => Array.from(a.subarray(i * 6, i * 6 + 6)).join(',')).sort();
    expect(sorted(r.centroids)).toEqual(sorted(x));
  });

  it('emptyClusters counts the clusters no row chose in the last assignment step', async () => {
    // From given centroids, one step without splits: three centroids far from every row get none.
    const init = new Float32Array(8 * dim);
    for (let c = 0; c < 5; c++) init.set(data.subarray(c * 97 * dim, (c * 97 + 1) * dim), c * dim);
    for (let c = 5; c < 8; c++) init.fill(1000 + c, c * dim, (c + 1) * dim);
    const one = await kmeans(data, dim, 8, { kernels, initialCentroids: init, maxIters: 1, splitEmpty: false });
    expect(one.emptyClusters).toBe(3);
    // Five distinct rows repeated: at most five clusters hold rows, flat (k 16) and hierarchical (k 300).
    const x = new Float32Array(600 * dim);
    for (let i = 0; i < 600; i++) x.set(data.subarray((i % 5) * dim, (i % 5 + 1) * dim), i * dim);
    for (const k of [16, 300]) {
      const r = await kmeans(x, dim, k, { kernels, maxIters: 3, tolerance: 0 });
      expect(r.emptyClusters).toBeGreaterThanOrEqual(k - 5);
      expect(r.emptyClusters).toBeLessThan(k);
    }
    expect((await kmeans(data, dim, 20, { kernels, maxIters: 10 })).emptyClusters).toBe(0);
  });

  it('stops when the relative loss change falls below tolerance', async () => {
    const r = await kmeans(data, dim, 20, { kernels, maxIters: 50, tolerance: 1e-4 });
    expect(r.iterations).toBeLessThan(50);
    const [a, b] = r.lossHistory.slice(-2) as [number, number];
    expect(Math.abs(a - b)).toBeLessThan(1e-4 * Math.abs(b));
    for (let i = 1; i < r.lossHistory.length - 1; i++) {
      expect(Math.abs(r.lossHistory[i - 1]! - r.lossHistory[i]!)).toBeGreaterThanOrEqual(1e-4 * Math.abs(r.lossHistory[i]!));
    }
  });

  it('same seed → identical centroids; different seed → different', async () => {
    const a = await kmeans(data, dim, 16, { kernels, seed: 11, maxIters: 10 });
    const b = await kmeans(data, dim, 16, { kernels, seed: 11, maxIters: 10 });
    const c = await kmeans(data, dim, 16, { kernels, seed: 12, maxIters: 10 });
    expect(Array.from(b.centroids)).toEqual(Array.from(a.centroids));
    expect(b.lossHistory).toEqual(a.lossHistory);
    expect(Array.from(c.centroids)).not.toEqual(Array.from(a.centroids));
  });

  it('kmeansWith(localExecutor) equals kmeans bit for bit', async () => {
    const opts = { kernels, seed: 4, maxIters: 12, balanceFactor: 1 };
    const a = await kmeans(data, dim, 24, opts);
    const b = await kmeansWith(localExecutor(data, dim, kernels), 24, opts);
    expect(Array.from(b.centroids)).toEqual(Array.from(a.centroids));
    expect(b.loss).toBe(a.loss);
    expect(b.lossHistory).toEqual(a.lossHistory);
  });

  it('rows with NaN or ±Inf take no part: result equals the run without them', async () => {
    const rows: Float32Array[] = [];
    for (let i = 0; i < 3000; i++) {
      if (i === 100) rows.push(new Float32Array(dim).fill(NaN));
      if (i === 1900) rows.push(new Float32Array(dim).fill(Infinity));
      if (i === 2000) { const r = data.slice(0, dim); r[3] = NaN; rows.push(r); }
      rows.push(data.subarray(i * dim, (i + 1) * dim));
    }
    const withBad = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => withBad.set(r, i * dim));
    expect(withBad.length).toBe(data.length + 3 * dim);
    const a = await kmeans(data, dim, 10, { kernels, seed: 2, maxIters: 8 });
    const b = await kmeans(withBad, dim, 10, { kernels, seed: 2, maxIters: 8 });
    expect(Array.from(b.centroids)).toEqual(Array.from(a.centroids));
    expect(b.loss).toBe(a.loss);
  });

  it('redos keep the best start: never worse than one run (redo 0 is that run)', async () => {
    const one = await kmeans(data, dim, 30, { kernels, seed: 8, maxIters: 6 });
    const three = await kmeans(data, dim, 30, { kernels, seed: 8, maxIters: 6, redos: 3 });
    expect(three.loss).toBeLessThanOrEqual(one.loss);
  });

  it('kmeans++ init is seeded and starts better than random on clustered data', async () => {
    const a = await kmeans(data, dim, 20, { kernels, init: 'kmeans++', seed: 1, maxIters: 1 });
    const b = await kmeans(data, dim, 20, { kernels, init: 'kmeans++', seed: 1, maxIters: 1 });
    const r = await kmeans(data, dim, 20, { kernels, init: 'random', seed: 1, maxIters: 1 });
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
    expect(a.loss).toBeLessThan(r.loss);
  });

  it('dot metric: negative loss, and the loop still stops on the relative change', async () => {
    const x = blobs(2000, 8, 6, 21);
    const r = await kmeans(x, 8, 6, { kernels, metric: 'dot', maxIters: 50, tolerance: 1e-4 });
    expect(r.iterations).toBeLessThan(50);
    expect(r.loss).toBeLessThan(0);
    expect(r.centroids.every(Number.isFinite)).toBe(true);
  });

  it('balance factor (Lance IVF, 1.0) runs and keeps the result close to plain Lloyd', async () => {
    const plain = await kmeans(data, dim, 20, { kernels, seed: 6, maxIters: 15 });
    const bal = await kmeans(data, dim, 20, { kernels, seed: 6, maxIters: 15, balanceFactor: 1 });
    expect(bal.centroids.every(Number.isFinite)).toBe(true);
    expect(bal.loss).toBeLessThan(plain.loss * 1.5);
  });

  it('onProgress reports every iteration; an aborted signal rejects between iterations', async () => {
    const seen: number[] = [];
    const ac = new AbortController();
    const err = await rejectsWith(kmeans(data, dim, 8, {
      kernels, maxIters: 30, tolerance: 0, signal: ac.signal,
      onProgress: (p) => { expect(p.stage).toBe('kmeans'); expect(p.maxIters).toBe(30); seen.push(p.iteration!); if (p.iteration === 3) ac.abort(); },
    }), 'aborted');
    expect(err.name).toBe('AbortError');
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe('kmeans: empty clusters and hierarchical', () => {
  it('an empty cluster is split: no NaN, no duplicate centroid, and it gets rows next time', async () => {
    const init = data.slice(0, 5 * dim);
    init.fill(1e3, 4 * dim, 5 * dim);
    const r = await kmeans(data, dim, 5, { kernels, initialCentroids: init, maxIters: 1 });
    expect(r.centroids.every(Number.isFinite)).toBe(true);
    const rows = Array.from({ length: 5 }, (_, i) => Array.from(r.centroids.subarray(i * dim, (i + 1) * dim)).join(','));
    expect(new Set(rows).size).toBe(5);
    expect(Math.max(...r.centroids.subarray(4 * dim))).toBeLessThan(20);
    const stats = kmeansPartialStats(data, dim, r.centroids, ctxFor(data, dim, 3000, 2), kernels);
    expect(Array.from(stats.counts).every((c) => c > 0)).toBe(true);
  });

  it('with the balance term, a refilled cluster and its donor share the donor\'s rows (the term reads the sizes after the split, as Lance)', async () => {
    // Clusters near the origin (the split copies lie close together) and one far initial centroid, empty in step 1.
    const rng = createRng(12, 7);
    const centres = Float32Array.from({ length: 5 * 8 }, () => rng.next() * 2 - 1);
    const x = new Float32Array(2000 * 8);
    for (let i = 0; i < 2000; i++) for (let j = 0; j < 8; j++) x[i * 8 + j] = centres[(i % 5) * 8 + j]! + rng.next() - 0.5;
    const init = x.slice(0, 6 * 8);
    init.fill(100, 5 * 8);
    const ex = localExecutor(x, 8, kernels);
    const counts: number[][] = [];
    const recording = { ...ex, n: ex.n, dim: ex.dim, maxAbs: ex.maxAbs,
      partialStats: async (c: Float32Array, ctx: StatsContext) => { const st = await ex.partialStats(c, ctx); counts.push(Array.from(st.counts)); return st; } };
    const r = await kmeansWith(recording, 6, { kernels, initialCentroids: init, maxIters: 6, tolerance: 0, balanceFactor: 1 });
    expect(counts[0]![5]).toBe(0);
    // Read from the counts before the split, the copy's term would be 0 and it would take all its twin's rows.
    for (const c of counts.slice(1)) expect(Math.min(...c)).toBeGreaterThan(0);
    expect(r.emptyClusters).toBe(0);
  });

  it('split of an all-zero centroid still gives two different centroids', () => {
    const ctx: StatsContext = { iteration: 1, shift: 20, lossShift: 20, metric: 'l2' };
    const zeros = new Float32Array(4 * 3);
    const x = new Float32Array(6 * 3);
    const stats = kmeansPartialStats(x, 3, zeros, ctx, kernels);
    expect(Array.from(stats.counts)).toEqual([6, 0, 0, 0]);
    const fin = finalizeCentroids(stats, zeros, { seed: 1 });
    const rows = Array.from({ length: 4 }, (_, i) => Array.from(fin.centroids.subarray(i * 3, i * 3 + 3)).join(','));
    expect(new Set(rows).size).toBe(4);
    expect(fin.empty).toBe(3);
    // Each refill takes half of its donor's size: the six rows end spread over all four clusters.
    expect(Array.from(fin.sizes).reduce((a, b) => a + b, 0)).toBe(6);
    expect(Math.min(...fin.sizes)).toBeGreaterThan(0);
  });

  it('hierarchical sub-runs cap the balance term at balanceFactor / N of the whole sample (Lance scales it once)', async () => {
    const { kmeansDebug } = await import('../../src/train/kmeans.js');
    const runs: { rows: number; k: number; balanceFactor: number }[] = [];
    kmeansDebug.onSubRun = (r) => runs.push(r);
    try {
      await kmeans(blobs(9000, 8, 40, 32), 8, 300, { kernels, maxIters: 3, seed: 1, balanceFactor: 2 });
    } finally {
      kmeansDebug.onSubRun = undefined;
    }
    expect(runs.length).toBeGreaterThan(1);
    for (const r of runs) expect(r.balanceFactor / r.rows).toBeCloseTo(2 / 9000, 12);
  });

  it('k = 300 > 256 → hierarchical, exactly 300 finite centroids, and a refined loss', async () => {
    const x = blobs(9000, 8, 40, 31);
    const r = await kmeans(x, 8, 300, { kernels, maxIters: 10, seed: 1 });
    expect(r.centroids.length).toBe(300 * 8);
    expect(r.centroids.every(Number.isFinite)).toBe(true);
    expect(r.iterations).toBeGreaterThan(0);
    expect(r.iterations).toBeLessThanOrEqual(KMEANS_DEFAULTS.refineIters);
    const flat = await kmeans(x, 8, 300, { kernels, maxIters: 10, seed: 1, hierarchicalK: 0 });
    expect(r.loss).toBeLessThan(flat.loss * 1.25);
  });

  it('k > 256 on an executor without local rows: flat k-means with random init', async () => {
    const x = blobs(1200, 4, 30, 61);
    const ex = localExecutor(x, 4, kernels);
    const remote = { n: ex.n, dim: ex.dim, maxAbs: ex.maxAbs, rows: ex.rows, partialStats: ex.partialStats };
    const a = await kmeansWith(remote, 260, { kernels, maxIters: 4, seed: 3, init: 'kmeans++' });
    const b = await kmeans(x, 4, 260, { kernels, maxIters: 4, seed: 3, hierarchicalK: 0 });
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
    expect(a.iterations).toBe(b.iterations);
  });

  it('hierarchical with few distinct rows still returns exactly k centroids', async () => {
    const base = blobs(270, 4, 30, 41);
    const x = new Float32Array(270 * 4 * 3);
    for (let c = 0; c < 3; c++) x.set(base, c * base.length);
    const r = await kmeans(x, 4, 260, { kernels, maxIters: 5, seed: 2 });
    expect(r.centroids.length).toBe(260 * 4);
    expect(r.centroids.every(Number.isFinite)).toBe(true);
  });
});

describe('kmeans: partial stats (map + reduce)', () => {
  const n = 3000;
  const centroids = data.slice(0, 16 * dim);
  const ctx = ctxFor(data, dim, n, 4);
  const single = kmeansPartialStats(data, dim, centroids, ctx, kernels);
  const shard = (a: number, b: number) => kmeansPartialStats(data.subarray(a * dim, b * dim), dim, centroids, ctx, kernels);

  it('1, 2 and 3 shards merged in any order give the single-shard bits', () => {
    sameStats(mergePartialStats(single), single);
    const [a, b] = [shard(0, 1234), shard(1234, n)];
    sameStats(mergePartialStats(a, b), single);
    sameStats(mergePartialStats(b, a), single);
    const t = [shard(0, 7), shard(7, 2000), shard(2000, n)];
    for (const order of [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]]) {
      sameStats(mergePartialStats(...order.map((i) => t[i]!)), single);
      sameStats(mergePartialStats(mergePartialStats(t[order[0]!]!, t[order[1]!]!), t[order[2]!]!), single);
    }
    const f1 = finalizeCentroids(single, centroids, { seed: 1 });
    const f3 = finalizeCentroids(mergePartialStats(t[2]!, t[0]!, t[1]!), centroids, { seed: 1 });
    expect(Array.from(f3.centroids)).toEqual(Array.from(f1.centroids));
    expect(f3.loss).toBe(f1.loss);
  });

  it('the merge does not modify its inputs', () => {
    const a = shard(0, 100), b = shard(100, 200);
    const before = Array.from(a.sums);
    mergePartialStats(a, b);
    expect(Array.from(a.sums)).toEqual(before);
  });

  it('rejects stats of other centroids, iterations or shapes with a clear error', () => {
    const other = kmeansPartialStats(data, dim, data.slice(dim, 17 * dim), ctx, kernels);
    expect(() => mergePartialStats(single, other)).toThrow(/fingerprint: expected [0-9a-f]{16} \(iteration 4\), got [0-9a-f]{16}/);
    const later = kmeansPartialStats(data, dim, centroids, { ...ctx, iteration: 5 }, kernels);
    expect(() => mergePartialStats(single, later)).toThrow(IvfkitError);
    const wrongShape = { ...single, k: 8, counts: single.counts.subarray(0, 8) };
    expect(() => mergePartialStats(single, wrongShape)).toThrow(/stats\[1\]\.sums: expected BigInt64Array\(96\), got BigInt64Array\(192\)/);
    const wrongType = { ...single, radius: Float64Array.from(single.radius) } as unknown as PartialStats;
    expect(() => mergePartialStats(single, wrongType)).toThrow(/stats\[1\]\.radius: expected Float32Array\(16\), got Float64Array\(16\)/);
    const sameFpOtherK: PartialStats = { ...mergePartialStats(single), k: 8, dim: 24, counts: new Float64Array(8),
      clusterLoss: new BigInt64Array(8), radius: new Float32Array(8) };
    expect(() => mergePartialStats(single, sameFpOtherK)).toThrow(/shape \(k × dim\): expected 16 × 12, got 8 × 24/);
  });

  it('finalize: mean of members in f64 → f32; loss = Σ distances', () => {
    const fin = finalizeCentroids(single, centroids);
    const { index, dist } = kernels.assign(data, dim, centroids);
    const sum = new Float64Array(16 * dim), cnt = new Float64Array(16);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      cnt[index[i]!]!++;
      loss += dist[i]!;
      for (let j = 0; j < dim; j++) sum[index[i]! * dim + j]! += data[i * dim + j]!;
    }
    for (let c = 0; c < 16; c++) {
      for (let j = 0; j < dim; j++) expect(fin.centroids[c * dim + j]).toBeCloseTo(sum[c * dim + j]! / cnt[c]!, 4);
    }
    expect(fin.loss).toBeCloseTo(loss, 2);
  });
});

describe('kmeans: bad input', () => {
  it('states expected and actual values', async () => {
    await rejectsWith(kmeans(data.subarray(0, 5 * dim), dim, 10, { kernels }), 'too-few-rows', 'expected at least k = 10 rows, got 5');
    await rejectsWith(kmeans(data, dim, 0, { kernels }), 'invalid-argument', 'k: expected a positive integer, got 0');
    await rejectsWith(kmeans(data, dim, 2.5, { kernels }), 'invalid-argument', 'k: expected a positive integer, got 2.5');
    await rejectsWith(kmeans(data.subarray(0, 100 * dim + 1), dim, 4, { kernels }), 'dimension-mismatch', 'a multiple of dim 12', 'got 1201');
    await rejectsWith(kmeans(new Float32Array(40).fill(NaN), 4, 2, { kernels }), 'no-finite-rows', 'got 0 of 10');
    await rejectsWith(kmeans(data, dim, 4, { kernels, initialCentroids: new Float32Array(5) }), 'dimension-mismatch', 'initialCentroids length', 'got 5');
    await rejectsWith(kmeans(data, dim, 4, { kernels, initialCentroids: new Float64Array(4 * dim) as unknown as Float32Array }), 'invalid-argument',
      'initialCentroids', `got Float64Array(${4 * dim})`);
    await rejectsWith(kmeans(data, dim, 4, { kernels, maxIters: 0 }), 'invalid-argument', 'maxIters: expected an integer ≥ 1, got 0');
    await rejectsWith(kmeans(data, dim, 4, { kernels, metric: 'cosine' as 'l2' }), 'invalid-argument', 'metric');
    // As trainLocal checks them (a seed of 1.5 or −1 used to train as seed 1 or 0; NaN showed as null).
    await rejectsWith(kmeans(data, dim, 4, { kernels, seed: 1.5 }), 'invalid-argument', 'seed: expected a non-negative integer, got 1.5');
    await rejectsWith(kmeans(data, dim, 4, { kernels, seed: -1 }), 'invalid-argument', 'seed: expected a non-negative integer, got -1');
    await rejectsWith(kmeans(data, dim, 4, { kernels, tolerance: Infinity }), 'invalid-argument', 'tolerance: expected a finite number ≥ 0, got Infinity');
    await rejectsWith(kmeans(data, dim, 4, { kernels, tolerance: NaN }), 'invalid-argument', 'tolerance: expected a finite number ≥ 0, got NaN');
    await rejectsWith(kmeans(data, dim, 4, { kernels, maxIters: NaN }), 'invalid-argument', 'maxIters: expected an integer ≥ 1, got NaN');
    await rejectsWith(kmeans(data, dim, 4, { kernels, bounds: 'no' as unknown as boolean }), 'invalid-argument', 'bounds: expected a boolean, got no');
  });

  it('values whose squared norms would overflow f32 distances: out-of-range, stated with the limit; just below, a model', async () => {
    const limit = Math.sqrt(3.4028234663852886e38 / (2 * dim));
    const scaled = (v: number): Float32Array => {
      const m = maxAbs(data), x = new Float32Array(data.length);
      for (let i = 0; i < x.length; i++) x[i] = (data[i]! / m) * v;
      return x;
    };
    const big = scaled(limit * 1.01);
    const err = await rejectsWith(kmeans(big, dim, 4, { kernels, maxIters: 3 }), 'out-of-range',
      `largest |value| of the ${dim}-value rows and centroids: expected at most ${limit.toPrecision(3)}`, 'overflow f32 distances');
    expect(err.message).toMatch(new RegExp(`got ${maxAbs(big).toPrecision(3).replace('+', '\\+')}$`));
    // Just above the limit, three digits would read as the limit itself: then every digit.
    const edge = scaled(limit * (1 + 1e-5));
    const e2 = await rejectsWith(kmeans(edge, dim, 4, { kernels, maxIters: 3 }), 'out-of-range');
    expect(e2.message).toMatch(new RegExp(`got ${String(maxAbs(edge)).replace('+', '\\+')}$`));
    await rejectsWith(kmeans(data, dim, 4, { kernels, initialCentroids: scaled(limit * 2).subarray(0, 4 * dim) }), 'out-of-range');
    // Rows of 4 sub-vectors: the limit is the sub-vectors' (3 values), above the rows'.
    const { trainPq } = await import('../../src/train/pq.js');
    const sub = Math.sqrt(3.4028234663852886e38 / (2 * (dim / 4)));
    await rejectsWith(trainPq(scaled(sub * 1.01), dim, { numSubVectors: 4, numBits: 4, maxIters: 2, kernels }), 'out-of-range', `${dim / 4}-value sub-vectors`);
    // ... but with IVF centroids the rows are first assigned whole: there the rows' limit holds.
    const between = scaled(Math.sqrt(limit * sub));
    await rejectsWith(trainPq(between, dim, { numSubVectors: 4, numBits: 4, maxIters: 2, kernels, ivfCentroids: between.slice(0, 2 * dim) }), 'out-of-range',
      `${dim}-value rows and IVF centroids`);
    // Every value at the largest f32 under the exact limit (d 100): the norms' own f32 rounding would reach +∞, so it is refused.
    const d100 = Math.sqrt(3.4028234663852886e38 / 200);
    let v = Math.fround(d100);
    if (v > d100) v = new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([v]).buffer)[0]! - 1]).buffer)[0]!;
    await rejectsWith(kmeans(new Float32Array(40 * 100).fill(v), 100, 2, { kernels, maxIters: 2 }), 'out-of-range');
    const ok = scaled(limit * 0.99);
    const r = await kmeans(ok, dim, 4, { kernels, maxIters: 5, seed: 3 });
    const ref = await kmeans(scaled(limit * 0.99 / 2 ** 60), dim, 4, { kernels, maxIters: 5, seed: 3 });
    expect(r.centroids.every(Number.isFinite)).toBe(true);
    // Scaling every value by a power of two scales every f32 operation exactly: the same model, scaled.
    expect(Array.from(r.centroids)).toEqual(Array.from(ref.centroids, (v) => v * 2 ** 60));
    expect(r.loss).toBe(ref.loss * 2 ** 120);
  });

  it('an executor returning stale stats is caught by the fingerprint', async () => {
    const ex = localExecutor(data, dim, kernels);
    let first: PartialStats | undefined;
    const stale = { ...ex, n: ex.n, dim: ex.dim, maxAbs: ex.maxAbs,
      partialStats: async (c: Float32Array, ctx: StatsContext) => (first ??= await ex.partialStats(c, ctx)) };
    await rejectsWith(kmeansWith(stale, 4, { kernels, maxIters: 5, tolerance: 0 }), 'fingerprint-mismatch', 'executor stats fingerprint');
  });
});

describe('kmeans: kernel builds', () => {
  it('SIMD, scalar and reference builds agree on the final loss within 1e-6 relative', async () => {
    const x = blobs(600, 10, 8, 51);
    const losses: number[] = [];
    for (const build of ['simd', 'scalar', 'reference'] as const) {
      const r = await kmeans(x, 10, 8, { kernels: await loadKernels({ build }), maxIters: 10, seed: 5 });
      losses.push(r.loss);
    }
    for (const l of losses) expect(Math.abs(l - losses[0]!) / losses[0]!).toBeLessThan(1e-6);
  });
});
