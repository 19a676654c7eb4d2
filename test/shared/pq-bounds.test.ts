import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWasmKernels, getWasmModuleSync, isBuildSupported, loadKernels, loadKernelsSync } from '../../src/kernels/index.js';
import { PQ_GROUPS, PQ_TOP, type Accumulators, type Kernels, type PqBounds, type PqGroupBounds } from '../../src/kernels/types.js';
import { localExecutor, type KmeansExecutor } from '../../src/train/executor.js';
import { boundsPolicy } from '../../src/train/kmeans.js';
import { kmeansPartialStats, pqBoundsDebug, pqGroupPerm, pqGroupPolicy, type StatsScratch } from '../../src/train/partial.js';
import { trainPq, type TrainPqOptions } from '../../src/train/pq.js';
import { createRng } from '../../src/util/rng.js';
import { blobs as fixtureBlobs, shardedExecutor } from './fixtures.js';

// PQ k-means with per-(row, sub-space) distance bounds: the bounded kernel against the brute-force
// kernels of every build, and whole trainings with and without bounds, bit for bit.

const ref = loadKernelsSync({ build: 'reference' });
const wasmBuilds = (['simd', 'scalar'] as const);

function blobs(n: number, dim: number, centers: number, seed: number, noise = 1, offset = 0): Float32Array {
  return fixtureBlobs(n, dim, centers, seed, noise, offset, 91);
}

/** Small integers, many duplicates: exact distance ties everywhere. */
function integers(n: number, dim: number, seed: number): Float32Array {
  const rng = createRng(seed, 92);
  return Float32Array.from({ length: n * dim }, () => rng.int(4));
}

function withNaN(data: Float32Array, dim: number, every: number): Float32Array {
  const out = data.slice();
  for (let i = 3; i < out.length / dim; i += every) out[i * dim + (i % dim)] = NaN;
  return out;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function same(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>, what: string): void {
  expect(a.length, `${what} length`).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) expect(`${what}[${i}] = ${String(a[i])}`).toBe(`${what}[${i}] = ${String(b[i])}`);
  }
}

function acc(k: number, dim: number): Accumulators {
  return { shift: 20, lossShift: 16, sums: new BigInt64Array(k * dim), counts: new Float64Array(k), clusterLoss: new BigInt64Array(k),
    radius: new Float32Array(k).fill(-Infinity) };
}

/** Drift per sub-space as src/train/partial.ts computes it; with `second`, also the 8 fastest codes and the
 *  largest drift of the rest. */
function drift(prev: Float32Array, next: Float32Array, m: number, ksub: number, ds: number, second = false):
  Pick<PqBounds, 'drift' | 'top' | 'restDrift'> {
  const out = new Float64Array(3 * m), top = new Int32Array(PQ_TOP * m).fill(-1), restDrift = new Float64Array(m);
  for (let s = 0; s < m; s++) {
    let m1 = 0, m2 = 0, arg = -1;
    const all: [number, number][] = [];
    for (let c = 0; c < ksub; c++) {
      let q = 0;
      for (let j = 0; j < ds; j++) { const v = next[(s * ksub + c) * ds + j]! - prev[(s * ksub + c) * ds + j]!; q += v * v; }
      const d = Math.sqrt(q) * (1 + 1e-9);
      all.push([d, c]);
      if (d > m1) { m2 = m1; m1 = d; arg = c; } else if (d > m2) m2 = d;
    }
    out.set([m1, m2, arg], 3 * s);
    all.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    for (let h = 0; h < PQ_TOP; h++) top[PQ_TOP * s + h] = all[h]![1];
    restDrift[s] = all[PQ_TOP]![0];
  }
  return second ? { drift: out, top, restDrift } : { drift: out };
}

/** Every stored bound is ≤ the true (f64) distance to every other code. */
function boundsHold(x: Float32Array, dim: number, cb: Float32Array, m: number, ksub: number, b: PqBounds): void {
  const ds = dim / m, n = x.length / dim;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++) {
      const a = b.assign[i * m + s]!;
      if (a < 0) continue;
      let best = Infinity;
      for (let c = 0; c < ksub; c++) {
        if (c === a) continue;
        let q = 0;
        for (let j = 0; j < ds; j++) { const v = x[i * dim + s * ds + j]! - cb[(s * ksub + c) * ds + j]!; q += v * v; }
        best = Math.min(best, q);
      }
      const l = b.lower[i * m + s]!;
      if (!(l * l <= best)) expect(`pair ${i},${s}: bound ${l}² ≤ ${best}`).toBe('a valid bound');
    }
  }
}

