import { describe, expect, it } from 'vitest';
import { getWasmModule, isBuildSupported, loadKernels, loadKernelsSync } from '../../src/kernels/index.js';
import { Q8_FULL_MIN_K, Q8_MIN_K } from '../../src/kernels/wasm.js';
import { warmUp } from '../../src/kernels/warmup.js';
import type { Accumulators, AssignBounds, BoundedInfo, BoundedSession, Kernels } from '../../src/kernels/index.js';
import { spatialOrder } from '../../src/train/partial.js';
import { IvfkitError } from '../../src/util/errors.js';
import { sumShift } from '../../src/util/fixed.js';
import { createRng } from '../../src/util/rng.js';

// assignAccumulateBounded over a sequence of calls with moving centroids, one epoch per call, driven
// the way src/train/partial.ts drives it (decay[e][g] = the largest movement in group g since epoch e,
// rounded up: measured from the kept centroids of epoch e, or the sum of the steps in between; cmax ≥
// max ‖c‖, xnorm = ‖x‖ in f64): every call must give the bits of brute-force assignAccumulate, and every
// bound it stores must be a true lower bound. The reference and the wasm builds are each checked that way.

const ref = loadKernelsSync({ build: 'reference' });

function same(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>, what: string): void {
  expect(a.length, `${what} length`).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) expect(`${what}[${i}] = ${String(a[i])}`).toBe(`${what}[${i}] = ${String(b[i])}`);
  }
}

function newAcc(k: number, dim: number, shift: number, lossShift: number): Accumulators {
  return { shift, lossShift, sums: new BigInt64Array(k * dim), counts: new Float64Array(k), clusterLoss: new BigInt64Array(k),
    radius: new Float32Array(k).fill(-Infinity) };
}

function sameAcc(a: Accumulators, b: Accumulators, what: string): void {
  same(a.sums, b.sums, `${what} sums`); same(a.counts, b.counts, `${what} counts`);
  same(a.clusterLoss, b.clusterLoss, `${what} loss`); same(a.radius, b.radius, `${what} radius`);
}

/** True Euclidean distance (f64) between row i of x and centroid c. */
function trueDist(x: Float32Array, i: number, cs: Float32Array, c: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) { const v = x[i * d + j]! - cs[c * d + j]!; s += v * v; }
  return Math.sqrt(s);
}

function norms(a: Float32Array, d: number): Float64Array {
  const out = new Float64Array(a.length / d);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) { const v = a[i * d + j]!; s += v * v; }
    out[i] = Math.sqrt(s);
  }
  return out;
}

/** n rows around `centers` random centers (spread 10, noise 1), all shifted by `offset`. */
function blobs(n: number, d: number, centers: number, seed: number, offset = 0): Float32Array {
  const rng = createRng(seed, 91);
  const c = Float32Array.from({ length: centers * d }, () => rng.next() * 20 - 10);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const b = rng.int(centers);
    for (let j = 0; j < d; j++) out[i * d + j] = offset + c[b * d + j]! + (rng.next() + rng.next() + rng.next() - 1.5);
  }
  return out;
}

/** Small integers, half the rows copies of 12 base rows: exact distance ties everywhere. */
function integers(n: number, d: number, seed: number): Float32Array {
  const rng = createRng(seed, 92);
  const base = Float32Array.from({ length: 12 * d }, () => rng.int(4));
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const r = rng.int(12);
    if (rng.next() < 0.5) out.set(base.subarray(r * d, (r + 1) * d), i * d);
    else for (let j = 0; j < d; j++) out[i * d + j] = rng.int(3);
  }
  return out;
}

function shuffled(k: number, seed: number): Int32Array {
  const rng = createRng(seed, 93);
  const o = Int32Array.from({ length: k }, (_, c) => c);
  for (let p = k - 1; p > 0; p--) { const q = rng.int(p + 1); const t = o[p]!; o[p] = o[q]!; o[q] = t; }
  return o;
}

interface Case {
  name: string;
  x: Float32Array;
  d: number;
  k: number;
  groupSize: number;
  order: 'identity' | 'shuffled' | 'spatial';
  steps: number;
  /** Steps at which a few centroids jump far (as an empty-cluster split does). */
  jumps?: number[];
  /** The rounding margin exceeds every gap (offset far larger than the spread): no row can be skipped. */
  roundingDominates?: boolean;
  /** Lance's balance term: bias[c] = scale · (rows the brute force gave c in the previous call). */
  biasScale?: number;
  /** How the decay table is made: 'net' (default) measures ‖c_now − c_e‖ for every earlier epoch, 'sum' adds
   *  the steps in between (looser). */
  decay?: 'net' | 'sum';
}

/**
 * Lloyd-like centroid sequence: the mean of each cluster's rows (f64, rounded to f32) from brute force,
 * unchanged for empty clusters; at `jumps`, every 7th centroid moves to a far point. Computed once, so every
 * build sees the same centroids.
 */
function centroidSequence(c: Case): Float32Array[] {
  const { x, d, k, steps } = c;
  const n = x.length / d;
  const rng = createRng(k * 31 + d, 94);
  const finite: number[] = [];
  for (let i = 0; i < n; i++) if (x.subarray(i * d, (i + 1) * d).every(Number.isFinite)) finite.push(i);
  let cs = new Float32Array(k * d);
  for (let j = 0; j < k; j++) {
    const r = finite[rng.int(finite.length)]!;
    cs.set(x.subarray(r * d, (r + 1) * d), j * d);
  }
  const seq = [cs];
  for (let t = 1; t < steps; t++) {
    const r = ref.assign(x, d, cs);
    const sum = new Float64Array(k * d), cnt = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const a = r.index[i]!;
      if (a < 0) continue;
      cnt[a]!++;
      for (let j = 0; j < d; j++) sum[a * d + j]! += x[i * d + j]!;
    }
    const next = cs.slice();
    for (let j = 0; j < k; j++) if (cnt[j]! > 0) for (let q = 0; q < d; q++) next[j * d + q] = sum[j * d + q]! / cnt[j]!;
    if (c.jumps?.includes(t)) {
      for (let j = 0; j < k; j += 7) for (let q = 0; q < d; q++) next[j * d + q] = -3 * next[j * d + q]! + 50 * (rng.next() - 0.5);
    }
    cs = next;
    seq.push(cs);
  }
  return seq;
}

/**
 * Runs the sequence through K.assignAccumulateBounded with fresh bounds, checking every call against
 * brute force (bits) and every stored bound against the true distances. Returns the per-call infos.
 */
/** `acc` (optional): the accumulators of call t from a fresh set at the test's scale (the same for the kernel
 *  under test and its brute-force checks). */
