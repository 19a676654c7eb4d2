import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/util/rng.js';
import { isBuildSupported, loadKernelsSync } from '../../src/kernels/index.js';
import { Q8_MIN_K, Q_FILTER_CALL_MIN_K } from '../../src/kernels/wasm.js';
import { kmeans } from '../../src/train/kmeans.js';

// The 16-bit filter of plain l2 assignment must give assignRows' bits: the same index and distance for
// every row, on data built to sit at the edge of its error bound (exact ties, midpoints, rows on
// centroids, rows of very different scales) and on data it must hand to the f32 kernel (NaN, ±Inf,
// magnitudes whose squares overflow, scales out of range).

const ref = loadKernelsSync({ build: 'reference' });
const builds = (['simd', 'dot8', 'relaxed'] as const).filter((b) => b === 'simd' || isBuildSupported(b));

function gauss(seed: number, len: number, scale = 1): Float32Array {
  const rng = createRng(seed, 7);
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = (rng.next() + rng.next() + rng.next() - 1.5) * 2 * scale;
  return a;
}

type Case = { name: string; n: number; d: number; k: number; make(): { x: Float32Array; c: Float32Array } };

const cases: Case[] = [];
for (const [n, d, k] of [[1, 1, 1], [7, 2, 3], [33, 3, 9], [50, 7, 8], [41, 8, 17], [64, 9, 33], [29, 31, 16], [130, 64, 40],
  [67, 127, 24], [45, 128, 16], [53, 129, 70], [38, 130, 5], [21, 255, 19], [17, 256, 64], [26, 300, 33], [9, 769, 12]] as const) {
  cases.push({ name: `gaussian n=${n} d=${d} k=${k}`, n, d, k, make: () => { const x = gauss(n * 131 + d, n * d); return { x, c: gauss(k * 17 + d, k * d) }; } });
}
// Few dimensions and a fine grid of centroids: distance gaps far below the rounding errors, which Cauchy–Schwarz
// bounds nearly tightly here (an error bound too small picks wrong centroids).
for (const [d, side] of [[2, 12], [3, 5], [4, 4]] as const) {
  const k = side ** d, n = 1500;
  cases.push({
    name: `fine grid d=${d} k=${k}`, n, d, k,
    make: () => {
      const c = new Float32Array(k * d);
      for (let j = 0; j < k; j++) for (let t = 0, r = j; t < d; t++, r = Math.floor(r / side)) c[j * d + t] = (r % side) * 0.01 + t * 0.37;
      const rng = createRng(d * 7 + side, 5);
      const x = new Float32Array(n * d).map((_, t) => (rng.next() * side) * 0.01 + (t % d) * 0.37);
      return { x, c };
    },
  });
}
cases.push({
  name: 'integers: exact ties and duplicate centroids', n: 203, d: 70, k: 40,
  make: () => {
    const rng = createRng(5, 1);
    const x = new Float32Array(203 * 70).map(() => rng.int(3) - 1);
    const c = new Float32Array(40 * 70);
    for (let j = 0; j < 40; j++) c.set(x.subarray((j >> 1) * 70, ((j >> 1) + 1) * 70), j * 70);
    return { x, c };
  },
});
cases.push({
  name: 'rows on centroids and at midpoints of two', n: 120, d: 96, k: 24,
  make: () => {
    const c = gauss(3, 24 * 96);
    const x = new Float32Array(120 * 96);
    for (let i = 0; i < 120; i++) {
      const a = i % 24, b = (i * 7 + 1) % 24;
      for (let j = 0; j < 96; j++) x[i * 96 + j] = i < 48 ? c[a * 96 + j]! : (c[a * 96 + j]! + c[b * 96 + j]!) / 2;
    }
    return { x, c };
  },
});
cases.push({
  name: 'rows of very different scales', n: 90, d: 80, k: 30,
  make: () => {
    const x = gauss(11, 90 * 80);
    for (let i = 0; i < 90; i++) for (let j = 0; j < 80; j++) x[i * 80 + j]! *= 10 ** ((i % 13) - 6);
    return { x, c: x.slice(0, 30 * 80) };
  },
});
cases.push({
  name: 'close centroids (spread 1e-4 around one point)', n: 64, d: 100, k: 32,
  make: () => {
    const base = gauss(2, 100);
    const c = new Float32Array(32 * 100).map((_, t) => base[t % 100]! + 1e-4 * Math.sin(t * 1.7));
    const x = new Float32Array(64 * 100).map((_, t) => base[t % 100]! + 1e-4 * Math.cos(t * 0.3));
    return { x, c };
  },
});
cases.push({
  name: 'NaN and ±Inf rows (the block goes to the f32 kernel)', n: 40, d: 72, k: 20,
  make: () => {
    const x = gauss(4, 40 * 72);
    x[3 * 72 + 5] = NaN; x[10 * 72] = Infinity; x[39 * 72 + 71] = -Infinity;
    return { x, c: gauss(5, 20 * 72) };
  },
});
cases.push({ name: 'huge values (squares overflow f32)', n: 24, d: 66, k: 18, make: () => ({ x: gauss(6, 24 * 66, 1e19), c: gauss(7, 18 * 66, 1e19) }) });
cases.push({ name: 'large values (1e15)', n: 24, d: 66, k: 18, make: () => ({ x: gauss(6, 24 * 66, 1e15), c: gauss(7, 18 * 66, 1e15) }) });
cases.push({ name: 'tiny values (1e-20)', n: 24, d: 66, k: 18, make: () => ({ x: gauss(8, 24 * 66, 1e-20), c: gauss(9, 18 * 66, 1e-20) }) });
cases.push({ name: 'subnormal-range values (1e-38)', n: 24, d: 66, k: 18, make: () => ({ x: gauss(8, 24 * 66, 1e-38), c: gauss(9, 18 * 66, 1e-38) }) });
cases.push({ name: 'zero rows and zero centroids', n: 20, d: 64, k: 16, make: () => ({ x: new Float32Array(20 * 64), c: new Float32Array(16 * 64) }) });
cases.push({
  name: 'a NaN centroid (the call goes to the f32 kernel)', n: 30, d: 64, k: 16,
  make: () => { const c = gauss(10, 16 * 64); c[5 * 64 + 3] = NaN; return { x: gauss(12, 30 * 64), c }; },
});