describe('pqAssignAccumulateBounded', () => {
  const cases = [
    { d: 32, m: 4, ksub: 256, n: 700, off: 0 },
    { d: 15, m: 3, ksub: 256, n: 600, off: 0 },
    { d: 32, m: 4, ksub: 16, n: 500, off: 0 },
    { d: 21, m: 3, ksub: 16, n: 500, off: 0 },
    { d: 16, m: 2, ksub: 256, n: 600, off: 500 },
  ];
  for (const [build, second] of [...wasmBuilds, 'reference'].flatMap((b) => [[b, false], [b, true]] as const)) {
    it.each(cases)(`${build}${second ? ', 8 fastest codes checked exactly' : ''}: same codes, distances and sums as pqAssignAccumulate over moving codebooks, d=$d m=$m ksub=$ksub offset=$off`,
      ({ d, m, ksub, n, off }) => {
        const K = build === 'reference' ? ref : loadKernelsSync({ build });
        const ds = d / m;
        const x = withNaN(blobs(n, d, 12, d + ksub, 1, off), d, 37);
        const rng = createRng(ksub + d, 5);
        let cb = Float32Array.from({ length: m * ksub * ds }, (_, p) => x[(p % (n - 10)) + 5 * d]! + (rng.next() - 0.5) * 2);
        for (let p = 0; p < cb.length; p++) if (!Number.isFinite(cb[p]!)) cb[p] = off;
        const b: PqBounds = { assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m).fill(-1) };
        // With `second`, a twin state without the 8 fastest codes: the second chance must settle more pairs.
        const plain: PqBounds = { assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m).fill(-1) };
        let skippedTotal = 0, plainTotal = 0;
        for (let it = 0; it < 6; it++) {
          if (second) plainTotal += K.pqAssignAccumulateBounded(x, d, cb, m, ksub, acc(m * ksub, ds), plain);
          const want = acc(m * ksub, ds), got = acc(m * ksub, ds);
          const wi = new Int32Array(n * m), wd = new Float32Array(n * m), gi = new Int32Array(n * m), gd = new Float32Array(n * m);
          K.pqAssignAccumulate(x, d, cb, m, ksub, want, { outIndex: wi, outDist: wd });
          skippedTotal += K.pqAssignAccumulateBounded(x, d, cb, m, ksub, got, b, { outIndex: gi, outDist: gd });
          same(gi, wi, `iteration ${it} index`); same(gd, wd, `iteration ${it} dist`);
          same(got.sums, want.sums, 'sums'); same(got.counts, want.counts, 'counts');
          same(got.clusterLoss, want.clusterLoss, 'loss'); same(got.radius, want.radius, 'radius');
          const r = ref.pqAssign(x, d, cb, m, ksub);
          same(gi, r.index, 'index vs reference'); same(gd, r.dist, 'dist vs reference');
          boundsHold(x, d, cb, m, ksub, b);
          for (let p = 0; p < n * m; p++) if (b.assign[p]! >= 0) expect(b.assign[p]).toBe(gi[p]);
          // The next codebook: small moves, one larger jump per sub-space (a split), shrinking over time.
          const next = cb.slice();
          const scale = 0.3 / (it + 1);
          for (let p = 0; p < next.length; p++) next[p] = next[p]! + (rng.next() - 0.5) * scale;
          for (let s = 0; s < m; s++) next[(s * ksub + rng.int(ksub)) * ds] += it < 2 ? 3 : 0;
          Object.assign(b, drift(cb, next, m, ksub, ds, second));
          plain.drift = drift(cb, next, m, ksub, ds).drift;
          cb = next;
        }
        if (off === 0) expect(skippedTotal).toBeGreaterThan(0);
        if (off === 0 && second) expect(skippedTotal).toBeGreaterThan(plainTotal);
      });
  }

  it.each([{ d: 32, m: 4, ksub: 16 }, { d: 21, m: 3, ksub: 256 }])('scalar wasm keeps the reference\'s bounds bit for bit, d=$d ksub=$ksub', ({ d, m, ksub }) => {
    const K = loadKernelsSync({ build: 'scalar' });
    const n = 300, ds = d / m;
    const x = withNaN(blobs(n, d, 9, 4), d, 29);
    const cb = Float32Array.from({ length: m * ksub * ds }, (_, p) => (x[(p % (n - 10)) + d] ?? 0) || 0.5);
    const mk = (): PqBounds => ({ assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m).fill(-1) });
    const a = mk(), r = mk();
    K.pqAssignAccumulateBounded(x, d, cb, m, ksub, acc(m * ksub, ds), a);
    ref.pqAssignAccumulateBounded(x, d, cb, m, ksub, acc(m * ksub, ds), r);
    same(a.assign, r.assign, 'assign'); same(a.lower, r.lower, 'lower');
    const next = cb.map((v, p) => v * 1.001 + (p % (ksub * ds) < 8 * ds ? 0.05 : 0));
    Object.assign(a, drift(cb, next, m, ksub, ds, true));
    Object.assign(r, drift(cb, next, m, ksub, ds, true));
    expect(K.pqAssignAccumulateBounded(x, d, next, m, ksub, acc(m * ksub, ds), a))
      .toBe(ref.pqAssignAccumulateBounded(x, d, next, m, ksub, acc(m * ksub, ds), r));
    same(a.assign, r.assign, 'assign'); same(a.lower, r.lower, 'lower');
  });

  it('rejects bounds of the wrong shape or codes out of range, stating expected and actual', () => {
    const K = loadKernelsSync({ build: 'simd' });
    const x = blobs(10, 8, 2, 1), cb = blobs(32, 4, 2, 2);
    const b = { assign: new Int32Array(20).fill(-1), lower: new Float32Array(20), drift: new Float64Array(6).fill(-1) };
    expect(() => K.pqAssignAccumulateBounded(x, 8, cb, 2, 16, acc(32, 4), { ...b, lower: new Float32Array(19) }))
      .toThrow(/bounds\.lower length.*expected n·m = 20, got 19/);
    expect(() => K.pqAssignAccumulateBounded(x, 8, cb, 2, 16, acc(32, 4), { ...b, assign: new Int32Array(20).fill(16) }))
      .toThrow(/bounds\.assign\[0\].*got 16/);
    expect(() => K.pqAssignAccumulateBounded(x, 8, cb, 2, 16, acc(32, 4), { ...b, assign: Int32Array.from({ length: 20 }, (_, p) => (p === 7 ? -2 : 15)) }))
      .toThrow(/bounds\.assign\[7\]: expected an integer in \[-1, 16\), got -2/);
    expect(() => ref.pqAssignAccumulateBounded(x, 8, cb, 2, 16, acc(32, 4), { ...b, drift: new Float64Array([0, 0, 0.5, 0, 0, -1]) }))
      .toThrow(/bounds\.drift\[2\]/);
    expect(() => K.pqAssignAccumulateBounded(x, 8, cb, 2, 16, acc(32, 4), { ...b, top: new Int32Array(15), restDrift: new Float64Array(2) }))
      .toThrow(/bounds\.top length.*expected 8·m = 16, got 15/);
    expect(() => K.pqAssignAccumulateBounded(x, 8, cb, 2, 16, acc(32, 4), { ...b, top: new Int32Array(16) }))
      .toThrow(/bounds\.restDrift length.*expected m = 2, got undefined/);
    expect(() => ref.pqAssignAccumulateBounded(x, 8, cb, 2, 16, acc(32, 4), { ...b, top: new Int32Array(16).fill(16), restDrift: new Float64Array(2) }))
      .toThrow(/bounds\.top\[0\].*got 16/);
  });
});