function runBounded(K: Kernels, c: Case, seq: Float32Array[], hook?: (t: number, b: AssignBounds) => void,
  acc?: (t: number, a: Accumulators) => Accumulators): BoundedInfo[] {
  const { x, d, k, groupSize: gs } = c;
  const n = x.length / d;
  const G = Math.ceil(k / gs);
  const order = c.order === 'identity' ? undefined : c.order === 'shuffled' ? shuffled(k, k + gs) : spatialOrder(seq[0]!, k, d, gs);
  const ord = order ?? Int32Array.from({ length: k }, (_, p) => p);
  const bounds: AssignBounds = {
    groupSize: gs, ...(order ? { order } : {}), assign: new Int32Array(n).fill(-1), lower: new Float32Array(n * G),
    epoch: new Uint8Array(n * G), decay: new Float64Array(256 * G).fill(Infinity), now: 0, xnorm: norms(x, d), cmax: 0,
  };
  let maxAbs = 0;
  for (const v of x) if (Number.isFinite(v)) maxAbs = Math.max(maxAbs, Math.abs(v));
  for (const cs of seq) for (const v of cs) maxAbs = Math.max(maxAbs, Math.abs(v));
  const shift = sumShift(maxAbs, n), ls = sumShift(d * 4 * maxAbs * maxAbs * 1.01 + 1, n);
  const infos: BoundedInfo[] = [];
  const prevIndex = new Int32Array(n);
  const moved = (a: Float32Array, b: Float32Array, g: number): number => {
    let m = 0;
    for (let p = g * gs; p < Math.min(k, (g + 1) * gs); p++) m = Math.max(m, trueDist(a, ord[p]!, b, ord[p]!, d));
    return m * (1 + 1e-9);
  };
  for (let t = 0; t < seq.length; t++) {
    const cs = seq[t]!;
    bounds.now = t;
    bounds.decay.fill(Infinity);
    for (let e = t; e >= 0; e--) {
      for (let g = 0; g < G; g++) {
        bounds.decay[e * G + g] = e === t ? 0 : c.decay === 'sum'
          ? (bounds.decay[(e + 1) * G + g]! + moved(seq[e + 1]!, seq[e]!, g)) * (1 + 1e-15) : moved(cs, seq[e]!, g);
      }
    }
    hook?.(t, bounds);
    bounds.cmax = Math.max(0, ...norms(cs, d)) * (1 + 1e-9);
    const what = `${K.build} ${c.name} call ${t}`;
    const outIndex = new Int32Array(n), outDist = new Float32Array(n);
    const mk = (): Accumulators => (acc ? acc(t, newAcc(k, d, shift, ls)) : newAcc(k, d, shift, ls));
    const a = mk();
    const bias = c.biasScale !== undefined ? new Float32Array(k) : undefined;
    if (bias && t > 0) for (let i = 0; i < n; i++) if (prevIndex[i]! >= 0) bias[prevIndex[i]!] = bias[prevIndex[i]!]! + c.biasScale!;
    const info = K.assignAccumulateBounded(x, d, cs, a, bounds, { outIndex, outDist, ...(bias ? { bias } : {}) });
    const bIndex = new Int32Array(n), bDist = new Float32Array(n), b = mk();
    ref.assignAccumulate(x, d, cs, b, { outIndex: bIndex, outDist: bDist, ...(bias ? { bias } : {}) });
    prevIndex.set(bIndex);
    same(outIndex, bIndex, `${what} index`);
    same(outDist, bDist, `${what} dist`);
    sameAcc(a, b, what);
    if (K !== ref) {
      const w = mk();
      K.assignAccumulate(x, d, cs, w, bias ? { bias } : {});
      sameAcc(a, w, `${what} (own brute force)`);
    }
    if (t === 0) expect({ skipped: info.skipped, blocks: info.blocks }, what).toEqual({ skipped: 0, blocks: n * Math.ceil(k / 8) });
    expect(info.skipped, what).toBeGreaterThanOrEqual(0);
    expect(info.blocks, what).toBeLessThanOrEqual(n * Math.ceil(k / 8));
    for (let i = 0; i < n; i++) {
      const as = bounds.assign[i]!;
      if (as < 0) continue;
      if (as !== outIndex[i]) expect(`${what} assign[${i}] = ${as}`).toBe(`${what} assign[${i}] = ${outIndex[i]}`);
      for (let g = 0; g < G; g++) {
        const ep = bounds.epoch[i * G + g]!;
        if (ep > t) expect(`${what} row ${i} group ${g}: epoch ${ep}`).toBe(`an epoch ≤ ${t}`);
        const l = bounds.lower[i * G + g]! - bounds.decay[ep * G + g]!;
        if (Number.isNaN(l)) expect(`${what} row ${i} group ${g}: bound`).toBe('not NaN');
        if (!(l > 0)) continue;
        for (let p = g * gs; p < Math.min(k, (g + 1) * gs); p++) {
          const cc = ord[p]!;
          if (cc === as) continue;
          const td = trueDist(x, i, cs, cc, d);
          if (!(l <= td)) expect(`${what} row ${i} group ${g}: bound ${l} vs distance ${td} to ${cc}`).toBe('a lower bound');
        }
      }
    }
    infos.push(info);
  }
  return infos;
}

function withNaN(x: Float32Array, d: number, rows: number[]): Float32Array {
  const y = x.slice();
  for (const r of rows) y[r * d + (r % d)] = NaN;
  return y;
}