function same(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  expect(a.length, `${what} length`).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) expect(`${what}[${i}] = ${String(a[i])}`).toBe(`${what}[${i}] = ${String(b[i])}`);
  }
}

describe.each(builds)('16-bit filter, %s build', (build) => {
  // Default blocks keep the estimates for the exact pass; 4 KiB blocks only for k ≤ 16 (others estimate again).
  describe.each([undefined, 4096])('blockBytes %s', (blockBytes) => {
    const on = loadKernelsSync({ build, qFilter: 'on', ...(blockBytes ? { blockBytes } : {}) });
    const off = loadKernelsSync({ build, qFilter: 'off', ...(blockBytes ? { blockBytes } : {}) });

    it.each(cases)('$name: the bits of the f32 kernel (and of the reference)', ({ n, d, k, make }) => {
      const { x, c } = make();
      const a = off.assign(x, d, c);
      const b = on.assign(x, d, c);
      same(b.index, a.index, 'index');
      same(b.dist, a.dist, 'dist');
      if (build !== 'relaxed') {
        const r = ref.assign(x, d, c);
        same(b.index, r.index, 'index vs reference');
        same(b.dist, r.dist, 'dist vs reference');
      }
      // assignAccumulate takes the same path.
      expect(on.filtersPlain(d, k)).toBe(true);
    });
  });

  // Lance's balance term: selection on fl(dist + bias). Biases spread over the distances' scale (they reorder
  // choices), integers on integer data (exact ties of the selection values), and constants so large that the
  // f32 sum rounds neighbouring distances together (or every one to the same value).
  const biasModes = ['spread', 'coarse', 'huge'] as const;
  const biasFor = (mode: (typeof biasModes)[number], name: string, k: number, dist: Float32Array): Float32Array => {
    const fin = Array.from(dist).filter(Number.isFinite).sort((p, q) => p - q);
    const m = fin.length ? fin[fin.length >> 1]! : 1;
    if (mode === 'huge') return new Float32Array(k).fill(1e30);
    if (mode === 'coarse') return Float32Array.from({ length: k }, (_, c) => m * 2 ** 20 * (1 + (c % 3) * 2 ** -22));
    if (name.startsWith('integers')) return Float32Array.from({ length: k }, (_, c) => c % 3);
    return Float32Array.from({ length: k }, (_, c) => (m * ((c * 7) % 5)) / 8);
  };
  const onB = loadKernelsSync({ build, qFilter: 'on' }), offB = loadKernelsSync({ build, qFilter: 'off' });
  it.each(biasModes.flatMap((mode) => cases.map((c) => ({ ...c, mode }))))('$name, bias $mode: the bits of the f32 kernel (and of the reference)', ({ name, n, d, k, make, mode }) => {
    const { x, c } = make();
    const bias = biasFor(mode, name, k, offB.assign(x, d, c).dist);
    const before = { ...onB.filterStats! };
    const a = offB.assign(x, d, c, { bias });
    const b = onB.assign(x, d, c, { bias });
    same(b.index, a.index, 'index');
    same(b.dist, a.dist, 'dist');
    if (build !== 'relaxed') {
      const r = ref.assign(x, d, c, { bias });
      same(b.index, r.index, 'index vs reference');
      same(b.dist, r.dist, 'dist vs reference');
    }
    // Finite data takes the filter (or hands its blocks to the f32 kernel, counted as fallbacks).
    const after = onB.filterStats!;
    expect(after.rows - before.rows + (after.fallbacks - before.fallbacks) * n, 'rows through the filter or sent back').toBeGreaterThanOrEqual(n);
  });

  it('biases at every scale: the f32 sum dist + bias rounds at every granularity up to the distances themselves, and overflows', () => {
    const n = 512, d = 128, k = 64;
    const c = gauss(41, k * d), x = gauss(42, n * d);
    const m = offB.assign(x, d, c).dist.reduce((p, q) => p + q, 0) / n;
    // …and terms near f32's largest value, where dist + bias overflows to +Inf for some or every centroid.
    const scales = [...Array.from({ length: 16 }, (_, i) => m * 2 ** (2 * i - 4)), 3e38, 3.4028234e38];
    for (const [s, b0] of scales.entries()) {
      const bias = Float32Array.from({ length: k }, (_, j) => b0 * (1 - (j % 4) * 2 ** -23));
      const a = offB.assign(x, d, c, { bias });
      const b = onB.assign(x, d, c, { bias });
      same(b.index, a.index, `index, bias ${s}`);
      same(b.dist, a.dist, `dist, bias ${s}`);
    }
  });

  it('a bias reorders choices through the filter as in the f32 kernel', () => {
    const n = 400, d = 96, k = 48;
    const c = gauss(31, k * d);
    const rng = createRng(9, 9);
    const x = new Float32Array(n * d).map((_, t) => c[((t / d | 0) % k) * d + (t % d)]! + (rng.next() - 0.5));
    const plain = offB.assign(x, d, c);
    const bias = Float32Array.from({ length: k }, (_, j) => (j % 2) * 300);
    const a = offB.assign(x, d, c, { bias });
    const b = onB.assign(x, d, c, { bias });
    same(b.index, a.index, 'index');
    same(b.dist, a.dist, 'dist');
    let moved = 0;
    for (let i = 0; i < n; i++) moved += +(a.index[i] !== plain.index[i]);
    expect(moved, 'rows the bias moved').toBeGreaterThan(n / 10);
  });

  it('the filter is used (most rows settled by the estimates) and falls back where it must', () => {
    const K = loadKernelsSync({ build, qFilter: 'on', blockBytes: 8192 });
    const s0 = { ...K.filterStats! };
    const n = 2000, d = 128, k = 64;
    const c = gauss(21, k * d);
    const x = new Float32Array(n * d);
    const rng = createRng(3, 3);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = c[(i % k) * d + j]! + (rng.next() - 0.5) * 0.5;
    K.assign(x, d, c);
    const s1 = { ...K.filterStats! };
    expect(s1.rows - s0.rows).toBe(n);
    expect(s1.exact - s0.exact).toBeLessThan(n / 4);
    expect(s1.fallbacks - s0.fallbacks).toBe(0);
    x[7] = NaN;
    K.assign(x, d, c);
    expect(K.filterStats!.fallbacks - s1.fallbacks).toBe(1);
  });

  it("'auto' by size; plain l2 only (dot, a bias below 0 and second-best outputs keep the f32 kernel)", () => {
    const K = loadKernelsSync({ build });
    expect(K.filtersPlain(64, 16)).toBe(true);
    expect(K.filtersPlain(63, 16)).toBe(false);
    expect(K.filtersPlain(64, 15)).toBe(false);
    expect(loadKernelsSync({ build, qFilter: 'off' }).filtersPlain(768, 1024)).toBe(false);
    const on = loadKernelsSync({ build, qFilter: 'on' });
    const d = 80, k = 20, x = gauss(1, 50 * d), c = gauss(2, k * d), bias = gauss(3, k);
    const before = on.filterStats!.rows;
    for (const opts of [{ metric: 'dot' as const }, { bias }, { outSecond: new Float32Array(50) }]) {
      const a = loadKernelsSync({ build, qFilter: 'off' }).assign(x, d, c, opts);
      const b = on.assign(x, d, c, opts);
      same(b.index, a.index, 'index');
      same(b.dist, a.dist, 'dist');
    }
    expect(on.filterStats!.rows).toBe(before);
    // A call without a session rounds its rows each time: 'auto' takes the filter there from Q_FILTER_CALL_MIN_K.
    const auto = loadKernelsSync({ build });
    for (const kk of [Q_FILTER_CALL_MIN_K - 1, Q_FILTER_CALL_MIN_K]) {
      const cc = gauss(4, kk * d), r0 = auto.filterStats!.rows;
      const a = auto.assign(x, d, cc), b = loadKernelsSync({ build, qFilter: 'off' }).assign(x, d, cc);
      same(a.index, b.index, 'index');
      same(a.dist, b.dist, 'dist');
      expect(auto.filterStats!.rows - r0).toBe(kk < Q_FILTER_CALL_MIN_K ? 0 : 50);
    }
  });
});