/** bfloat16 bits → number. */
function bf16(h: number): number {
  return new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
}

/** Group drifts as src/train/partial.ts computes them (largest code drift per group of perm). */
function groupDrift(prev: Float32Array, next: Float32Array, m: number, ds: number, perm: Int32Array): Float64Array {
  const out = new Float64Array(m * PQ_GROUPS);
  for (let s = 0; s < m; s++) {
    for (let q = 0; q < 256; q++) {
      const c = perm[s * 256 + q]!;
      let v = 0;
      for (let j = 0; j < ds; j++) { const e = next[(s * 256 + c) * ds + j]! - prev[(s * 256 + c) * ds + j]!; v += e * e; }
      const d = Math.sqrt(v) * (1 + 1e-9);
      const g = s * PQ_GROUPS + (q >> 4);
      out[g] = d < Infinity ? Math.max(out[g]!, d) : Infinity;
    }
  }
  return out;
}

/** Every stored group bound is ≤ the true (f64) distance to every code of its group other than the pair's code. */
function groupBoundsHold(x: Float32Array, dim: number, cb: Float32Array, m: number, b: PqBounds): void {
  const ds = dim / m, n = x.length / dim, gr = b.groups!;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++) {
      const a = b.assign[i * m + s]!;
      if (a < 0) continue;
      for (let g = 0; g < PQ_GROUPS; g++) {
        let best = Infinity;
        for (let h = 0; h < 16; h++) {
          const c = gr.perm[s * 256 + 16 * g + h]!;
          if (c === a) continue;
          let q = 0;
          for (let j = 0; j < ds; j++) { const v = x[i * dim + s * ds + j]! - cb[(s * 256 + c) * ds + j]!; q += v * v; }
          best = Math.min(best, q);
        }
        const l = bf16(gr.lower[((i * m + s) * PQ_GROUPS) + g]!);
        if (!(l * l <= best)) expect(`pair ${i},${s} group ${g}: bound ${l}² ≤ ${best}`).toBe('a valid bound');
      }
    }
  }
}