const cases: Case[] = [
  { name: 'k=13 d=3 gs=8', x: blobs(240, 3, 6, 1), d: 3, k: 13, groupSize: 8, order: 'identity', steps: 6 },
  { name: 'k=1 d=1', x: blobs(50, 1, 2, 2), d: 1, k: 1, groupSize: 8, order: 'identity', steps: 3 },
  { name: 'k=8 d=17 gs=16 shuffled', x: blobs(150, 17, 5, 3), d: 17, k: 8, groupSize: 16, order: 'shuffled', steps: 5 },
  { name: 'k=300 d=128 gs=24 spatial', x: blobs(260, 128, 40, 4), d: 128, k: 300, groupSize: 24, order: 'spatial', steps: 4 },
  { name: 'k=61 d=96 gs=8 spatial', x: blobs(300, 96, 20, 19), d: 96, k: 61, groupSize: 8, order: 'spatial', steps: 5 },
  { name: 'k=200 d=300 gs=8 shuffled (rows that need many groups)', x: blobs(240, 300, 30, 21), d: 300, k: 200, groupSize: 8, order: 'shuffled',
    steps: 5 },
  { name: 'k=40 d=70 gs=8 shuffled, offset 50, jumps', x: blobs(280, 70, 12, 20, 50), d: 70, k: 40, groupSize: 8, order: 'shuffled', steps: 6,
    jumps: [3] },
  { name: 'k=45 d=17 gs=16 shuffled, jumps', x: blobs(300, 17, 12, 5), d: 17, k: 45, groupSize: 16, order: 'shuffled', steps: 7, jumps: [2, 4] },
  { name: 'k=37 d=3 gs=24 identity, jumps', x: blobs(300, 3, 9, 6), d: 3, k: 37, groupSize: 24, order: 'identity', steps: 6, jumps: [3] },
  { name: 'NaN rows, duplicate rows (ties) k=20 d=3', x: withNaN(integers(200, 3, 7), 3, [0, 5, 77, 199]), d: 3, k: 20, groupSize: 8,
    order: 'shuffled', steps: 6 },
  { name: 'ties k=26 d=17 gs=16', x: withNaN(integers(160, 17, 8), 17, [3]), d: 17, k: 26, groupSize: 16, order: 'identity', steps: 5 },
  { name: 'offset 3e4 k=30 d=17', x: blobs(250, 17, 8, 9, 3e4), d: 17, k: 30, groupSize: 8, order: 'spatial', steps: 6, roundingDominates: true },
  { name: 'offset 1e5 k=19 d=3 gs=16', x: blobs(250, 3, 5, 10, -1e5), d: 3, k: 19, groupSize: 16, order: 'shuffled', steps: 6, jumps: [2],
    roundingDominates: true },
  { name: 'offset 300 k=24 d=3 (margin ≈ gaps)', x: blobs(400, 3, 10, 14, 300), d: 3, k: 24, groupSize: 8, order: 'spatial', steps: 8 },
  { name: 'offset 600 k=16 d=17', x: blobs(400, 17, 8, 15, -600), d: 17, k: 16, groupSize: 8, order: 'identity', steps: 8 },
  { name: 'balance term k=45 d=17 gs=16 spatial', x: blobs(300, 17, 12, 16), d: 17, k: 45, groupSize: 16, order: 'spatial', steps: 7, biasScale: 0.02 },
  { name: 'balance term k=24 d=3, ties', x: integers(300, 3, 17), d: 3, k: 24, groupSize: 8, order: 'shuffled', steps: 6, biasScale: 0.05 },
  { name: 'balance term k=30 d=17, jumps', x: blobs(300, 17, 9, 18), d: 17, k: 30, groupSize: 8, order: 'identity', steps: 7, jumps: [3], biasScale: 0.01 },
  { name: 'balance term k=61 d=96 gs=8 spatial (the 16-bit filter with a bias)', x: blobs(300, 96, 20, 24), d: 96, k: 61, groupSize: 8,
    order: 'spatial', steps: 5, biasScale: 0.5 },
  { name: 'balance term k=200 d=300 gs=8 shuffled (rows that need many groups)', x: blobs(240, 300, 30, 25), d: 300, k: 200, groupSize: 8,
    order: 'shuffled', steps: 5, biasScale: 1 },
  { name: 'balance term k=40 d=70 shuffled, integer ties', x: integers(300, 70, 26), d: 70, k: 40, groupSize: 8, order: 'shuffled', steps: 6,
    biasScale: 1 },
  { name: 'summed decay k=45 d=17 gs=16 shuffled, jumps', x: blobs(300, 17, 12, 5), d: 17, k: 45, groupSize: 16, order: 'shuffled', steps: 7,
    jumps: [2, 4], decay: 'sum' },
  { name: 'summed decay, balance term k=24 d=3', x: integers(300, 3, 17), d: 3, k: 24, groupSize: 8, order: 'shuffled', steps: 6, biasScale: 0.05,
    decay: 'sum' },
];

const seqs = new Map<string, Float32Array[]>();
const sequence = (c: Case): Float32Array[] => {
  if (!seqs.has(c.name)) seqs.set(c.name, centroidSequence(c));
  return seqs.get(c.name)!;
};

/**
 * K with assignAccumulateBounded run through a {@link BoundedSession} per bounds object: the per-row state stays in
 * the session from call to call (copied out after each call for the checks, and in again only when the caller
 * changed it in between), so every check of this file also covers the session's own state.
 */
function throughSessions(K: Kernels): Kernels {
  const sessions = new WeakMap<AssignBounds, { s: BoundedSession; last: AssignBounds }>();
  const copy = (b: AssignBounds): AssignBounds => ({ ...b, assign: b.assign.slice(), lower: b.lower.slice(), epoch: b.epoch.slice() });
  const changed = (b: AssignBounds, l: AssignBounds): boolean =>
    b.assign.some((v, i) => v !== l.assign[i]) || b.lower.some((v, i) => !Object.is(v, l.lower[i])) || b.epoch.some((v, i) => v !== l.epoch[i]);
  return {
    ...K,
    assignAccumulateBounded(data, dim, centroids, acc, bounds, opts) {
      let e = sessions.get(bounds);
      if (!e) {
        const s = K.boundedSession!(data, dim, centroids.length / dim, bounds);
        expect(s, `${K.build}: a session for ${data.length / dim} rows`).toBeDefined();
        e = { s: s!, last: copy(bounds) };
        sessions.set(bounds, e);
      } else if (changed(bounds, e.last)) e.s.write(bounds);
      const info = e.s.step(centroids, acc, bounds, opts);
      e.s.read(bounds);
      e.last = copy(bounds);
      return info;
    },
  };
}

const variants = [
  { label: 'reference', load: async () => ref },
  { label: 'auto (SIMD)', load: () => loadKernels({ build: 'auto' }) },
  { label: 'scalar', load: () => loadKernels({ build: 'scalar' }) },
  { label: 'auto, 2 KiB blocks', load: () => loadKernels({ build: 'auto', blockBytes: 2048 }) },
  { label: 'auto, 16-bit filter on', load: () => loadKernels({ build: 'auto', qFilter: 'on' }) },
  { label: 'auto, sessions', load: async () => throughSessions(await loadKernels({ build: 'auto' })) },
  { label: 'scalar, sessions', load: async () => throughSessions(await loadKernels({ build: 'scalar' })) },
  { label: 'auto, 2 KiB blocks, 16-bit filter on, sessions', load: async () => throughSessions(await loadKernels({ build: 'auto', blockBytes: 2048, qFilter: 'on' })) },
];

