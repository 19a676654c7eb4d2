import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/util/rng.js';
import { fromFixed, sumShift } from '../../src/util/fixed.js';
import { createWasmKernels, DEFAULT_BLOCK_BYTES, getWasmModule, isBuildSupported, loadKernels, loadKernelsSync, resolveBuild } from '../../src/kernels/index.js';
import type { Accumulators, Kernels } from '../../src/kernels/index.js';

// Every wasm build against the plain-TS reference. The SIMD and scalar builds follow the reference's
// f32 operation order, so they must match it bit for bit; the relaxed build fuses multiply-adds in
// assign/pqAssign and is compared with a tolerance there.

const ref = loadKernelsSync({ build: 'reference' });
const builds = (['simd', 'scalar', 'dot8', 'relaxed'] as const).filter((b) => (b !== 'relaxed' && b !== 'dot8') || isBuildSupported(b));
const TINY = 256; // bytes per block: forces many blocks (chunk boundaries) on small inputs

function randn(seed: number, len: number, opts: { ints?: boolean; nanRows?: number[]; dim?: number } = {}): Float32Array {
  const rng = createRng(seed, 99);
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = opts.ints ? rng.int(5) - 2 : (rng.next() * 2 - 1) * 3;
  for (const r of opts.nanRows ?? []) if ((r + 1) * opts.dim! <= len) a[r * opts.dim! + rng.int(opts.dim!)] = NaN;
  return a;
}

function same(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>, what: string): void {
  expect(a.length, `${what} length`).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) expect(`${what}[${i}] = ${String(a[i])}`).toBe(`${what}[${i}] = ${String(b[i])}`);
  }
}

/** Exact squared distance in f64, the ground truth for the relaxed build and for the oracle itself. */
function l2f64(x: Float32Array, xo: number, c: Float32Array, co: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += (x[xo + j]! - c[co + j]!) ** 2;
  return s;
}

const shapes = [
  { n: 0, d: 5, k: 3 }, { n: 1, d: 1, k: 1 }, { n: 7, d: 1, k: 5 }, { n: 33, d: 3, k: 9 }, { n: 50, d: 4, k: 8 },
  { n: 41, d: 5, k: 1 }, { n: 64, d: 17, k: 33 }, { n: 29, d: 128, k: 16 }, { n: 200, d: 6, k: 300 },
];