describe('pqAssignAccumulateBounded with group bounds (256 codes)', () => {
  const mkGroups = (n: number, m: number, perm: Int32Array): PqGroupBounds =>
    ({ perm, lower: new Uint16Array(n * m * PQ_GROUPS), drift: new Float64Array(m * PQ_GROUPS) });
  const cases = [
    { d: 32, m: 4, n: 700, off: 0, spatial: true },
    { d: 15, m: 3, n: 603, off: 0, spatial: true },
    { d: 16, m: 2, n: 601, off: 500, spatial: true },
    { d: 32, m: 4, n: 500, off: 0, spatial: false },
  ];
  for (const build of [...wasmBuilds, 'reference'] as const) {
    it.each(cases)(`${build}: same codes, distances and sums as pqAssignAccumulate over moving codebooks, d=$d m=$m offset=$off spatial groups=$spatial`,
      ({ d, m, n, off, spatial }) => {
        const K = build === 'reference' ? ref : loadKernelsSync({ build });
        const ds = d / m;
        const x = withNaN(blobs(n, d, 12, d + 7, 1, off), d, 37);
        const rng = createRng(d + 256, 5);
        let cb = Float32Array.from({ length: m * 256 * ds }, (_, p) => x[(p % (n - 10)) + 5 * d]! + (rng.next() - 0.5) * 2);
        for (let p = 0; p < cb.length; p++) if (!Number.isFinite(cb[p]!)) cb[p] = off;
        // Spatial groups as training builds them, or a shuffled order (still exact, just fewer skips).
        const perm = spatial ? pqGroupPerm(cb, m, 256, ds)
          : Int32Array.from({ length: m * 256 }, (_, p) => ((p % 256) * 37 + 11 + (p >> 8)) % 256);
        const b: PqBounds = { assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m), groups: mkGroups(n, m, perm) };
        // A mutant that never lowers its bounds: the checks below must catch it.
        const mutant: PqBounds = { assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m), groups: mkGroups(n, m, perm) };
        let skippedLate = 0, mutantWrong = false;
        for (let it = 0; it < 7; it++) {
          const want = acc(m * 256, ds), got = acc(m * 256, ds);
          const wi = new Int32Array(n * m), wd = new Float32Array(n * m), gi = new Int32Array(n * m), gd = new Float32Array(n * m);
          K.pqAssignAccumulate(x, d, cb, m, 256, want, { outIndex: wi, outDist: wd });
          const skipped = K.pqAssignAccumulateBounded(x, d, cb, m, 256, got, b, { outIndex: gi, outDist: gd });
          if (it >= 3) skippedLate += skipped;
          same(gi, wi, `iteration ${it} index`); same(gd, wd, `iteration ${it} dist`);
          same(got.sums, want.sums, 'sums'); same(got.counts, want.counts, 'counts');
          same(got.clusterLoss, want.clusterLoss, 'loss'); same(got.radius, want.radius, 'radius');
          const r = ref.pqAssign(x, d, cb, m, 256);
          same(gi, r.index, 'index vs reference'); same(gd, r.dist, 'dist vs reference');
          groupBoundsHold(x, d, cb, m, b);
          for (let p = 0; p < n * m; p++) if (b.assign[p]! >= 0) expect(b.assign[p]).toBe(gi[p]);
          const mi = new Int32Array(n * m);
          K.pqAssignAccumulateBounded(x, d, cb, m, 256, acc(m * 256, ds), mutant, { outIndex: mi });
          if (mi.some((v, p) => v !== wi[p])) mutantWrong = true;
          const next = cb.slice();
          const scale = 0.3 / (it + 1);
          for (let p = 0; p < next.length; p++) next[p] = next[p]! + (rng.next() - 0.5) * scale;
          for (let s = 0; s < m; s++) next[(s * 256 + rng.int(256)) * ds] += it < 2 ? 3 : 0;
          b.groups!.drift = groupDrift(cb, next, m, ds, perm);
          cb = next;
        }
        if (off === 0) expect(skippedLate).toBeGreaterThan(0);
        expect(mutantWrong).toBe(true);
      });
  }

  it('non-finite codes: their groups search again (drift +Inf), results still the brute force', () => {
    for (const build of [...wasmBuilds, 'reference'] as const) {
      const K = build === 'reference' ? ref : loadKernelsSync({ build });
      const n = 300, d = 16, m = 2, ds = 8;
      const x = blobs(n, d, 8, 31);
      let cb = Float32Array.from({ length: m * 256 * ds }, (_, p) => x[p % (n * d)]! + 0.01 * (p % 7));
      const perm = pqGroupPerm(cb, m, 256, ds);
      const b: PqBounds = { assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m), groups: mkGroups(n, m, perm) };
      for (let it = 0; it < 4; it++) {
        const wi = new Int32Array(n * m), wd = new Float32Array(n * m), gi = new Int32Array(n * m), gd = new Float32Array(n * m);
        K.pqAssignAccumulate(x, d, cb, m, 256, acc(m * 256, ds), { outIndex: wi, outDist: wd });
        K.pqAssignAccumulateBounded(x, d, cb, m, 256, acc(m * 256, ds), b, { outIndex: gi, outDist: gd });
        same(gi, wi, `iteration ${it} index`); same(gd, wd, `iteration ${it} dist`);
        const next = cb.map((v) => v * 1.01);
        if (it === 1) next.fill(NaN, 5 * ds, 9 * ds);
        if (it === 2) next.fill(Infinity, 300 * ds, 301 * ds);
        b.groups!.drift = groupDrift(cb, next, m, ds, perm);
        cb = next;
      }
    }
  });

  it('scalar wasm keeps the reference\'s group bounds bit for bit', () => {
    const K = loadKernelsSync({ build: 'scalar' });
    const n = 300, d = 21, m = 3, ds = 7;
    const x = withNaN(blobs(n, d, 9, 4), d, 29);
    const cb = Float32Array.from({ length: m * 256 * ds }, (_, p) => (x[(p % (n - 10)) + d] ?? 0) || 0.5);
    const perm = pqGroupPerm(cb, m, 256, ds);
    const mk = (): PqBounds => ({ assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m), groups: mkGroups(n, m, perm) });
    const a = mk(), r = mk();
    K.pqAssignAccumulateBounded(x, d, cb, m, 256, acc(m * 256, ds), a);
    ref.pqAssignAccumulateBounded(x, d, cb, m, 256, acc(m * 256, ds), r);
    same(a.assign, r.assign, 'assign'); same(a.groups!.lower, r.groups!.lower, 'group bounds');
    const next = cb.map((v, p) => v * 1.001 + (p % (256 * ds) < 8 * ds ? 0.05 : 0));
    a.groups!.drift = groupDrift(cb, next, m, ds, perm);
    r.groups!.drift = a.groups!.drift;
    const skipped = K.pqAssignAccumulateBounded(x, d, next, m, 256, acc(m * 256, ds), a);
    expect(skipped).toBe(ref.pqAssignAccumulateBounded(x, d, next, m, 256, acc(m * 256, ds), r));
    expect(skipped).toBeGreaterThan(0);
    same(a.assign, r.assign, 'assign'); same(a.groups!.lower, r.groups!.lower, 'group bounds');
  });

  it('pqGroupPerm: a permutation per sub-space, groups tighter than the codebook', () => {
    const m = 3, ds = 4;
    const cb = blobs(m * 256, ds, 40, 8);
    const perm = pqGroupPerm(cb, m, 256, ds);
    for (let s = 0; s < m; s++) expect([...perm.subarray(s * 256, s * 256 + 256)].sort((p, q) => p - q)).toEqual([...Array(256).keys()]);
    const spread = (codes: number[], s: number): number => {
      let t = 0;
      for (let j = 0; j < ds; j++) {
        const v = codes.map((c) => cb[(s * 256 + c) * ds + j]!);
        const mean = v.reduce((p, q) => p + q, 0) / v.length;
        t += v.reduce((p, q) => p + (q - mean) ** 2, 0) / v.length;
      }
      return t;
    };
    for (let s = 0; s < m; s++) {
      let within = 0;
      for (let g = 0; g < 16; g++) within += spread([...perm.subarray(s * 256 + 16 * g, s * 256 + 16 * g + 16)], s) / 16;
      expect(within).toBeLessThan(0.5 * spread([...Array(256).keys()], s));
    }
    const withNaNCode = cb.slice();
    withNaNCode.fill(NaN, 10 * ds, 12 * ds);
    const p2 = pqGroupPerm(withNaNCode, m, 256, ds);
    expect([...p2.subarray(0, 256)].sort((p, q) => p - q)).toEqual([...Array(256).keys()]);
  });

  for (const build of wasmBuilds) {
    it(`${build}: a session (state in wasm memory) gives the stateless kernel's codes, skips and bounds, bit for bit`, () => {
      const K = loadKernelsSync({ build });
      const n = 4501, d = 32, m = 4, ds = 8;                  // three calls of up to 2,048 rows per step, the last with a tail
      const x = withNaN(blobs(n, d, 12, 44), d, 31);
      const rng = createRng(77, 5);
      let cb = Float32Array.from({ length: m * 256 * ds }, (_, p) => x[(p % (n - 10)) + 5 * d]! + (rng.next() - 0.5) * 2);
      for (let p = 0; p < cb.length; p++) if (!Number.isFinite(cb[p]!)) cb[p] = 0;
      const perm = pqGroupPerm(cb, m, 256, ds);
      const session = K.pqGroupSession!(x, d, m, perm)!;
      expect(session.n).toBe(n);
      const b: PqBounds = { assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m), groups: mkGroups(n, m, perm) };
      let drift = new Float64Array(m * PQ_GROUPS);
      let skippedLate = 0;
      for (let it = 0; it < 6; it++) {
        const want = acc(m * 256, ds), got = acc(m * 256, ds), stateless = acc(m * 256, ds);
        // The session keeps its sums between steps and moves only the pairs that change: a new scale (step 4) must
        // start them afresh, and sums already in the accumulators must stay under them.
        if (it >= 4) for (const a of [want, got]) a.shift = 18;
        if (it === 5) for (const a of [want, got]) { a.sums.fill(-3n, 7, 900); a.counts.fill(2, 1, 60); a.clusterLoss.fill(5n, 0, 40); }
        const wi = new Int32Array(n * m), wd = new Float32Array(n * m), gi = new Int32Array(n * m), gd = new Float32Array(n * m);
        K.pqAssignAccumulate(x, d, cb, m, 256, want, { outIndex: wi, outDist: wd });
        const skipped = session.step(cb, got, drift, { outIndex: gi, outDist: gd });
        expect(K.pqAssignAccumulateBounded(x, d, cb, m, 256, stateless, b)).toBe(skipped);
        if (it >= 2) skippedLate += skipped;
        same(gi, wi, `iteration ${it} index`); same(gd, wd, `iteration ${it} dist`);
        same(got.sums, want.sums, 'sums'); same(got.counts, want.counts, 'counts');
        same(got.clusterLoss, want.clusterLoss, 'loss'); same(got.radius, want.radius, 'radius');
        const st = session.state();
        same(st.assign, b.assign, 'assign'); same(st.lower, b.groups!.lower, 'group bounds');
        if (it % 2 === 1) groupBoundsHold(x, d, cb, m, { ...b, assign: st.assign, groups: { ...b.groups!, lower: st.lower } });
        const next = cb.map((v) => v + (rng.next() - 0.5) * (0.2 / (it + 1)));
        drift = groupDrift(cb, next, m, ds, perm);
        b.groups!.drift = drift;
        cb = next;
      }
      expect(skippedLate).toBeGreaterThan(0);
    });
  }

  it('sessions: none for the reference build or kernels made without their module; bad input is rejected', () => {
    expect(ref.pqGroupSession).toBeUndefined();
    const bare = createWasmKernels(new WebAssembly.Instance(getWasmModuleSync('simd'), {}), 'simd');
    const x = blobs(20, 8, 2, 1), perm = Int32Array.from({ length: 512 }, (_, p) => p % 256);
    expect(bare.pqGroupSession!(x, 8, 2, perm)).toBeUndefined();
    const K = loadKernelsSync({ build: 'simd' });
    const dup = perm.slice(); dup[3] = 4;
    expect(() => K.pqGroupSession!(x, 8, 2, dup)).toThrow(/bounds\.groups\.perm\[4\]: expected a permutation of 0\.\.255 per sub-space, got 4/);
    expect(() => K.pqGroupSession!(x, 7, 2, perm)).toThrow(/dim/);
    const session = K.pqGroupSession!(x, 8, 2, perm)!;
    const cb = blobs(512, 4, 3, 2);
    expect(() => session.step(cb, acc(512, 4), new Float64Array(31))).toThrow(/drift length.*expected m·16 = 32, got 31/);
    expect(() => session.step(cb.subarray(4), acc(512, 4), new Float64Array(32))).toThrow(/codebook/);
    expect(session.step(cb, acc(512, 4), new Float64Array(32))).toBe(0);
    // A runtime that refuses the session's memory: no session (the caller then copies per step). The session opened
    // here stays open, so that no closed session's instance, whose memory may be large enough, serves the next one.
    const held = K.pqGroupSession!(x, 8, 2, perm)!;
    const grow = WebAssembly.Memory.prototype.grow;
    WebAssembly.Memory.prototype.grow = function refuse(): number { throw new RangeError('WebAssembly.Memory.grow(): refused'); };
    try {
      expect(K.pqGroupSession!(x, 8, 2, perm)).toBeUndefined();
    } finally {
      WebAssembly.Memory.prototype.grow = grow;
    }
    expect(K.pqGroupSession!(x, 8, 2, perm)).toBeDefined();
    held.close();
  });

  it('rejects group bounds of the wrong shape, a bad permutation or 16 codes, stating expected and actual', () => {
    const K = loadKernelsSync({ build: 'simd' });
    const n = 10, d = 8, m = 2;
    const x = blobs(n, d, 2, 1), cb = blobs(m * 256, 4, 2, 2);
    const perm = Int32Array.from({ length: m * 256 }, (_, p) => p % 256);
    const base = { assign: new Int32Array(n * m).fill(-1), lower: new Float32Array(n * m), drift: new Float64Array(3 * m) };
    const groups = mkGroups(n, m, perm);
    expect(() => K.pqAssignAccumulateBounded(x, d, cb, m, 256, acc(m * 256, 4), { ...base, groups: { ...groups, lower: new Uint16Array(5) } }))
      .toThrow(/bounds\.groups\.lower length \(Uint16Array\): expected n·m·16 = 320, got 5/);
    expect(() => ref.pqAssignAccumulateBounded(x, d, cb, m, 256, acc(m * 256, 4), { ...base, groups: { ...groups, drift: new Float64Array(3) } }))
      .toThrow(/bounds\.groups\.drift length.*expected m·16 = 32, got 3/);
    const dup = perm.slice(); dup[300] = 3;
    expect(() => K.pqAssignAccumulateBounded(x, d, cb, m, 256, acc(m * 256, 4), { ...base, groups: { ...groups, perm: dup } }))
      .toThrow(/bounds\.groups\.perm\[300\]: expected a permutation of 0\.\.255 per sub-space, got 3/);
    expect(() => K.pqAssignAccumulateBounded(x, d, cb.subarray(0, m * 16 * 4), m, 16, acc(m * 16, 4), { ...base, groups }))
      .toThrow(/ksub with bounds\.groups: expected 256, got 16/);
  });
});