describe.each(variants)('assignAccumulateBounded, $label', ({ label, load }) => {
  let K: Kernels;
  it('loads', async () => {
    K = await load();
    if (label.startsWith('auto')) expect(['dot8', 'simd', 'scalar']).toContain(K.build);
  });

  it.each(cases)('$name: brute-force bits and valid bounds on every call', (c) => {
    const before = K.filterStats?.rows ?? 0, eight = K.filterStats?.eight ?? 0;
    const infos = runBounded(K, c, sequence(c));
    // Rows computed in full (every row of the first call) take the 16-bit filter wherever a plain assignment
    // would (blocks with a NaN row go to the f32 kernel whole); with qFilter 'on' the dot8 build's 8-bit stage first.
    if (K.filterStats && K.filtersPlain(c.d, c.k) && c.x.every(Number.isFinite)) {
      expect(K.filterStats.rows - before, 'rows through the 16-bit filter').toBeGreaterThanOrEqual(c.x.length / c.d);
      if (K.build === 'dot8' && label.includes('filter on')) expect(K.filterStats.eight - eight, 'rows through the 8-bit stage').toBeGreaterThan(0);
    }
    if (!c.roundingDominates) expect(Math.max(...infos.map((f) => f.skipped)), 'rows skipped in some call').toBeGreaterThan(0);
  });

  it('rows are skipped once the centroids stop moving', () => {
    const d = 8, k = 40, x = blobs(1500, d, 40, 11);
    const c: Case = { name: 'converging', x, d, k, groupSize: 8, order: 'spatial', steps: 12 };
    const seq = sequence(c);
    const last = seq[seq.length - 1]!;
    const infos = runBounded(K, c, [...seq, last, last]);
    const n = x.length / d;
    for (const info of infos.slice(-2)) {
      expect(info.skipped).toBeGreaterThan(n / 2);
      expect(info.blocks).toBeLessThan((n * Math.ceil(k / 8)) / 4);
    }
  });

  it('sums kept from call to call: a new scale starts them afresh, sums already in the accumulators stay under them', () => {
    const d = 8, k = 40, x = blobs(1500, d, 40, 23);
    const c: Case = { name: 'rescaled', x, d, k, groupSize: 8, order: 'spatial', steps: 8 };
    const infos = runBounded(K, c, sequence(c), undefined, (t, a) => {
      if (t >= 3) a.shift -= 1 + (t >> 2);                 // calls 3, 4–7: two changes of scale
      if (t % 3 === 2) { a.sums.fill(-7n, 5, 200); a.counts.fill(3, 2, 9); a.clusterLoss.fill(11n, 0, 5); a.radius.fill(0.25, 1, 4); }
      return a;
    });
    expect(Math.max(...infos.map((f) => f.skipped))).toBeGreaterThan(0);
  });

  it('bounds keep their epoch: centroids that move away and come back settle rows again (net decay, not summed)', () => {
    const d = 8, k = 40, x = blobs(1500, d, 40, 19);
    const base: Case = { name: 'back and forth', x, d, k, groupSize: 8, order: 'spatial', steps: 12 };
    const conv = sequence(base);
    const c0 = conv[conv.length - 1]!;
    const away = c0.map((v, i) => v + (i % 3 === 0 ? 0.6 : -0.4));
    const seq = [c0, away, c0, c0];
    const net = runBounded(K, base, seq);
    const sum = runBounded(K, { ...base, decay: 'sum' }, seq);
    const n = x.length / d;
    expect(net[2]!.skipped).toBeGreaterThan(sum[2]!.skipped);
    expect(net[2]!.blocks).toBeLessThan(sum[2]!.blocks);
    expect(net[2]!.skipped).toBeGreaterThan(n / 2);
  });

  it('an epoch without a decay (+Inf) makes its groups be computed', () => {
    const d = 8, k = 40, x = blobs(800, d, 40, 20);
    const c: Case = { name: 'unknown epochs', x, d, k, groupSize: 8, order: 'spatial', steps: 8 };
    const infos = runBounded(K, c, sequence(c), (t, b) => { if (t === 6) b.epoch.fill(200); });
    const n = x.length / d;
    expect(infos[5]!.skipped).toBeGreaterThan(0);
    expect({ skipped: infos[6]!.skipped, blocks: infos[6]!.blocks }).toEqual({ skipped: 0, blocks: n * Math.ceil(k / 8) });
    expect(infos[7]!.skipped).toBeGreaterThan(0);
  });

  it('invalid bounds throw IvfkitError stating expected and actual', () => {
    const d = 2, k = 10, n = 4, x = blobs(n, d, 2, 12), cs = blobs(k, d, 3, 13);
    const ok = (): AssignBounds => ({ groupSize: 8, assign: new Int32Array(n).fill(-1), lower: new Float32Array(n * 2),
      epoch: new Uint8Array(n * 2), decay: new Float64Array(512), now: 0, xnorm: norms(x, d), cmax: 100 });
    const run = (b: AssignBounds): BoundedInfo => K.assignAccumulateBounded(x, d, cs, newAcc(k, d, 10, 10), b);
    expect(run(ok()).blocks).toBe(n * 2);
    const bad: [Partial<AssignBounds>, RegExp][] = [
      [{ groupSize: 12 }, /bounds\.groupSize: expected a positive multiple of 8, got 12/],
      [{ groupSize: 0 }, /bounds\.groupSize: expected a positive multiple of 8, got 0/],
      [{ assign: new Int32Array(n - 1) }, /bounds\.assign length: expected 4, got 3/],
      [{ lower: new Float32Array(n * 2 + 1) }, /bounds\.lower length: expected n·G = 8, got 9/],
      [{ groupSize: 16 }, /bounds\.lower length: expected n·G = 4, got 8/],
      [{ decay: new Float64Array(2) }, /bounds\.decay length: expected 256·G = 512, got 2/],
      [{ epoch: new Uint8Array(n) }, /bounds\.epoch length: expected n·G = 8, got 4/],
      [{ now: 256 }, /bounds\.now: expected an integer in 0 \.\. 255, got 256/],
      [{ now: 1.5 }, /bounds\.now: expected an integer in 0 \.\. 255, got 1\.5/],
      [{ xnorm: new Float64Array(n + 1) }, /bounds\.xnorm length: expected 4, got 5/],
      [{ cmax: -1 }, /bounds\.cmax: expected a number ≥ 0, got -1/],
      [{ order: Int32Array.from({ length: k - 1 }, (_, p) => p) }, /bounds\.order length: expected 10, got 9/],
      [{ order: Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 8]) }, /bounds\.order: expected a permutation of 0 \.\. 9, got 8 at 9/],
      [{ order: Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 10]) }, /bounds\.order: expected a permutation of 0 \.\. 9, got 10 at 9/],
      [{ assign: Int32Array.from([0, 10, 0, 0]) }, /bounds\.assign\[1\]: expected −1 \.\. 9, got 10/],
      [{ assign: Int32Array.from([0, 0, -2, 0]) }, /bounds\.assign\[2\]: expected −1 \.\. 9, got -2/],
    ];
    for (const [patch, msg] of bad) {
      let err: unknown;
      try { run({ ...ok(), ...patch }); } catch (e) { err = e; }
      expect(err, String(msg)).toBeInstanceOf(IvfkitError);
      expect((err as Error).message).toMatch(msg);
    }
  });
});