describe.each(builds)('kernels %s build', (build) => {
  const exact = build !== 'relaxed';
  const variants = [{ name: 'default blocks', bb: undefined }, { name: 'tiny blocks', bb: TINY }];

  describe.each(variants)('$name', ({ bb }) => {
    let K: Kernels;
    it('loads', async () => {
      K = await loadKernels({ build, blockBytes: bb });
      expect(K.build).toBe(build);
      expect(loadKernelsSync({ build, blockBytes: bb })).toBe(K);
    });

    it.each(shapes)('assign n=$n d=$d k=$k (l2, dot, bias, NaN rows)', ({ n, d, k }) => {
      const x = randn(n * 31 + d, n * d, { nanRows: [0, 5, n - 1], dim: d });
      const c = randn(k * 7 + d, k * d);
      const bias = randn(k + 1, k);
      for (const opts of [{}, { metric: 'dot' as const }, { bias }, { metric: 'dot' as const, bias }]) {
        const r = ref.assign(x, d, c, opts);
        const w = K.assign(x, d, c, opts);
        if (exact) { same(w.index, r.index, 'index'); same(w.dist, r.dist, 'dist'); continue; }
        for (let i = 0; i < n; i++) {
          if (r.index[i] === -1) { expect(w.index[i]).toBe(-1); expect(w.dist[i]).toBeNaN(); continue; }
          expect(Math.abs(w.dist[i]! - r.dist[i]!)).toBeLessThan(1e-3 * (1 + Math.abs(r.dist[i]!)));
          if (w.index[i] !== r.index[i]) {
            const sel = (j: number) => (opts.metric === 'dot' ? 0 : l2f64(x, i * d, c, j * d, d)) + ('bias' in opts ? bias[j]! : 0);
            if (opts.metric !== 'dot') expect(Math.abs(sel(w.index[i]!) - sel(r.index[i]!))).toBeLessThan(1e-3 * (1 + sel(r.index[i]!)));
          }
        }
      }
    });

    it('assign: ties go to the lowest index, duplicate centroids, integer data', () => {
      const d = 6, n = 300, k = 40;
      const x = randn(3, n * d, { ints: true });
      const c = randn(4, k * d, { ints: true });
      c.copyWithin(10 * d, 2 * d, 3 * d); // centroid 10 = centroid 2
      const r = ref.assign(x, d, c), w = K.assign(x, d, c);
      same(w.index, r.index, 'index'); // integers: exact in every build
      for (let i = 0; i < n; i++) {
        expect(w.index[i]).not.toBe(10);
        let best = Infinity, bi = -1;
        for (let j = 0; j < k; j++) { const v = l2f64(x, i * d, c, j * d, d); if (v < best) { best = v; bi = j; } }
        expect(w.index[i]).toBe(bi);
        expect(w.dist[i]).toBe(best);
      }
    });

    it('assign: outputs passed in are filled, a NaN-only row gives -1', () => {
      const d = 3, x = new Float32Array([NaN, NaN, NaN, 1, 2, 3]), c = new Float32Array([1, 2, 3, 0, 0, 0]);
      const outIndex = new Int32Array(2), outDist = new Float32Array(2);
      const r = K.assign(x, d, c, { outIndex, outDist });
      expect(r.index).toBe(outIndex);
      expect([...outIndex]).toEqual([-1, 0]);
      expect(outDist[0]).toBeNaN();
      expect(outDist[1]).toBe(0);
    });

    it('assign: dimension errors are IvfkitError', () => {
      expect(() => K.assign(new Float32Array(5), 2, new Float32Array(4))).toThrow(/multiple of dim 2/);
      expect(() => K.assign(new Float32Array(4), 2, new Float32Array(4), { bias: new Float32Array(3) })).toThrow(/bias length/);
    });

    it.each([1, 3, 4, 7, 128])('l2Many, dotMany, sqNorms, normalize, finiteMask d=%i', (d) => {
      const n = 77;
      const x = randn(d, n * d, { nanRows: [3], dim: d });
      x.fill(0, 10 * d, 11 * d); // zero row → NaN row after normalize
      x[20 * d] = Infinity;
      const q = randn(d + 5, d);
      same(K.l2Many(q, x, d), ref.l2Many(q, x, d), 'l2Many');
      same(K.dotMany(q, x, d), ref.dotMany(q, x, d), 'dotMany');
      same(K.sqNorms(x, d), ref.sqNorms(x, d), 'sqNorms');
      const nw = K.normalize(x, d), nr = ref.normalize(x, d);
      same(nw, nr, 'normalize');
      for (let j = 0; j < d; j++) expect(nw[10 * d + j]).toBeNaN();
      // Tiny rows (‖x‖² under f32's range) and huge ones (‖x‖² past it) keep their direction: the bits of the row at scale 1;
      // subnormal values, and a row whose largest value is subnormal, too.
      const row = randn(d + 9, 8 * d).map((v, i) => (i % d === 0 ? 1.5 : v));     // largest |value| 1.5 in each row
      const scales = [2 ** -80, 2 ** -120, 2 ** 70, 2 ** 126, 2 ** -60, 1];
      const scaled = new Float32Array(scales.length * d);
      scales.forEach((sc, r) => { for (let j = 0; j < d; j++) scaled[r * d + j] = row[j]! * sc; });
      const ns = K.normalize(scaled, d);
      same(ns, ref.normalize(scaled, d), 'normalize tiny / huge');
      for (let r = 0; r < scales.length; r++) same(ns.subarray(r * d, r * d + d), ns.subarray((scales.length - 1) * d, scales.length * d), `scale ${scales[r]}`);
      const sub = Float32Array.from({ length: d }, (_, j) => (j === 0 ? 2 ** -140 : 2 ** -146));
      const nsub = K.normalize(sub, d);
      same(nsub, ref.normalize(sub, d), 'normalize subnormal');
      expect(nsub.every(Number.isFinite)).toBe(true);
      const fm = K.finiteMask(x, d), fr = ref.finiteMask(x, d);
      same(fm.mask, fr.mask, 'mask');
      expect(fm.count).toBe(fr.count);
      expect(fm.mask[3]).toBe(0); expect(fm.mask[20]).toBe(0); expect(fm.mask[10]).toBe(1);
      const l2 = K.l2Many(q, x, d);
      for (let i = 30; i < 40; i++) expect(l2[i]).toBeCloseTo(l2f64(q, 0, x, i * d, d), 3);
      // Several queries: query-major, each row the one-query call's bits.
      const qs = randn(d + 6, 5 * d);
      for (const fn of ['l2Many', 'dotMany'] as const) {
        const many = K[fn](qs, x, d);
        expect(many.length).toBe(5 * n);
        same(many, ref[fn](qs, x, d), `${fn} × 5 queries`);
        for (let j = 0; j < 5; j++) same(many.subarray(j * n, j * n + n), K[fn](qs.subarray(j * d, j * d + d), x, d), `${fn} query ${j}`);
      }
      if (d > 1) expect(() => K.l2Many(new Float32Array(d + 1), x, d)).toThrow(/q length: expected dim \d+ or a multiple of it, got \d+/);
    });

    it('l2Many with many queries over many rows: blocks of rows and of queries give the one-query bits', () => {
      const d = 24, n = 3000, nq = 700;                       // several row blocks of 256 KiB and query blocks
      const x = randn(31, n * d), qs = randn(32, nq * d);
      const many = K.l2Many(qs, x, d);
      for (const j of [0, 1, 349, 699]) same(many.subarray(j * n, j * n + n), ref.l2Many(qs.subarray(j * d, j * d + d), x, d), `query ${j}`);
    });

    it('maxAbs: the largest |x| over finite values, any length, NaN and ±Inf ignored', () => {
      for (const n of [0, 1, 3, 7, 8, 9, 15, 16, 17, 1000, 70001]) {
        const x = randn(n + 11, n);
        for (let i = 0; i < n; i += 13) x[i] = [NaN, Infinity, -Infinity][i % 3]!;
        if (n > 5) x[n - 2] = -(4 + n);
        const want = ref.maxAbs(x);
        expect(K.maxAbs(x), `n = ${n}`).toBe(want);
        if (n > 5) expect(want).toBe(Math.fround(4 + n));
      }
      expect(K.maxAbs(Float32Array.from([NaN, -Infinity, Infinity]))).toBe(0);
      expect(K.maxAbs(Float32Array.from([-0, 1e-40, -3e-41]))).toBe(Math.fround(1e-40));
      expect(K.maxAbs(Float32Array.from([-3.5, 2, NaN, 1, 1, 1, 1, 1, 1, 1, 1, 3.25]))).toBe(3.5);
      expect(() => K.maxAbs([1, 2] as unknown as Float32Array)).toThrow(/data: expected a Float32Array/);
    });

    it.each([{ d: 1, k: 1 }, { d: 5, k: 7 }, { d: 16, k: 64 }])('accumulate is bit-identical and order-free d=$d k=$k', ({ d, k }) => {
      const n = 257;
      const x = randn(d * 13, n * d, { nanRows: [4, 100], dim: d });
      const c = randn(d * 17, k * d);
      const { index, dist } = ref.assign(x, d, c);
      index[7] = -1;
      const shift = sumShift(3, n), lossShift = sumShift(d * 36 * 1.01 + 1, n);
      const mk = (): Accumulators => ({ shift, lossShift, sums: new BigInt64Array(k * d), counts: new Float64Array(k),
        clusterLoss: new BigInt64Array(k), radius: new Float32Array(k) });
      const a = mk(), b = mk(), parts = mk();
      ref.accumulate(x, d, index, dist, a);
      K.accumulate(x, d, index, dist, b);
      same(b.sums, a.sums, 'sums'); same(b.counts, a.counts, 'counts'); same(b.clusterLoss, a.clusterLoss, 'loss'); same(b.radius, a.radius, 'radius');
      // Two shards accumulated in the other order into the same accumulators give the same bits.
      const h = 120;
      K.accumulate(x.subarray(h * d), d, index.subarray(h), dist.subarray(h), parts);
      K.accumulate(x.subarray(0, h * d), d, index.subarray(0, h), dist.subarray(0, h), parts);
      same(parts.sums, a.sums, 'sharded sums'); same(parts.clusterLoss, a.clusterLoss, 'sharded loss');
      // The fixed-point sums are the real sums.
      for (let cl = 0; cl < k; cl++) {
        let s = 0, cnt = 0;
        for (let i = 0; i < n; i++) if (index[i] === cl) { s += x[i * d]!; cnt++; }
        expect(b.counts[cl]).toBe(cnt);
        expect(fromFixed(b.sums[cl * d]!, shift)).toBeCloseTo(s, 6);
      }
    });

    it('accumulate saturates like the reference and rejects out-of-range indices', () => {
      const x = new Float32Array([1, -1, 0.5, 2.5]), index = new Int32Array([0, 0, 1, 1]), dist = new Float32Array([1, 2, 3, 4]);
      for (const shift of [1000, 0, -1, -1000]) {
        const mk = (): Accumulators => ({ shift, lossShift: shift, sums: new BigInt64Array(2), counts: new Float64Array(2),
          clusterLoss: new BigInt64Array(2), radius: new Float32Array(2) });
        const a = mk(), b = mk();
        ref.accumulate(x, 1, index, dist, a); K.accumulate(x, 1, index, dist, b);
        same(b.sums, a.sums, `sums shift ${shift}`); same(b.clusterLoss, a.clusterLoss, `loss shift ${shift}`);
      }
      const acc: Accumulators = { shift: 0, lossShift: 0, sums: new BigInt64Array(2), counts: new Float64Array(2),
        clusterLoss: new BigInt64Array(2), radius: new Float32Array(2) };
      expect(() => K.accumulate(x, 1, new Int32Array([0, 2, 0, 0]), dist, acc)).toThrow(/index\[1\]: expected < 2, got 2/);
      // ties to even: 0.5 → 0, 2.5 → 2 at shift 0
      K.accumulate(x, 1, index, dist, acc);
      expect(acc.sums[1]).toBe(2n);
    });

    it.each([
      { d: 8, m: 8, ksub: 16 }, { d: 8, m: 4, ksub: 256 }, { d: 12, m: 4, ksub: 16 }, { d: 16, m: 4, ksub: 256 },
      { d: 32, m: 2, ksub: 16 }, { d: 20, m: 4, ksub: 256 }, { d: 6, m: 6, ksub: 16 }, { d: 32, m: 4, ksub: 256 },
    ])('pqAssign and pqEncode d=$d m=$m ksub=$ksub', ({ d, m, ksub }) => {
      const n = 45;
      const x = randn(d * m + ksub, n * d, { nanRows: [44], dim: d });
      x[2 * d] = NaN;
      const cb = randn(d + ksub, ksub * d);
      const r = ref.pqAssign(x, d, cb, m, ksub), w = K.pqAssign(x, d, cb, m, ksub);
      const ds = d / m;
      if (exact) { same(w.index, r.index, 'pq index'); same(w.dist, r.dist, 'pq dist'); }
      else {
        for (let p = 0; p < n * m; p++) {
          if (r.index[p] === -1) { expect(w.index[p]).toBe(-1); continue; }
          const i = Math.floor(p / m), s = p % m;
          const dd = (c: number) => l2f64(x, i * d + s * ds, cb, (s * ksub + c) * ds, ds);
          expect(Math.abs(dd(w.index[p]!) - dd(r.index[p]!))).toBeLessThan(1e-4 * (1 + dd(r.index[p]!)));
        }
      }
      for (let p = 0; p < n * m; p++) {
        if (r.index[p] === -1) continue;
        const i = Math.floor(p / m), s = p % m;
        expect(r.dist[p]).toBeCloseTo(l2f64(x, i * d + s * ds, cb, (s * ksub + r.index[p]!) * ds, ds), 3);
      }
      const nbits = ksub === 16 ? 4 : 8;
      if (nbits === 4 && m % 2) return;
      const ew = K.pqEncode(x, d, cb, m, nbits), er = ref.pqEncode(x, d, cb, m, nbits);
      if (exact) same(ew, er, 'codes');
      const code = (e: Uint8Array, p: number) => (nbits === 8 ? e[p]! : (e[p >> 1]! >> (p & 1 ? 4 : 0)) & 15);
      for (let p = 0; p < n * m; p++) expect(code(er, p)).toBe(Math.max(0, r.index[p]!));
      expect(r.index[2 * m]).toBe(-1);
      expect(code(ew, 2 * m)).toBe(0); // NaN sub-vector → code 0
    });

    it('empty inputs give empty outputs', () => {
      const e = new Float32Array(0);
      expect(K.pqAssign(e, 8, randn(1, 16 * 8), 4, 16).index.length).toBe(0);
      expect(K.pqEncode(e, 8, randn(1, 16 * 8), 4, 4).length).toBe(0);
      expect(K.l2Many(randn(2, 3), e, 3).length).toBe(0);
      expect(K.finiteMask(e, 3)).toEqual({ mask: new Uint8Array(0), count: 0 });
      expect(K.sqEncode(e, 0, 1).length).toBe(0);
      const acc: Accumulators = { shift: 0, lossShift: 0, sums: new BigInt64Array(3), counts: new Float64Array(1),
        clusterLoss: new BigInt64Array(1), radius: new Float32Array(1) };
      K.accumulate(e, 3, new Int32Array(0), e, acc);
      expect(acc.counts[0]).toBe(0);
    });

    it('pqAssign ties: identical codes keep the lowest one', () => {
      const d = 8, m = 2, ksub = 16;
      const cb = randn(5, ksub * d, { ints: true });
      cb.copyWithin(9 * 4, 3 * 4, 4 * 4); // sub-space 0: code 9 = code 3
      const x = new Float32Array(cb.subarray(3 * 4, 4 * 4).length * 2);
      x.set(cb.subarray(3 * 4, 4 * 4)); x.set(cb.subarray((ksub + 5) * 4, (ksub + 6) * 4), 4);
      const w = K.pqAssign(x, d, cb, m, ksub);
      expect(w.index[0]).toBe(3);
      expect(w.dist[0]).toBe(0);
      expect(w.dist[1]).toBe(0);
      expect(w.index[1]).toBe(ref.pqAssign(x, d, cb, m, ksub).index[1]);
    });

    it('sqBounds and sqEncode (Lance cases)', () => {
      const d = 5, n = 60;
      const x = randn(77, n * d, { nanRows: [1, 59], dim: d });
      x[3 * d] = -Infinity; x[4 * d + 2] = 1e9; x[4 * d] = NaN;
      const bw = K.sqBounds(x, d), br = ref.sqBounds(x, d);
      expect(bw).toEqual(br);
      expect(bw.rows).toBe(n - 4);
      expect(K.sqBounds(new Float32Array(0), 3)).toEqual({ lower: Infinity, upper: -Infinity, rows: 0 });
      same(K.sqEncode(x, bw.lower, bw.upper), ref.sqEncode(x, bw.lower, bw.upper), 'sq codes');
      const v = Float32Array.from({ length: 16 }, (_, i) => i);
      expect([...K.sqEncode(v, 0, 15)]).toEqual(v.map((i) => 17 * i).reduce<number[]>((a, b) => [...a, b], []));
      expect([...K.sqEncode(new Float32Array([0, 1, 2, 3, NaN, -1, 9]), 0, 3)]).toEqual([0, 85, 170, 255, 0, 0, 255]);
      expect([...K.sqEncode(new Float32Array([1, 2]), 1, 1)]).toEqual([0, 0]);
    });
  });
});

