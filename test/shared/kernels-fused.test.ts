import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/util/rng.js';
import { sumShift } from '../../src/util/fixed.js';
import { isBuildSupported, loadKernels, loadKernelsSync } from '../../src/kernels/index.js';
import type { Accumulators, Kernels } from '../../src/kernels/index.js';

// The fused map-step kernels (assignAccumulate, pqAssignAccumulate), the fast paths they use (SIMD
// fixed-point accumulation, the 256-code PQ filter with exact candidates) and their edge cases,
// every wasm build against the plain-TS reference, bit for bit.

const ref = loadKernelsSync({ build: 'reference' });
const builds = (['simd', 'scalar', 'dot8', 'relaxed'] as const).filter((b) => (b !== 'relaxed' && b !== 'dot8') || isBuildSupported(b));

function rand(seed: number, len: number, scale = 3, ints = false): Float32Array {
  const rng = createRng(seed, 7);
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = ints ? rng.int(5) - 2 : (rng.next() * 2 - 1) * scale;
  return a;
}

function same(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>, what: string): void {
  expect(a.length, `${what} length`).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) expect(`${what}[${i}] = ${String(a[i])}`).toBe(`${what}[${i}] = ${String(b[i])}`);
  }
}

function acc(k: number, dim: number, shift: number, lossShift: number): Accumulators {
  return { shift, lossShift, sums: new BigInt64Array(k * dim), counts: new Float64Array(k), clusterLoss: new BigInt64Array(k),
    radius: new Float32Array(k).fill(-Infinity) };
}

function sameAcc(a: Accumulators, b: Accumulators, what: string): void {
  same(a.sums, b.sums, `${what} sums`); same(a.counts, b.counts, `${what} counts`);
  same(a.clusterLoss, b.clusterLoss, `${what} loss`); same(a.radius, b.radius, `${what} radius`);
}