describe('groupDrift', () => {
  const builds = [
    { label: 'reference', load: async () => ref },
    { label: 'auto (SIMD)', load: () => loadKernels({ build: 'auto' }) },
    { label: 'scalar', load: () => loadKernels({ build: 'scalar' }) },
  ];
  const shapes = [{ k: 13, d: 3, gs: 8 }, { k: 40, d: 17, gs: 16 }, { k: 64, d: 128, gs: 8 }, { k: 9, d: 1, gs: 24 }, { k: 30, d: 70, gs: 8 }];

  it.each(builds)('$label: the largest squared movement per group, the same bits as the reference, for any order', async ({ load }) => {
    const K = await load();
    for (const { k, d, gs } of shapes) {
      const c = blobs(k, d, 5, k + d);
      const prev = [blobs(k, d, 5, k + d + 1), c.map((v, i) => (i % 5 === 0 ? v + 0.25 : v)), c.slice()];
      const G = Math.ceil(k / gs);
      for (const order of [undefined, shuffled(k, k + gs)]) {
        const got = K.groupDrift(c, prev, d, gs, order);
        same(got, ref.groupDrift(c, prev, d, gs, order), `k=${k} d=${d} gs=${gs} ${order ? 'shuffled' : 'identity'}`);
        expect(got.length).toBe(prev.length * G);
        for (let e = 0; e < prev.length; e++) {
          for (let g = 0; g < G; g++) {
            let m = 0;
            for (let q = g * gs; q < Math.min(k, (g + 1) * gs); q++) m = Math.max(m, trueDist(c, order ? order[q]! : q, prev[e]!, order ? order[q]! : q, d) ** 2);
            expect(Math.abs(got[e * G + g]! - m), `set ${e} group ${g}`).toBeLessThanOrEqual(m * 1e-12);
          }
        }
        expect(Array.from(got.subarray(2 * G, 3 * G)), 'unmoved').toEqual(new Array(G).fill(0));
      }
    }
  });

  it.each(builds)('$label: NaN stays; bad arguments throw IvfkitError stating expected and actual', async ({ load }) => {
    const K = await load();
    const k = 12, d = 5, c = blobs(k, d, 3, 7), p = c.slice();
    p[3 * d + 2] = NaN;
    const got = K.groupDrift(c, [p, c], d, 8);
    expect(Number.isNaN(got[0]!)).toBe(true);
    expect(got[1]).toBe(0);
    expect(Array.from(got.subarray(2))).toEqual([0, 0]);
    expect(K.groupDrift(c, [], d, 8).length).toBe(0);
    const bad: [() => unknown, RegExp][] = [
      [() => K.groupDrift(c, [c.subarray(1)], d, 8), /previous\[0\] length \(Float32Array\): expected 60, got 59/],
      [() => K.groupDrift(c, [c], d, 0), /groupSize: expected a positive integer, got 0/],
      [() => K.groupDrift(c, [c], d, 8, Int32Array.from({ length: k }, () => 0)), /order: expected a permutation of 0 \.\. 11, got 0 at 1/],
      [() => K.groupDrift(c, [c], 7, 8), /centroids/],
    ];
    for (const [f, msg] of bad) {
      let err: unknown;
      try { f(); } catch (e) { err = e; }
      expect(err, String(msg)).toBeInstanceOf(IvfkitError);
      expect((err as Error).message).toMatch(msg);
    }
  });
});

describe('warm-up at module load', () => {
  it.each(['simd', 'scalar'] as const)('%s: runs every step to the end on a throwaway instance, without touching the caches', async (build) => {
    const mod = await getWasmModule(build);
    expect(warmUp(mod, build, await WebAssembly.instantiate(mod, {}))).toBe(true);
    const bogus = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])), {});
    expect(warmUp(mod, build, bogus), 'an instance without the kernels').toBe(false);
  });
});

describe('centroidOrder', () => {
  const builds = [
    { label: 'auto (SIMD)', load: () => loadKernels({ build: 'auto' }) },
    { label: 'scalar', load: () => loadKernels({ build: 'scalar' }) },
  ];
  const shapes = [
    { k: 256, d: 128, gs: 8, x: blobs(256, 128, 40, 31) }, { k: 61, d: 17, gs: 8, x: blobs(61, 17, 9, 32) }, { k: 45, d: 3, gs: 16, x: blobs(45, 3, 7, 33) },
    { k: 30, d: 1, gs: 8, x: blobs(30, 1, 4, 34) }, { k: 5, d: 6, gs: 8, x: blobs(5, 6, 2, 35) }, { k: 100, d: 70, gs: 24, x: blobs(100, 70, 12, 36) },
    { k: 40, d: 5, gs: 8, x: integers(40, 5, 2) }, { k: 24, d: 4, gs: 8, x: new Float32Array(96).fill(3) },
  ];

  it.each(builds)('$label: the permutation of the plain-TS order, bit for bit (odd dims, ties, identical centroids)', async ({ load }) => {
    const K = await load();
    for (const { k, d, gs, x } of shapes) {
      const got = K.centroidOrder(x, d, gs);
      same(got, spatialOrder(x, k, d, gs), `k=${k} d=${d} gs=${gs}`);
      same(Int32Array.from(got).sort(), Int32Array.from({ length: k }, (_, c) => c), `k=${k}: a permutation`);
      same(ref.centroidOrder(x, d, gs), got, `k=${k}: reference kernel`);
    }
  });

  it('groups nearby centroids: every group of 8 of well-separated blobs holds one blob', () => {
    const d = 16, blobsOf = 8, per = 8;
    const x = new Float32Array(blobsOf * per * d);
    const rng = createRng(5, 1);
    for (let b = 0; b < blobsOf; b++) for (let i = 0; i < per; i++) for (let j = 0; j < d; j++) x[(b * per + i) * d + j] = 100 * ((b >> (j % 3)) & 1) + j * b + rng.next();
    const order = ref.centroidOrder(x, d, 8);
    for (let g = 0; g < blobsOf; g++) expect(new Set(Array.from(order.subarray(g * 8, g * 8 + 8), (c) => Math.floor(c / per))).size, `group ${g}`).toBe(1);
  });

  it('bad arguments throw IvfkitError stating expected and actual', async () => {
    const K = await loadKernels({ build: 'auto' });
    for (const k of [ref, K]) {
      expect(() => k.centroidOrder(new Float32Array(10), 3, 8)).toThrow(IvfkitError);
      expect(() => k.centroidOrder(new Float32Array(9), 3, 0)).toThrow(/groupSize: expected a positive integer, got 0/);
      expect(() => k.centroidOrder(new Float32Array(0), 3, 8)).toThrow(/number of centroids: expected at least 1, got 0/);
    }
  });
});