describe('16-bit filter elsewhere', () => {
  it('k-means through the filter: the centroids, loss history and iterations of the f32 kernel and the reference', async () => {
    const n = 1500, d = 96, k = 24;
    const c0 = gauss(31, k * d, 2);
    const rng = createRng(8, 8);
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = c0[(i % k) * d + j]! + (rng.next() - 0.5);
    const on = loadKernelsSync({ build: 'simd', qFilter: 'on' });
    const before = on.filterStats!.rows;
    const opts = { maxIters: 8, tolerance: 0, seed: 3, hierarchicalK: 0 };
    const a = await kmeans(x, d, k, { ...opts, kernels: on });
    const b = await kmeans(x, d, k, { ...opts, kernels: loadKernelsSync({ build: 'simd', qFilter: 'off' }) });
    const r = await kmeans(x, d, k, { ...opts, kernels: ref });
    expect(on.filterStats!.rows - before).toBeGreaterThanOrEqual(n);
    for (const other of [b, r]) {
      same(a.centroids, other.centroids, 'centroids');
      expect(a.lossHistory).toEqual(other.lossHistory);
      expect(a.iterations).toBe(other.iterations);
    }
  });

  it('scalar and reference builds never filter', () => {
    expect(loadKernelsSync({ build: 'scalar', qFilter: 'on' }).filtersPlain(768, 1024)).toBe(false);
    expect(loadKernelsSync({ build: 'scalar' }).filterStats).toBeUndefined();
    expect(ref.filtersPlain(768, 1024)).toBe(false);
  });

  // Where relaxed SIMD validates ('dot8', what 'auto' loads there): the 8-bit stage with qFilter 'auto' never below
  // Q8_MIN_K centroids, whatever the probe finds; 'on' takes it at any k, 'off' never; the same bits every way.
  // Elsewhere (Node 20 without its flag) the build is refused, naming the flag.
  it('dot8: the 8-bit stage from Q8_MIN_K centroids in auto, at any k with on, never with off (or refused where it does not validate)', () => {
    if (!isBuildSupported('dot8')) {
      expect(() => loadKernelsSync({ build: 'dot8' })).toThrow(/build 'dot8': expected a runtime whose WebAssembly.validate accepts it, got false \(Node 20 needs/);
      return;
    }
    const n = 256, d = 96;
    const x = gauss(61, n * d);
    for (const k of [Q8_MIN_K / 2, Q8_MIN_K]) {
      const c = gauss(62 + k, k * d);
      const runs = (['auto', 'on', 'off'] as const).map((qFilter) => {
        const K = loadKernelsSync({ build: 'dot8', qFilter });
        const e0 = K.filterStats!.eight;
        return { qFilter, r: K.assign(x, d, c), eight: K.filterStats!.eight - e0 };
      });
      const [auto, on, off] = runs;
      if (k < Q8_MIN_K) expect(auto!.eight, `k ${k}, auto`).toBe(0);
      expect(on!.eight, `k ${k}, on`).toBe(n);
      expect(off!.eight, `k ${k}, off`).toBe(0);
      const plain = loadKernelsSync({ build: 'simd', qFilter: 'off' }).assign(x, d, c);
      for (const { qFilter, r } of runs) { same(r.index, plain.index, `k ${k} ${qFilter} index`); same(r.dist, plain.dist, `k ${k} ${qFilter} dist`); }
    }
  });

  it('a bad qFilter is refused', () => {
    expect(() => loadKernelsSync({ build: 'simd', qFilter: 'yes' as 'on' })).toThrow(/qFilter: expected 'auto', 'on' or 'off', got yes/);
  });
});