describe('kernel loading', () => {
  it("'auto' is dot8, else SIMD, where it validates, never relaxed", async () => {
    expect(resolveBuild('auto')).toBe(isBuildSupported('dot8') ? 'dot8' : isBuildSupported('simd') ? 'simd' : 'scalar');
    expect(isBuildSupported('dot8')).toBe(isBuildSupported('relaxed'));
    expect((await loadKernels()).build).toBe(resolveBuild('auto'));
  });

  it('concurrent loads share one instance', async () => {
    const [a, b] = await Promise.all([loadKernels({ build: 'scalar', blockBytes: 4096 }), loadKernels({ build: 'scalar', blockBytes: 4096 })]);
    expect(a).toBe(b);
  });

  it('a compiled module can be instantiated again (as a worker would)', async () => {
    const mod = await getWasmModule('simd');
    expect(mod).toBeInstanceOf(WebAssembly.Module);
    expect(await getWasmModule('simd')).toBe(mod);
    const k = await loadKernels({ build: 'simd', module: mod });
    const x = randn(1, 40 * 4), c = randn(2, 3 * 4);
    same(k.assign(x, 4, c).index, ref.assign(x, 4, c).index, 'index');
  });

  it('inputs larger than the working block are processed in blocks; wasm memory stays small', async () => {
    const d = 64, n = Math.ceil((DEFAULT_BLOCK_BYTES * 1.3) / (d * 4)) + 3, k = 5;
    const x = randn(21, n * d), c = randn(22, k * d);
    const K = await loadKernels({ build: 'simd' });
    same(K.assign(x, d, c).index, ref.assign(x, d, c).index, 'index over 2 default blocks');
    const instance = await WebAssembly.instantiate(await getWasmModule('simd'), {});
    const small = createWasmKernels(instance, 'simd', 64 * 1024);
    same(small.assign(x, d, c).dist, ref.assign(x, d, c).dist, 'dist with 64 KiB blocks');
    same(small.pqEncode(x, d, randn(23, 16 * d), 8, 4), ref.pqEncode(x, d, randn(23, 16 * d), 8, 4), '4-bit codes');
    const rows = x.subarray(0, 3001 * d), cb8 = randn(24, 256 * d);
    same(small.pqAssign(rows, d, cb8, 16, 256).dist, ref.pqAssign(rows, d, cb8, 16, 256).dist, '8-bit pq distances');
    const bytes = (instance.exports.memory as WebAssembly.Memory).buffer.byteLength;
    expect(bytes).toBeLessThan(1024 * 1024);
    expect(x.byteLength).toBeGreaterThan(5 * bytes);
  });

  it('relaxed is refused with a clear error where it does not validate', () => {
    if (isBuildSupported('relaxed')) expect(resolveBuild('relaxed')).toBe('relaxed');
    else expect(() => resolveBuild('relaxed')).toThrow(/WebAssembly.validate/);
  });

  it('the oracle itself agrees with f64 math', () => {
    const d = 9, n = 100, k = 12;
    const x = randn(8, n * d), c = randn(9, k * d);
    const r = ref.assign(x, d, c);
    for (let i = 0; i < n; i++) {
      let best = Infinity;
      for (let j = 0; j < k; j++) best = Math.min(best, l2f64(x, i * d, c, j * d, d));
      expect(l2f64(x, i * d, c, r.index[i]! * d, d)).toBeLessThan(best + 1e-4 * (1 + best));
      expect(r.dist[i]).toBeCloseTo(best, 3);
    }
  });
});