describe('boundedSession from a fresh start', () => {
  it.each(['auto', 'scalar'] as const)('%s: no arrays = no bounds and ‖x‖ from the rows\' f32 norms; the same steps as a session given those arrays', async (build) => {
    const K = await loadKernels({ build });
    const c = cases.find((x) => x.name.startsWith('k=61 d=96'))!;
    const { x, d, k, groupSize: gs } = c;
    const n = x.length / d, G = Math.ceil(k / gs);
    const up = 1 + (d + 2) * 2 ** -24;
    const xnorm = Float64Array.from(K.sqNorms(x, d), (v) => Math.sqrt(v) * up);
    const given: AssignBounds = { groupSize: gs, assign: new Int32Array(n).fill(-1), lower: new Float32Array(n * G), epoch: new Uint8Array(n * G),
      decay: new Float64Array(256 * G).fill(Infinity), now: 0, xnorm, cmax: 0 };
    const a = K.boundedSession!(x, d, k, { groupSize: gs })!, b = K.boundedSession!(x, d, k, given)!;
    const seq = sequence(c);
    const sa = { ...given, assign: new Int32Array(n), lower: new Float32Array(n * G), epoch: new Uint8Array(n * G) };
    let skipped = 0;
    for (let t = 0; t < seq.length; t++) {
      const cs = seq[t]!;
      given.now = t;
      given.decay.fill(Infinity).fill(0, t * G, (t + 1) * G);
      if (t > 0) given.decay.set(K.groupDrift(cs, [seq[t - 1]!], d, gs).map((v) => Math.sqrt(v) * (1 + 1e-9)), (t - 1) * G);
      given.cmax = Math.sqrt(Math.max(...K.sqNorms(cs, d))) * up * (1 + 1e-9);
      const oa = { outIndex: new Int32Array(n), outDist: new Float32Array(n) }, ob = { outIndex: new Int32Array(n), outDist: new Float32Array(n) };
      const accA = newAcc(k, d, 12, 8), accB = newAcc(k, d, 12, 8);
      const ia = a.step(cs, accA, given, oa), ib = b.step(cs, accB, given, ob);
      expect(ia, `step ${t}`).toEqual(ib);
      skipped += ia.skipped;
      same(oa.outIndex, ob.outIndex, `step ${t} index`); same(oa.outDist, ob.outDist, `step ${t} dist`); sameAcc(accA, accB, `step ${t}`);
      a.read(sa); b.read(given);
      same(sa.assign, given.assign, `step ${t} assign`); same(sa.lower, given.lower, `step ${t} lower`); same(sa.epoch, given.epoch, `step ${t} epoch`);
    }
    expect(skipped, 'rows settled by their bounds').toBeGreaterThan(0);
    expect(() => K.boundedSession!(x, d, k, { groupSize: 12 })).toThrow(/start\.groupSize: expected a positive multiple of 8, got 12/);
    expect(() => K.boundedSession!(x, d, k, { groupSize: 8, xnorm: new Float64Array(3) })).toThrow(/start\.xnorm length: expected 300, got 3/);
  });
});

/** roundRow8 in plain TS: s8 = max |x| / 127 (f32; NaN ignored in the 4-lane part, as f32x4.pmax), q = x · (1/s8)
 *  rounded half to even and clamped to ±127, Σ q², and Σ (x − q·s8)² in four f32 lanes (value j in lane j mod 4). */
function roundRow8Ref(row: Float32Array): { q: Int8Array; meta: [number, number, number] } | undefined {
  const f = Math.fround, d = row.length, d4 = d & ~3, dq = (d + 3) & ~3;
  let mx = 0;
  for (let j = 0; j < d4; j++) { const a = Math.abs(row[j]!); if (a > mx) mx = a; }
  for (let j = d4; j < d; j++) { const a = Math.abs(row[j]!); mx = Number.isNaN(a) || Number.isNaN(mx) ? NaN : Math.max(mx, a); }
  if (!(mx <= 3.4028234663852886e38)) return undefined;
  const s8 = mx > 0 ? f(mx / 127) : 1;
  if (!(s8 >= 1e-30)) return undefined;
  const inv = f(1 / s8), q = new Int8Array(dq), se = [0, 0, 0, 0];
  let sq = 0;
  for (let j = 0; j < dq; j++) {
    const v = j < d ? row[j]! : 0, t = f(v * inv);
    const fl = Math.floor(t), r = t - fl < 0.5 ? fl : t - fl > 0.5 ? fl + 1 : fl % 2 === 0 ? fl : fl + 1;
    const qi = Number.isNaN(r) ? 0 : Math.max(-127, Math.min(127, r));
    q[j] = qi;
    sq += qi * qi;
    const e = f(v - f(qi * s8));
    se[j & 3] = f(se[j & 3]! + f(e * e));
  }
  return { q, meta: [s8, sq, f(f(se[0]! + se[1]!) + f(se[2]! + se[3]!))] };
}

describe('prepareRows (a session\'s rows prepared in one pass)', () => {
  type Raw = {
    memory: WebAssembly.Memory; heapBase(): number;
    sqNorms(x: number, n: number, d: number, out: number): void;
    roundRows(x: number, n: number, d: number, qr: number, meta: number): number;
    roundRows8(x: number, n: number, d: number, r8: number, m8: number): number;
    prepareRows(x: number, n: number, d: number, xsq: number, qr: number, meta: number, r8: number, m8: number): void;
  };
  const builds = (['simd', 'dot8', 'relaxed'] as const).filter((b) => isBuildSupported(b));
  it.each(builds)('%s: the same bytes as sqNorms, roundRows and roundRows8 one after another', async (build) => {
    const e = (await WebAssembly.instantiate(await getWasmModule(build), {})).exports as unknown as Raw;
    const rng = createRng(41);
    let checked8 = 0;
    for (const d of [1, 3, 4, 15, 16, 17, 31, 32, 100, 128, 784]) {
      const n = 37, x = new Float32Array(n * d);
      for (let i = 0; i < x.length; i++) x[i] = (rng.next() - 0.5) * 2 ** ((i % 7) - 3);
      x.fill(0, 2 * d, 3 * d);                                       // a zero row
      x[5 * d + (d >> 1)] = NaN;                                     // non-finite rows
      x[6 * d] = Infinity;
      x[7 * d] = -3e38; x[7 * d + d - 1] = 3e38;                      // huge
      for (let j = 0; j < d; j++) x[8 * d + j] = (j % 5 - 2) * 1e-33; // tiny
      for (let j = 0; j < d; j++) x[9 * d + j] = ((j * 37) % 255) - 127; // integers at the 8-bit scale
      const dEven = (d + 1) & ~1, d4 = (d + 3) & ~3;
      const sizes = [n * d * 4, n * 4, n * dEven * 2, n * 24, n * d4, n * 24];
      const total = 2 * sizes.slice(1).reduce((a, b) => a + b, 0) + sizes[0]! + 16 * 16;
      const base = (e.heapBase() + 15) & ~15;
      const need = base + total - e.memory.buffer.byteLength;
      if (need > 0) e.memory.grow(Math.ceil(need / 65536));
      const at: number[] = [];
      let p = base;
      for (const s of [sizes[0]!, ...sizes.slice(1), ...sizes.slice(1)]) { at.push(p); p = (p + s + 15) & ~15; }
      const [xp, sa, qa, ma, ra, m8a, sb, qb, mb, rb, m8b] = at as [number, number, number, number, number, number, number, number, number, number, number];
      const u8 = new Uint8Array(e.memory.buffer);
      u8.fill(0xa5, base, p);
      new Float32Array(e.memory.buffer, xp, n * d).set(x);
      e.sqNorms(xp, n, d, sa); e.roundRows(xp, n, d, qa, ma); e.roundRows8(xp, n, d, ra, m8a);
      e.prepareRows(xp, n, d, sb, qb, mb, rb, m8b);
      const bytes = (o: number, len: number): Uint8Array => new Uint8Array(e.memory.buffer, o, len);
      same(bytes(sb, n * 4), bytes(sa, n * 4), `d ${d}: ‖x‖²`);
      same(bytes(qb, n * dEven * 2), bytes(qa, n * dEven * 2), `d ${d}: i16 rows`);
      same(bytes(mb, n * 24), bytes(ma, n * 24), `d ${d}: 16-bit meta`);
      same(bytes(rb, n * d4), bytes(ra, n * d4), `d ${d}: i8 rows`);
      same(bytes(m8b, n * 24), bytes(m8a, n * 24), `d ${d}: 8-bit meta`);
      if (build !== 'simd') {
        const m8 = new Float64Array(e.memory.buffer, m8b, n * 3), q8 = new Int8Array(e.memory.buffer, rb, n * d4);
        for (let i = 0; i < n; i++) {
          const r = roundRow8Ref(x.subarray(i * d, (i + 1) * d));
          if (!r) { expect(m8[i * 3], `d ${d} row ${i}: no 8-bit rounding`).toBeNaN(); continue; }
          same(q8.subarray(i * d4, (i + 1) * d4), r.q, `d ${d} row ${i}: i8 values`);
          for (let t = 0; t < 3; t++) {
            const got = m8[i * 3 + t]!, want = r.meta[t]!;
            expect(Number.isNaN(got) ? Number.isNaN(want) : got === want, `d ${d} row ${i} meta ${t}: ${got} vs ${want}`).toBe(true);
          }
        }
        expect(m8[6 * 3], `d ${d}: a row with ∞ has no 8-bit rounding`).toBeNaN();
        checked8++;
      } else expect(bytes(rb, n * d4).every((v) => v === 0xa5), `d ${d}: no i8 rows without relaxed SIMD`).toBe(true);
    }
    if (build !== 'simd') expect(checked8).toBe(11);
  });
});