async function both(data: Float32Array, dim: number, opts: TrainPqOptions, executor?: () => KmeansExecutor): Promise<void> {
  const on = await trainPq(data, dim, { ...opts, bounds: true, ...(executor ? { executor: executor() } : {}) });
  const off = await trainPq(data, dim, { ...opts, bounds: false, ...(executor ? { executor: executor() } : {}) });
  expect(bits(on.codebook)).toEqual(bits(off.codebook));
}

describe('trainPq with bounds: bit-identical to brute force', () => {
  // Bounds from the first iteration (the largest drifts), not from the Lloyd loop's start policy.
  beforeAll(() => { boundsPolicy.always = true; });
  afterAll(() => { boundsPolicy.always = false; });
  afterEach(() => { pqBoundsDebug.zeroMargin = false; pqGroupPolicy.maxBytes = 256 * 2 ** 20; pqGroupPolicy.sessionBytes = 2 ** 30; });

  const modes = { session: 'group bounds in a session for 256 codes', stateless: 'group bounds copied per step', perPair: 'one bound per pair' };
  for (const [build, mode] of [['auto', 'session'], ['scalar', 'session'], ['reference', 'stateless'], ['auto', 'stateless'], ['auto', 'perPair'],
    ['scalar', 'perPair']] as const) {
    it(`blobs, several seeds, ds = 8 and odd ds, ksub 16 and 256 (${build}, ${modes[mode]})`, async () => {
      const base = await loadKernels({ build });
      if (mode === 'perPair') pqGroupPolicy.maxBytes = 0;
      if (mode === 'stateless') pqGroupPolicy.sessionBytes = 0;
      let sessions = 0;
      const kernels: Kernels = base.pqGroupSession
        ? { ...base, pqGroupSession: (...a: Parameters<NonNullable<Kernels['pqGroupSession']>>) => { const r = base.pqGroupSession!(...a); if (r) sessions++; return r; } }
        : base;
      const n = build === 'reference' ? 600 : 1500;
      for (const [dim, m, bits_, seed] of [[32, 4, 8, 1], [21, 3, 8, 2], [32, 4, 4, 3], [14, 2, 4, 4], [16, 2, 8, 5], [15, 3, 8, 6]] as const) {
        await both(blobs(n, dim, 20, seed), dim, { numSubVectors: m, numBits: bits_, maxIters: 12, tolerance: 0, seed, kernels });
      }
      expect(sessions > 0).toBe(mode === 'session');
    });
  }

  it('default tolerance (sub-spaces freeze) and ties (integer data)', async () => {
    const kernels = await loadKernels();
    for (const seed of [6, 7]) {
      await both(blobs(2000, 16, 30, seed), 16, { numSubVectors: 2, maxIters: 30, seed, kernels });
      await both(integers(2000, 14, seed), 14, { numSubVectors: 2, numBits: 4, maxIters: 15, tolerance: 0, seed, kernels });
      await both(integers(2000, 16, seed), 16, { numSubVectors: 2, maxIters: 15, tolerance: 0, seed, kernels });
    }
  });

  it('large offset (rounding dominates the distances)', async () => {
    const kernels = await loadKernels();
    for (const seed of [1, 2]) {
      await both(blobs(2000, 16, 10, seed, 1, 1000), 16, { numSubVectors: 2, maxIters: 15, tolerance: 0, seed, kernels });
      await both(blobs(2000, 16, 10, seed, 0.2, 100), 16, { numSubVectors: 2, maxIters: 15, tolerance: 0, seed, kernels });
      await both(blobs(1500, 16, 10, seed, 0.05, 3000), 16, { numSubVectors: 2, maxIters: 15, tolerance: 0, seed, kernels });
      await both(blobs(1500, 14, 10, seed, 0.05, 3000), 14, { numSubVectors: 2, numBits: 4, maxIters: 15, tolerance: 0, seed, kernels });
    }
  });

  it('NaN rows in the executor (pairs without a code), sharded with per-shard scratch, pairs actually skipped', async () => {
    for (const build of ['auto', 'scalar'] as const) {
      const kernels = await loadKernels({ build });
      for (const [dim, m, nb] of [[32, 4, 8], [10, 2, 4]] as const) {
        const data = withNaN(blobs(3000, dim, 25, 10 + dim), dim, 41);
        const log: number[] = [];
        const opts: TrainPqOptions = { numSubVectors: m, numBits: nb, maxIters: 15, tolerance: 0, seed: 3, kernels };
        const on = await trainPq(data, dim, { ...opts, bounds: true, executor: shardedExecutor(data, dim, 3, kernels, log) });
        const off = await trainPq(data, dim, { ...opts, bounds: false, executor: localExecutor(data, dim, kernels) });
        expect(bits(on.codebook)).toEqual(bits(off.codebook));
        expect(log[0]).toBe(0);
        expect(Math.max(...log)).toBeGreaterThan(3000 * m * 0.3);
      }
    }
  });

  it('relaxed build: bounds are not used (results as without them)', async () => {
    if (!isBuildSupported('relaxed')) return;
    const kernels = await loadKernels({ build: 'relaxed' });
    const data = blobs(1000, 16, 10, 12);
    const scratch: StatsScratch = {};
    const cb = data.slice(0, 2 * 256 * 8);
    kmeansPartialStats(data, 16, cb, { iteration: 1, shift: 10, lossShift: 10, metric: 'l2', pq: { m: 2, ksub: 256 }, bounds: true }, kernels, scratch);
    expect(scratch.skipped).toBe(0);
  });

  it('mutation check (one bound per pair): without the rounding margins some result differs', async () => {
    const kernels = await loadKernels();
    pqBoundsDebug.zeroMargin = true;
    pqGroupPolicy.maxBytes = 0;
    let differs = false;
    for (const [seed, noise, offset] of [[1, 1, 1000], [2, 0.2, 100]] as const) {
      const data = blobs(2000, 16, 10, seed, noise, offset);
      const opts: TrainPqOptions = { numSubVectors: 2, maxIters: 15, tolerance: 0, seed, kernels };
      const on = await trainPq(data, 16, { ...opts, bounds: true });
      const off = await trainPq(data, 16, { ...opts, bounds: false });
      if (!bits(on.codebook).every((v, i) => v === bits(off.codebook)[i])) differs = true;
    }
    expect(differs).toBe(true);
  });
});