describe.each(builds)('fused kernels, %s build', (build) => {
  const exactPq16 = build !== 'relaxed';
  for (const bb of [undefined, 512]) {
    describe(bb ? 'small blocks' : 'default blocks', () => {
      let K: Kernels;
      it('loads', async () => { K = await loadKernels({ build, blockBytes: bb }); });

      it.each([{ n: 1, d: 1, k: 1 }, { n: 37, d: 5, k: 9 }, { n: 130, d: 16, k: 40 }, { n: 61, d: 131, k: 12 }])(
        'assignAccumulate = assign + accumulate n=$n d=$d k=$k', ({ n, d, k }) => {
          const x = rand(n + d, n * d), c = rand(k * 3 + d, k * d), bias = rand(k, k, 0.5).map(Math.abs);
          if (n > 3) x[3 * d + (d >> 1)] = NaN;
          const shift = sumShift(3, n), ls = sumShift(d * 36 * 1.01 + 1, n);
          for (const opts of [{}, { metric: 'dot' as const }, { bias }]) {
            if (build === 'relaxed') continue; // assign itself differs within rounding there (FMA)
            const r = ref.assign(x, d, c, opts);
            const a = acc(k, d, shift, ls), b = acc(k, d, shift, ls);
            ref.accumulate(x, d, r.index, r.dist, a);
            const outIndex = new Int32Array(n), outDist = new Float32Array(n);
            K.assignAccumulate(x, d, c, b, { ...opts, outIndex, outDist });
            sameAcc(b, a, 'fused');
            same(outIndex, r.index, 'index'); same(outDist, r.dist, 'dist');
            const rr = acc(k, d, shift, ls);
            ref.assignAccumulate(x, d, c, rr, opts);
            sameAcc(rr, a, 'reference fused');
            // Accumulates on top of what is there (two shards into one accumulator, any order).
            const h = n >> 1, p = acc(k, d, shift, ls);
            K.assignAccumulate(x.subarray(h * d), d, c, p, opts);
            K.assignAccumulate(x.subarray(0, h * d), d, c, p, opts);
            sameAcc(p, a, 'sharded');
          }
        });

      it.each([{ d: 16, m: 2, ksub: 256 }, { d: 98, m: 2, ksub: 256 }, { d: 24, m: 3, ksub: 16 }, { d: 12, m: 4, ksub: 256 }])(
        'pqAssignAccumulate = pqAssign + accumulate d=$d m=$m ksub=$ksub', ({ d, m, ksub }) => {
          const n = 71, ds = d / m;
          const x = rand(d + 1, n * d), cb = rand(d + 2, ksub * d);
          x[5 * d + 1] = NaN;
          const shift = sumShift(3, n), ls = sumShift(ds * 36 * 1.01 + 1, n);
          const r = ref.pqAssign(x, d, cb, m, ksub);
          const gi = r.index.map((c, p) => (c < 0 ? c : c + (p % m) * ksub));
          const a = acc(m * ksub, ds, shift, ls), b = acc(m * ksub, ds, shift, ls), rr = acc(m * ksub, ds, shift, ls);
          ref.accumulate(x, ds, gi, r.dist, a);
          ref.pqAssignAccumulate(x, d, cb, m, ksub, rr);
          sameAcc(rr, a, 'reference fused');
          if (!exactPq16 && ksub === 16) return;
          const outIndex = new Int32Array(n * m), outDist = new Float32Array(n * m);
          K.pqAssignAccumulate(x, d, cb, m, ksub, b, { outIndex, outDist });
          sameAcc(b, a, 'fused');
          same(outIndex, r.index, 'index'); same(outDist, r.dist, 'dist');
        });

      it('rejects accumulators of the wrong shape', () => {
        const x = rand(1, 8 * 4), c = rand(2, 3 * 4);
        expect(() => K.assignAccumulate(x, 4, c, acc(2, 4, 0, 0))).toThrow(/acc\.counts: expected Float64Array\(3\), got Float64Array\(2\)/);
        expect(() => K.pqAssignAccumulate(x, 4, rand(3, 16 * 4), 2, 16, acc(32, 4, 0, 0))).toThrow(/acc\.sums: expected BigInt64Array\(64\), got BigInt64Array\(128\)/);
        expect(() => K.assignAccumulate(x, 4, c, { ...acc(3, 4, 0, 0), radius: new Float64Array(3) } as unknown as Accumulators))
          .toThrow(/acc\.radius: expected Float32Array\(3\), got Float64Array\(3\)/);
      });
    });
  }

  it('256-code PQ filter: near-ties, exact ties, huge, tiny and non-finite values match the reference', async () => {
    const K = await loadKernels({ build });
    const cases: { name: string; x: Float32Array; cb: Float32Array; d: number; m: number }[] = [];
    const d = 16, m = 2, ds = 8, n = 64;
    // Integer grids: many exact ties between codes.
    cases.push({ name: 'integer ties', x: rand(11, n * d, 0, true), cb: rand(12, 256 * d, 0, true), d, m });
    // Codes one ulp apart around each row: near-ties far below the filter margin.
    {
      const x = rand(13, n * d, 100), cb = new Float32Array(256 * d);
      for (let s = 0; s < m; s++) for (let c = 0; c < 256; c++) for (let j = 0; j < ds; j++) {
        const v = x[(c % n) * d + s * ds + j]!;
        const u = new Float32Array([v]), bits = new Int32Array(u.buffer);
        bits[0] = bits[0]! + ((c >> 6) - 2);
        cb[(s * 256 + c) * ds + j] = u[0]!;
      }
      cases.push({ name: 'one-ulp neighbours', x, cb, d, m });
    }
    // Large offsets: ‖x‖² ≫ distances, so the filter values lose the differences and many codes are candidates.
    { const x = rand(14, n * d, 1), cb = rand(15, 256 * d, 1); for (let i = 0; i < x.length; i++) x[i] = x[i]! + 3000; for (let i = 0; i < cb.length; i++) cb[i] = cb[i]! + 3000; cases.push({ name: 'large offset', x, cb, d, m }); }
    cases.push({ name: 'huge (exact fallback)', x: rand(16, n * d, 1e16), cb: rand(17, 256 * d, 1e16), d, m });
    cases.push({ name: 'subnormal', x: rand(18, n * d, 1e-39), cb: rand(19, 256 * d, 1e-39), d, m });
    { const x = rand(20, n * d), cb = rand(21, 256 * d); x[9] = Infinity; x[d * 7 + 3] = NaN; cb[5] = Infinity; cb[256 * ds + 17] = NaN; cases.push({ name: 'non-finite', x, cb, d, m }); }
    // ds = 49 (MNIST 784 / 16) and an odd ds.
    cases.push({ name: 'ds 49', x: rand(22, 9 * 98, 2, true), cb: rand(23, 256 * 98, 2, true), d: 98, m: 2 });
    cases.push({ name: 'ds 7', x: rand(24, 33 * 21), cb: rand(25, 256 * 21), d: 21, m: 3 });
    for (const c of cases) {
      const r = ref.pqAssign(c.x, c.d, c.cb, c.m, 256), w = K.pqAssign(c.x, c.d, c.cb, c.m, 256);
      same(w.index, r.index, `${c.name} index`); same(w.dist, r.dist, `${c.name} dist`);
    }
  });

  it('fixed-point accumulation: halves round to even, −0, the 2^51 fast-path edge and saturation', async () => {
    const K = await loadKernels({ build });
    const d = 6, rows: number[][] = [];
    // With shift 1, v·2 has fraction .5 for v = k/2 + 1/4.
    rows.push([0.25, 0.75, -0.25, -0.75, 1.25, -1.25], [-0, 0, 2.75, -2.75, 1e-30, -1e-30]);
    const x1 = new Float32Array(rows.flat());
    const index = new Int32Array([0, 1]), dist = new Float32Array([0.25, 0.75]);
    for (const shift of [1, 0, 3, 49, 50, 51, 52, 60, 200, -2]) {
      const a = acc(2, d, shift, shift), b = acc(2, d, shift, shift);
      ref.accumulate(x1, d, index, dist, a); K.accumulate(x1, d, index, dist, b);
      sameAcc(b, a, `shift ${shift}`);
    }
    // Values around 2^51 after scaling (shift 0): just below, at, and above the fast-path limit.
    const big = new Float32Array([2 ** 51 - 2 ** 27, 2 ** 51, -(2 ** 51), 2 ** 52, 3.5, -2.5, 2 ** 50 + 2 ** 26, 1]);
    const a = acc(1, 4, 0, 0), b = acc(1, 4, 0, 0);
    ref.accumulate(big, 4, new Int32Array(2), new Float32Array(2), a); K.accumulate(big, 4, new Int32Array(2), new Float32Array(2), b);
    sameAcc(b, a, 'around 2^51');
    // Random rows at many shifts, NaN values included (NaN → 0 in the sums).
    const n = 50, dd = 13, k = 4;
    const x = rand(31, n * dd, 1000);
    x[17] = NaN; x[dd * 9] = Infinity;
    const idx = new Int32Array(n).map((_, i) => (i * 7) % k), dd2 = rand(32, n, 10).map(Math.abs);
    for (const shift of [-5, 0, 20, 40, 41, 42, 52]) {
      const p = acc(k, dd, shift, 20), q = acc(k, dd, shift, 20);
      ref.accumulate(x, dd, idx, dd2, p); K.accumulate(x, dd, idx, dd2, q);
      sameAcc(q, p, `random shift ${shift}`);
    }
  });
});