/** Whether K's plain assignment takes the 8-bit stage at Q8_MIN_K centroids (dot8 where the engine runs it natively). */
function eightNative(K: Kernels): boolean {
  if (!K.filterStats) return false;
  const d = 128, before = K.filterStats.eight;
  K.assign(blobs(64, d, 4, 97), d, blobs(Q8_MIN_K, d, 8, 98));
  return K.filterStats.eight > before;
}

describe('boundedSession full steps', () => {
  // k 300 (from Q8_FULL_MIN_K, below Q8_MIN_K): full steps take the 8-bit stage where it runs natively, bounded ones never.
  it.each([['auto', 'k=45 d=17 gs=16 shuffled, jumps'], ['scalar', 'k=45 d=17 gs=16 shuffled, jumps'], ['auto', 'k=300 d=128 gs=24 spatial']] as const)(
    '%s, %s: { full: true } computes every row, gives the same bits and leaves bounds the next step uses', async (build, name) => {
    const K = await loadKernels({ build });
    const c = cases.find((x) => x.name.startsWith(name))!;
    const { x, d, k, groupSize: gs } = c;
    const eight: number[] = [], native = eightNative(K);
    const n = x.length / d, G = Math.ceil(k / gs), kb = Math.ceil(k / 8);
    const seq = sequence(c);
    const up = 1 + (d + 2) * 2 ** -24;
    const plan = { groupSize: gs, decay: new Float64Array(256 * G), now: 0, cmax: 0 };
    const s = K.boundedSession!(x, d, k, { groupSize: gs })!;
    const state: AssignBounds = { ...plan, assign: new Int32Array(n), lower: new Float32Array(n * G), epoch: new Uint8Array(n * G),
      xnorm: Float64Array.from(K.sqNorms(x, d), (v) => Math.sqrt(v) * up) };
    const infos: BoundedInfo[] = [];
    for (let t = 0; t < seq.length; t++) {
      const cs = seq[t]!;
      plan.now = t;
      plan.decay.fill(Infinity).fill(0, t * G, (t + 1) * G);
      for (let e = t - 1; e >= 0; e--) plan.decay.set(K.groupDrift(cs, [seq[e]!], d, gs).map((v) => Math.sqrt(v) * (1 + 1e-9)), e * G);
      plan.cmax = Math.sqrt(Math.max(...K.sqNorms(cs, d))) * up * (1 + 1e-9);
      const out = { outIndex: new Int32Array(n), outDist: new Float32Array(n) }, acc = newAcc(k, d, 12, 8);
      const e0 = K.filterStats?.eight ?? 0;
      const info = s.step(cs, acc, plan, { ...out, full: t < 3 });
      eight.push((K.filterStats?.eight ?? 0) - e0);
      infos.push(info);
      const bIndex = new Int32Array(n), bDist = new Float32Array(n), b = newAcc(k, d, 12, 8);
      ref.assignAccumulate(x, d, cs, b, { outIndex: bIndex, outDist: bDist });
      same(out.outIndex, bIndex, `step ${t} index`); same(out.outDist, bDist, `step ${t} dist`); sameAcc(acc, b, `step ${t}`);
      s.read(state);
      for (let i = 0; i < n; i++) {
        if (state.assign[i]! < 0) continue;
        for (let g = 0; g < G; g++) {
          if (t < 3) expect(state.epoch[i * G + g], 'a full step renews every bound').toBe(t);
          const l = state.lower[i * G + g]! - plan.decay[state.epoch[i * G + g]! * G + g]!;
          if (!(l > 0)) continue;
          for (let p = g * gs; p < Math.min(k, (g + 1) * gs); p++) {
            if (p === state.assign[i]) continue;
            expect(l, `step ${t} row ${i} group ${g}`).toBeLessThanOrEqual(trueDist(x, i, cs, p, d));
          }
        }
      }
    }
    for (const info of infos.slice(0, 3)) expect(info).toEqual({ skipped: 0, blocks: n * kb });
    expect(Math.max(...infos.slice(3).map((f) => f.skipped)), 'the steps after the full ones settle rows').toBeGreaterThan(0);
    const eightFull = native && k >= Q8_FULL_MIN_K && K.filtersPlain(d, k);
    expect(eight, 'rows through the 8-bit stage per step').toEqual(eight.map((_, t) => (t < 3 && eightFull ? n : 0)));
    if (name.startsWith('k=300')) expect(k >= Q8_FULL_MIN_K && k < Q8_MIN_K, 'k between the two thresholds').toBe(true);
  });
});

/**
 * A pairs session (one bound per row and centroid, blocks packed by movement) through a case's centroid sequence:
 * every step must give brute force's bits, and every bound it keeps must be a true lower bound. `full`: steps
 * computed in full. Returns the per-step infos.
 */
function runPairs(K: Kernels, c: Case, full: (t: number) => boolean = () => false): BoundedInfo[] {
  const { x, d, k, groupSize: gs } = c;
  const n = x.length / d, G = Math.ceil(k / gs);
  const seq = sequence(c);
  const s = K.boundedSession!(x, d, k, { groupSize: gs, pairs: true })!;
  expect(s.pairs).toBe(true);
  const plan = { groupSize: gs, decay: new Float64Array(256 * G).fill(Infinity), now: 0, cmax: 0 };
  const infos: BoundedInfo[] = [];
  for (let t = 0; t < seq.length; t++) {
    const cs = seq[t]!, what = `${K.build} ${c.name} step ${t}`;
    plan.cmax = Math.max(0, ...norms(cs, d)) * (1 + 1e-9);
    const out = { outIndex: new Int32Array(n), outDist: new Float32Array(n) }, acc = newAcc(k, d, 12, 8);
    infos.push(s.step(cs, acc, plan, { ...out, full: full(t) }));
    const bIndex = new Int32Array(n), bDist = new Float32Array(n), b = newAcc(k, d, 12, 8);
    ref.assignAccumulate(x, d, cs, b, { outIndex: bIndex, outDist: bDist });
    same(out.outIndex, bIndex, `${what} index`); same(out.outDist, bDist, `${what} dist`); sameAcc(acc, b, what);
    const st = s.readPairs();
    for (let i = 0; i < n; i++) {
      const as = st.assign[i]!;
      if (as < 0) continue;
      if (as !== bIndex[i]) expect(`${what} assign[${i}] = ${as}`).toBe(`${what} assign[${i}] = ${bIndex[i]}`);
      for (let cc = 0; cc < k; cc++) {
        if (cc === as) continue;
        const l = st.lower[i * k + cc]! - st.dcum[cc]!;
        if (Number.isNaN(l) || !(l > 0)) continue;
        const td = trueDist(x, i, cs, cc, d);
        if (!(l <= td)) expect(`${what} row ${i} centroid ${cc}: bound ${l} vs distance ${td}`).toBe('a lower bound');
      }
    }
  }
  return infos;
}

const pairVariants = [
  { label: 'auto (SIMD)', load: () => loadKernels({ build: 'auto' }) },
  { label: 'scalar (no filter: assignRows)', load: () => loadKernels({ build: 'scalar' }) },
  { label: 'auto, 16-bit filter on', load: () => loadKernels({ build: 'auto', qFilter: 'on' }) },
];

describe.each(pairVariants)('boundedSession with pair bounds, $label', ({ label, load }) => {
  it.each(cases.filter((c) => c.biasScale === undefined))('$name: brute-force bits every step, every kept bound a true lower bound', async (c) => {
    const K = await load();
    const n = c.x.length / c.d, kb = Math.ceil(c.k / 8);
    const eight = K.filterStats?.eight ?? 0;
    const infos = runPairs(K, c);
    if (K.build === 'dot8' && label.includes('filter on') && c.x.every(Number.isFinite)) {
      expect(K.filterStats!.eight - eight, 'rows through the 8-bit stage').toBeGreaterThan(0);
    }
    expect(infos[0], 'the first step computes every row').toEqual({ skipped: 0, blocks: n * kb });
    for (const f of infos) expect(f.blocks).toBeLessThanOrEqual(n * kb);
    if (!c.roundingDominates && c.jumps === undefined && c.k >= 20) {
      expect(infos.slice(1).some((f) => f.skipped > 0 || f.blocks < n * kb), `${c.name}: later steps skip work`).toBe(true);
    }
  });
});

describe('boundedSession with pair bounds: full steps, skipped work, and misuse', () => {
  it.each(['auto', 'scalar'] as const)('%s: { full: true } renews every bound; once the centroids settle, rows are settled with one distance', async (build) => {
    const K = await loadKernels({ build });
    const c = cases.find((x) => x.name.startsWith('k=200 d=300'))!;
    const n = c.x.length / c.d, kb = Math.ceil(c.k / 8);
    const infos = runPairs(K, c, (t) => t < 2);
    for (const f of infos.slice(0, 2)) expect(f).toEqual({ skipped: 0, blocks: n * kb });
    expect(infos.at(-1)!.skipped, 'settled rows in the last step').toBeGreaterThan(n / 2);
    expect(infos.at(-1)!.blocks).toBeLessThan(n * kb / 4);
  });

  it('bounds kept as u16 units: once the centroids\' movement sums outgrow their range, the state starts afresh (same bits)', async () => {
    const K = await loadKernels();
    const d = 300, k = 24, n = 200;
    const x = blobs(n, d, 6, 71);
    const base = x.slice(0, k * d);
    const s = K.boundedSession!(x, d, k, { groupSize: 8, pairs: true })!;
    const plan = { groupSize: 8, decay: new Float64Array(256 * 3).fill(Infinity), now: 0, cmax: 0 };
    const infos: BoundedInfo[] = [], restarts: number[] = [];
    for (let t = 0; t < 12; t++) {
      // Every centroid swings by ±4 in each coordinate: 8·√300 ≈ 139 per step, more than the rows' norms (~100).
      const cs = base.map((v) => v + (t % 2 === 0 ? 4 : -4));
      plan.cmax = Math.max(0, ...norms(cs, d)) * (1 + 1e-9);
      const out = { outIndex: new Int32Array(n), outDist: new Float32Array(n) }, acc = newAcc(k, d, 12, 8);
      infos.push(s.step(cs, acc, plan, out));
      const bIndex = new Int32Array(n), bDist = new Float32Array(n), b = newAcc(k, d, 12, 8);
      ref.assignAccumulate(x, d, cs, b, { outIndex: bIndex, outDist: bDist });
      same(out.outIndex, bIndex, `step ${t} index`); same(out.outDist, bDist, `step ${t} dist`); sameAcc(acc, b, `step ${t}`);
      const far = Math.max(...s.readPairs().dcum);
      if (t > 0 && far === 0) restarts.push(t);
      expect(far, `step ${t}: movement sums stay within the bounds' range`).toBeLessThan(1200);
    }
    expect(restarts.length, 'steps that started afresh').toBeGreaterThan(0);
    expect(restarts.length, 'but not every step').toBeLessThan(6);
    for (const t of restarts) expect(infos[t], `step ${t} computes every row`).toEqual({ skipped: 0, blocks: n * 3 });
  });

  it('a pairs session takes no bias and no start state, and keeps no group bounds', async () => {
    const K = await loadKernels();
    const c = cases[0]!;
    const { x, d, k, groupSize: gs } = c;
    const n = x.length / d, G = Math.ceil(k / gs);
    const state: AssignBounds = { groupSize: gs, assign: new Int32Array(n).fill(-1), lower: new Float32Array(n * G), epoch: new Uint8Array(n * G),
      decay: new Float64Array(256 * G).fill(Infinity), now: 0, xnorm: norms(x, d), cmax: 0 };
    expect(() => K.boundedSession!(x, d, k, { ...state, pairs: true })).toThrow(/start of a pairs session: expected no per-row state/);
    const s = K.boundedSession!(x, d, k, { groupSize: gs, pairs: true })!;
    const cs = sequence(c)[0]!;
    expect(() => s.step(cs, newAcc(k, d, 12, 8), state, { bias: new Float32Array(k) })).toThrow(/bias of a pairs session step: expected none/);
    expect(() => s.read(state)).toThrow(IvfkitError);
    expect(() => s.write(state)).toThrow(/expected a session with group bounds, got a pairs session/);
    const g = K.boundedSession!(x, d, k, { groupSize: gs })!;
    expect(g.pairs).toBe(false);
    expect(() => g.readPairs()).toThrow(/pair bounds of the session: expected a pairs session/);
  });
});
