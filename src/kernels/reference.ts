import { spatialOrder } from './order.js';
import { expect, IvfkitError, rowsOf } from '../util/errors.js';
import { roundHalfEven } from '../util/fixed.js';
import { PQ_GROUPS, PQ_TOP, type Accumulators, type AssignBounds, type AssignOptions, type AssignResult, type BoundedInfo, type Kernels, type PqAssignOptions,
  type PqBounds, type SqBoundsResult } from './types.js';
import { checkAccumulate, checkAccumulators, checkAssign, checkBounds, checkBoundsBias, checkCentroidOrder, checkDrift, checkPq, checkPqBounds, checkQuery, outF32, outI32, outU8, roundUp32 } from './validate.js';

/*
 * Plain-TS oracle for every kernel. The arithmetic is pinned down in f32 (Math.fround after every
 * operation) and in a fixed order, so the wasm SIMD and scalar builds reproduce it bit for bit:
 *  - row reductions (norms, l2Many, dotMany) use 4 lane sums, lane l taking dims j ≡ l (mod 4) in
 *    order, combined as (s0 + s1) + (s2 + s3);
 *  - assign computes dot(x, c) sequentially over j, then max(0, (‖x‖² + ‖c‖²) − 2·dot) ('l2') or
 *    1 − dot ('dot'), then adds bias[c] for the selection;
 *  - pqAssign computes Σ_j (x_j − c_j)² sequentially over j;
 *  - argmin takes a candidate when it is not NaN and strictly below the best so far (first non-NaN
 *    otherwise), which gives ties → lowest index and −1 when every candidate is NaN.
 * The relaxed-SIMD build fuses multiply-adds, so it matches only within rounding.
 */

const f = Math.fround;

/** ‖x‖² over x[off .. off+dim) in the 4-lane order. */
export function sqNormF32(x: Float32Array, off: number, dim: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 4 <= dim; j += 4) {
    const a = x[off + j]!, b = x[off + j + 1]!, c = x[off + j + 2]!, d = x[off + j + 3]!;
    s0 = f(s0 + f(a * a)); s1 = f(s1 + f(b * b)); s2 = f(s2 + f(c * c)); s3 = f(s3 + f(d * d));
  }
  if (j < dim) { const a = x[off + j]!; s0 = f(s0 + f(a * a)); }
  if (j + 1 < dim) { const a = x[off + j + 1]!; s1 = f(s1 + f(a * a)); }
  if (j + 2 < dim) { const a = x[off + j + 2]!; s2 = f(s2 + f(a * a)); }
  return f(f(s0 + s1) + f(s2 + s3));
}

function l2F32(q: Float32Array, x: Float32Array, off: number, dim: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 4 <= dim; j += 4) {
    const a = f(q[j]! - x[off + j]!), b = f(q[j + 1]! - x[off + j + 1]!);
    const c = f(q[j + 2]! - x[off + j + 2]!), d = f(q[j + 3]! - x[off + j + 3]!);
    s0 = f(s0 + f(a * a)); s1 = f(s1 + f(b * b)); s2 = f(s2 + f(c * c)); s3 = f(s3 + f(d * d));
  }
  if (j < dim) { const a = f(q[j]! - x[off + j]!); s0 = f(s0 + f(a * a)); }
  if (j + 1 < dim) { const a = f(q[j + 1]! - x[off + j + 1]!); s1 = f(s1 + f(a * a)); }
  if (j + 2 < dim) { const a = f(q[j + 2]! - x[off + j + 2]!); s2 = f(s2 + f(a * a)); }
  return f(f(s0 + s1) + f(s2 + s3));
}

function dotStriped(q: Float32Array, x: Float32Array, off: number, dim: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 4 <= dim; j += 4) {
    s0 = f(s0 + f(q[j]! * x[off + j]!)); s1 = f(s1 + f(q[j + 1]! * x[off + j + 1]!));
    s2 = f(s2 + f(q[j + 2]! * x[off + j + 2]!)); s3 = f(s3 + f(q[j + 3]! * x[off + j + 3]!));
  }
  if (j < dim) s0 = f(s0 + f(q[j]! * x[off + j]!));
  if (j + 1 < dim) s1 = f(s1 + f(q[j + 1]! * x[off + j + 1]!));
  if (j + 2 < dim) s2 = f(s2 + f(q[j + 2]! * x[off + j + 2]!));
  return f(f(s0 + s1) + f(s2 + s3));
}

/** Sequential f32 dot product of x[xo ..] and c[co ..] over dim values (the order assign uses). */
export function dotSeqF32(x: Float32Array, xo: number, c: Float32Array, co: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s = f(s + f(x[xo + j]! * c[co + j]!));
  return s;
}

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);
const TWO63 = 2 ** 63;

/** round-half-even(v · 2^shift) saturated to i64, NaN → 0: what wasm's i64.trunc_sat_f64_s(f64.nearest(·)) gives. */
export function fixedI64(v: number, scale: number): bigint {
  const r = roundHalfEven(v * scale);
  if (r !== r) return 0n;
  if (r >= TWO63) return I64_MAX;
  if (r < -TWO63) return I64_MIN;
  return BigInt(r);
}

/** 2^s as a double, exact for |s| ≤ 1000. */
export function pow2(s: number): number {
  return 2 ** s;
}

/**
 * Bound on |kernel l2 distance − true squared distance| for a row of norm xnorm and a centroid of norm
 * ≤ cmax: the f32 sums (norms, sequential dot) and the final add/sub each err by at most
 * (d + 3)·u·(‖x‖ + ‖c‖)²; four times that, plus an absolute term for underflow (assembly/bounded.ts).
 */
export function boundsMargin(dim: number, xnorm: number, cmax: number): number {
  const s = xnorm + cmax;
  return 4 * (dim + 4) * 2 ** -24 * s * s * (1 + 1e-6) + dim * 1e-35;
}

/** A lower bound on the true distance to a centroid whose kernel l2 distance is m. */
function boundFrom(m: number, marg: number): number {
  if (m === Infinity) return Infinity;
  if (m !== m) return -Infinity;
  const t = m - marg;
  return t > 0 ? Math.sqrt(t) * (1 - 1e-12) : 0;
}

function storedBound(l: number): number {
  if (l === Infinity || l === -Infinity) return l;
  return f(l * (1 - 2 ** -22));
}

/** True when bound e (true distance) proves a kernel distance above threshold t (= ub + margin). */
function provesAbove(e: number, t: number): boolean {
  return e > 0 && e * e * (1 - 1e-12) > t;
}

function argminPush(best: number, s: number): boolean {
  return s === s && !(s >= best);
}

/** The reference implementation of {@link Kernels}: slow, simple, and the oracle of the tests. */
export function createReferenceKernels(): Kernels {
  const K: Kernels = {
    build: 'reference',
    filtersPlain: () => false,

    l2Many(q, base, dim, out) {
      const { n, nq } = checkQuery(q, base, dim);
      const o = outF32(out, n * nq, 'out');
      for (let j = 0; j < nq; j++) {
        const qj = q.subarray(j * dim, j * dim + dim);
        for (let i = 0; i < n; i++) o[j * n + i] = l2F32(qj, base, i * dim, dim);
      }
      return o;
    },

    dotMany(q, base, dim, out) {
      const { n, nq } = checkQuery(q, base, dim);
      const o = outF32(out, n * nq, 'out');
      for (let j = 0; j < nq; j++) {
        const qj = q.subarray(j * dim, j * dim + dim);
        for (let i = 0; i < n; i++) o[j * n + i] = dotStriped(qj, base, i * dim, dim);
      }
      return o;
    },

    sqNorms(data, dim, out) {
      const n = rowsOf(data, dim);
      const o = outF32(out, n, 'out');
      for (let i = 0; i < n; i++) o[i] = sqNormF32(data, i * dim, dim);
      return o;
    },

    groupDrift(centroids, previous, dim, groupSize, order) {
      const { k, G } = checkDrift(centroids, previous, dim, groupSize, order);
      const out = new Float64Array(previous.length * G);
      previous.forEach((prev, e) => {
        for (let g = 0; g < G; g++) {
          let m = 0;
          for (let q = g * groupSize; q < Math.min(k, (g + 1) * groupSize); q++) {
            const o = (order ? order[q]! : q) * dim;
            let s0 = 0, s1 = 0, j = 0;
            for (; j + 2 <= dim; j += 2) {
              const v0 = centroids[o + j]! - prev[o + j]!, v1 = centroids[o + j + 1]! - prev[o + j + 1]!;
              s0 += v0 * v0; s1 += v1 * v1;
            }
            if (j < dim) { const v = centroids[o + j]! - prev[o + j]!; s0 += v * v; }
            const t = s0 + s1;
            if (t > m || t !== t) m = t;
          }
          out[e * G + g] = m;
        }
      });
      return out;
    },

    centroidOrder(centroids, dim, groupSize) {
      return spatialOrder(centroids, checkCentroidOrder(centroids, dim, groupSize), dim, groupSize);
    },

    normalize(data, dim, out) {
      const n = rowsOf(data, dim);
      const o = outF32(out, data.length, 'out');
      const tiny = 2 ** -100;
      for (let i = 0; i < n; i++) {
        const off = i * dim;
        let s = sqNormF32(data, off, dim);
        let src: Float32Array = data;
        if (s < tiny || s === Infinity) {
          // Tiny or huge rows: scaled by 2^e (two exact products) so that the largest |value| lies in [1, 2).
          let m = 0;
          for (let j = off; j < off + dim; j++) m = Math.max(m, Math.abs(data[j]!));
          if (m > 0 && m < Infinity) {
            const e = -Math.floor(Math.log2(m));
            const k = m * 2 ** e >= 2 ? e - 1 : m * 2 ** e < 1 ? e + 1 : e;   // log2 rounding near powers of two
            const e1 = k >> 1, e2 = k - e1;
            for (let j = off; j < off + dim; j++) o[j] = f(f(data[j]! * 2 ** e1) * 2 ** e2);
            src = o;
            s = sqNormF32(o, off, dim);
          }
        }
        const norm = f(Math.sqrt(s));
        for (let j = off; j < off + dim; j++) o[j] = f(src[j]! / norm);
      }
      return o;
    },

    maxAbs(data) {
      expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data);
      let m = 0;
      for (let i = 0; i < data.length; i++) {
        const v = Math.abs(data[i]!);
        if (v > m && v < Infinity) m = v;
      }
      return m;
    },

    finiteMask(data, dim, out) {
      const n = rowsOf(data, dim);
      const mask = outU8(out, n, 'out');
      let count = 0;
      for (let i = 0; i < n; i++) {
        let ok = 1;
        for (let j = i * dim; j < (i + 1) * dim; j++) if (!Number.isFinite(data[j]!)) { ok = 0; break; }
        mask[i] = ok;
        count += ok;
      }
      return { mask, count };
    },

    assign(data, dim, centroids, opts: AssignOptions = {}): AssignResult {
      const { n, k, metric } = checkAssign(data, dim, centroids, opts);
      const index = outI32(opts.outIndex, n, 'outIndex');
      const dist = outF32(opts.outDist, n, 'outDist');
      const bias = opts.bias;
      const second = opts.outSecond ? outF32(opts.outSecond, n, 'outSecond') : undefined;
      const all = opts.outAll ? outF32(opts.outAll, n * k, 'outAll') : undefined;
      const cn = new Float32Array(k);
      if (metric === 'l2') for (let c = 0; c < k; c++) cn[c] = sqNormF32(centroids, c * dim, dim);
      for (let i = 0; i < n; i++) {
        const xn = metric === 'l2' ? sqNormF32(data, i * dim, dim) : 0;
        let best = NaN, bestD = NaN, bestI = -1, sec = Infinity;
        for (let c = 0; c < k; c++) {
          const dot = dotSeqF32(data, i * dim, centroids, c * dim, dim);
          const d = metric === 'l2' ? Math.max(f(f(xn + cn[c]!) - f(2 * dot)), 0) : f(1 - dot);
          if (all) all[i * k + c] = d;
          const s = bias ? f(d + bias[c]!) : d;
          if (argminPush(best, s)) {
            if (best < sec) sec = best;
            best = s; bestD = d; bestI = c;
          } else if (s < sec) {
            sec = s;
          }
        }
        index[i] = bestI;
        dist[i] = bestD;
        if (second) second[i] = sec;
      }
      return { index, dist };
    },

    accumulate(data, dim, index, dist, acc: Accumulators) {
      const { n, k } = checkAccumulate(data, dim, index, dist, acc);
      const scale = pow2(acc.shift), lscale = pow2(acc.lossShift);
      const { sums, counts, clusterLoss, radius } = acc;
      for (let i = 0; i < n; i++) {
        const c = index[i]!;
        if (c < 0) continue;
        if (c >= k) throw new IvfkitError('invalid-argument', `index[${i}]: expected < ${k}, got ${c}`);
        const base = c * dim;
        for (let j = 0; j < dim; j++) sums[base + j] = sums[base + j]! + fixedI64(data[i * dim + j]!, scale);
        counts[c] = counts[c]! + 1;
        clusterLoss[c] = clusterLoss[c]! + fixedI64(dist[i]!, lscale);
        if (dist[i]! > radius[c]!) radius[c] = dist[i]!;
      }
    },

    assignAccumulate(data, dim, centroids, acc: Accumulators, opts: AssignOptions = {}) {
      const { n, k } = checkAssign(data, dim, centroids, opts);
      checkAccumulators(acc, k, dim);
      const r = K.assign(data, dim, centroids, { ...opts, outIndex: outI32(opts.outIndex, n, 'outIndex'), outDist: outF32(opts.outDist, n, 'outDist') });
      K.accumulate(data, dim, r.index.subarray(0, n), r.dist.subarray(0, n), acc);
    },

    assignAccumulateBounded(data, dim, centroids, acc: Accumulators, bounds: AssignBounds, opts = {}): BoundedInfo {
      const { n, k } = checkAssign(data, dim, centroids, opts.bias ? { bias: opts.bias } : {});
      checkAccumulators(acc, k, dim);
      const G = checkBounds(bounds, n, k);
      checkBoundsBias(opts.bias);
      const index = outI32(opts.outIndex, n, 'outIndex');
      const dist = outF32(opts.outDist, n, 'outDist');
      const bias = opts.bias;
      const { groupSize: gs, assign, lower, epoch, decay, now, xnorm, cmax } = bounds;
      const order = bounds.order ?? Int32Array.from({ length: k }, (_, c) => c);
      const group = new Int32Array(k);
      for (let p = 0; p < k; p++) group[order[p]!] = Math.floor(p / gs);
      const minB = new Float64Array(G).fill(bias ? Infinity : 0);
      if (bias) for (let c = 0; c < k; c++) minB[group[c]!] = Math.min(minB[group[c]!]!, bias[c]!);
      const cn = new Float64Array(k);
      for (let c = 0; c < k; c++) cn[c] = sqNormF32(centroids, c * dim, dim);
      const kdist = (i: number, xn: number, c: number): number =>
        Math.max(f(f(xn + cn[c]!) - f(2 * dotSeqF32(data, i * dim, centroids, c * dim, dim))), 0);
      const sel = (v: number, c: number): number => (bias ? f(v + bias[c]!) : v);
      const wins = (v: number, c: number, bs: number, bi: number): boolean => v === v && (bi < 0 || v < bs || (v === bs && c < bi));
      let skipped = 0, blocks = 0;
      for (let i = 0; i < n; i++) {
        const xn = sqNormF32(data, i * dim, dim);
        const a = assign[i]!;
        let ub = NaN, us = NaN, t = Infinity;
        if (a >= 0) {
          ub = kdist(i, xn, a);
          us = sel(ub, a);
          if (us < Infinity) t = (bias ? us * (1 + 2 ** -21) + 1e-37 : us) + boundsMargin(dim, xnorm[i]!, cmax);
        }
        const need = new Uint8Array(G);
        const at = (g: number): number => lower[i * G + g]! - decay[epoch[i * G + g]! * G + g]!;
        let any = false;
        for (let g = 0; g < G; g++) {
          need[g] = t < Infinity && provesAbove(at(g), t - minB[g]!) ? 0 : 1;
          if (need[g]) any = true;
        }
        if (!any) { index[i] = a; dist[i] = ub; skipped++; continue; }
        let bs = NaN, bi = -1, bd = NaN;
        const m1 = new Float64Array(G).fill(Infinity), m2 = new Float64Array(G).fill(Infinity);
        for (let g = 0; g < G; g++) {
          if (!need[g]) continue;
          const p1 = Math.min(k, (g + 1) * gs);
          blocks += Math.ceil((p1 - g * gs) / 8);
          for (let p = g * gs; p < p1; p++) {
            const c = order[p]!;
            const v = kdist(i, xn, c), sv = sel(v, c);
            if (wins(sv, c, bs, bi)) { bs = sv; bi = c; bd = v; }
            if (v !== v || m1[g] !== m1[g]) { m1[g] = NaN; m2[g] = NaN; } else if (v < m1[g]!) { m2[g] = m1[g]!; m1[g] = v; } else if (v < m2[g]!) m2[g] = v;
          }
        }
        if (a >= 0 && wins(us, a, bs, bi)) { bs = us; bi = a; bd = ub; }
        index[i] = bi;
        dist[i] = bi < 0 ? NaN : bd;
        if (bi < 0 || !(bd < Infinity) || !(bs < Infinity) || !(xnorm[i]! < Infinity) || !(xn < Infinity)) { assign[i] = -1; continue; }
        assign[i] = bi;
        const marg = boundsMargin(dim, xnorm[i]!, cmax);
        const gNew = group[bi]!, gOld = a >= 0 ? group[a]! : -1;
        for (let g = 0; g < G; g++) {
          if (need[g]) lower[i * G + g] = storedBound(boundFrom(g === gNew && bd <= m1[g]! ? m2[g]! : m1[g]!, marg));
          else if (g === gOld && bi !== a) lower[i * G + g] = Math.min(storedBound(at(g)), storedBound(boundFrom(ub, marg)));
          else continue;
          epoch[i * G + g] = now;
        }
      }
      K.accumulate(data, dim, index.subarray(0, n), dist.subarray(0, n), acc);
      return { skipped, blocks };
    },

    pqAssignAccumulate(data, dim, codebook, m, ksub, acc: Accumulators, opts: PqAssignOptions = {}) {
      const { n, ds } = checkPq(data, dim, codebook, m, ksub);
      checkAccumulators(acc, m * ksub, ds);
      const r = K.pqAssign(data, dim, codebook, m, ksub, opts);
      const index = r.index.slice(0, n * m);
      for (let p = 0; p < n * m; p++) if (index[p]! >= 0) index[p] = index[p]! + (p % m) * ksub;
      K.accumulate(data, ds, index, r.dist.subarray(0, n * m), acc);
    },

    pqAssignAccumulateBounded(data, dim, codebook, m, ksub, acc: Accumulators, bounds: PqBounds,
      opts: PqAssignOptions & { margin?: 0 | 1 } = {}): number {
      const { n, ds } = checkPq(data, dim, codebook, m, ksub);
      checkAccumulators(acc, m * ksub, ds);
      checkPqBounds(bounds, n, m, ksub);
      const index = outI32(opts.outIndex, n * m, 'outIndex');
      const dist = outF32(opts.outDist, n * m, 'outDist');
      const skipped = pqBoundedRef(data, dim, codebook, m, ksub, ds, n, bounds, opts.margin ?? 1, index, dist);
      const global = index.slice(0, n * m);
      for (let p = 0; p < n * m; p++) if (global[p]! >= 0) global[p] = global[p]! + (p % m) * ksub;
      K.accumulate(data, ds, global, dist.subarray(0, n * m), acc);
      return skipped;
    },

    pqAssign(data, dim, codebook, m, ksub, opts: PqAssignOptions = {}): AssignResult {
      const { n, ds } = checkPq(data, dim, codebook, m, ksub);
      const index = outI32(opts.outIndex, n * m, 'outIndex');
      const dist = outF32(opts.outDist, n * m, 'outDist');
      pqRef(data, dim, codebook, m, ksub, ds, n, (o, c, d) => { index[o] = c; dist[o] = d; });
      return { index, dist };
    },

    pqEncode(data, dim, codebook, m, nbits, out) {
      expect(nbits === 4 || nbits === 8, 'invalid-argument', 'nbits', '4 or 8', nbits);
      const ksub = 1 << nbits;
      const { n, ds } = checkPq(data, dim, codebook, m, ksub);
      if (nbits === 4) expect(m % 2 === 0, 'invalid-argument', 'm for 4-bit codes', 'an even number', m);
      const bytes = nbits === 8 ? n * m : (n * m) / 2;
      const o = outU8(out, bytes, 'out');
      if (nbits === 4) o.fill(0, 0, bytes);
      pqRef(data, dim, codebook, m, ksub, ds, n, (p, c) => {
        const code = c < 0 ? 0 : c;
        if (nbits === 8) o[p] = code;
        else o[p >> 1] = o[p >> 1]! | (p & 1 ? code << 4 : code);
      });
      return o;
    },

    sqBounds(data, dim): SqBoundsResult {
      const n = rowsOf(data, dim);
      let lower = Infinity, upper = -Infinity, rows = 0;
      for (let i = 0; i < n; i++) {
        let ok = true;
        let lo = Infinity, hi = -Infinity;
        for (let j = i * dim; j < (i + 1) * dim; j++) {
          const v = data[j]!;
          if (!Number.isFinite(v)) { ok = false; break; }
          lo = Math.min(lo, v); hi = Math.max(hi, v);
        }
        if (!ok) continue;
        rows++;
        lower = Math.min(lower, lo); upper = Math.max(upper, hi);
      }
      return { lower, upper, rows };
    },

    sqEncode(data, lower, upper, out) {
      const o = outU8(out, data.length, 'out');
      const range = upper - lower;
      for (let i = 0; i < data.length; i++) o[i] = sqCode(data[i]!, lower, range);
      return o;
    },
  };
  return K;
}

/** One SQ code: trunc((v − lo)·255/(hi − lo)) saturated to 0..255 (NaN → 0, hi == lo → 0), in f64. */
export function sqCode(v: number, lower: number, range: number): number {
  if (range === 0) return 0;
  const t = ((v - lower) * 255) / range;
  if (!(t > 0)) return 0;
  if (t >= 255) return 255;
  return Math.trunc(t);
}

function pqRef(data: Float32Array, dim: number, codebook: Float32Array, m: number, ksub: number, ds: number,
  n: number, emit: (pos: number, code: number, dist: number) => void): void {
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++) {
      const xo = i * dim + s * ds;
      let best = NaN, bestI = -1;
      for (let c = 0; c < ksub; c++) {
        const co = (s * ksub + c) * ds;
        let acc = 0;
        for (let j = 0; j < ds; j++) {
          const t = f(data[xo + j]! - codebook[co + j]!);
          acc = f(acc + f(t * t));
        }
        if (argminPush(best, acc)) { best = acc; bestI = c; }
      }
      emit(i * m + s, bestI, best);
    }
  }
}

/** Σ_j (x_j − c_j)² sequentially in f32 (pqAssign's distance). */
function pqDist(data: Float32Array, xo: number, codebook: Float32Array, co: number, ds: number): number {
  let acc = 0;
  for (let j = 0; j < ds; j++) {
    const t = f(data[xo + j]! - codebook[co + j]!);
    acc = f(acc + f(t * t));
  }
  return acc;
}

/** 2^-23, 2^-125 and 1 − 2^-22 (assembly/pq.ts, bounded PQ). */
const P23 = 2 ** -23, P125 = 2 ** -125, DOWN = 1 - 2 ** -22;

/** The bound from the exact second-best sum, as assembly/pq.ts lowerFromExact. */
function lowerFromExact(s2: number, ds: number, margin: number): number {
  if (!(s2 < Infinity)) return 0;
  const g = (ds + 4) * P23 * margin, e = (ds + 4) * P125 * margin;
  const t = (s2 - e) / (1 + g);
  if (!(t > 0)) return 0;
  return f(Math.sqrt(t) * (1 - (1 - DOWN) * margin));
}

/** Exact search of one sub-vector (sub-space s): the best sum, its code (−1: none) and the second-best sum
 *  (as assembly/pq.ts pqExactSecond). */
function exactSecond(data: Float32Array, xo: number, codebook: Float32Array, s: number, ksub: number, ds: number): { bs: number; bi: number; s2: number } {
  let bs = NaN, bi = -1, s2 = Infinity;
  for (let c = 0; c < ksub; c++) {
    const v = pqDist(data, xo, codebook, (s * ksub + c) * ds, ds);
    if (v !== v) continue;
    if (bi < 0) { bs = v; bi = c; continue; }
    if (v < bs) { s2 = bs; bs = v; bi = c; } else if (v < s2) s2 = v;
  }
  return { bs, bi, s2 };
}

/** Bounded PQ assignment (the exact-second variant of assembly/pq.ts pqAssignBounded). */
function pqBoundedRef(data: Float32Array, dim: number, codebook: Float32Array, m: number, ksub: number, ds: number, n: number,
  bounds: PqBounds, margin: number, index: Int32Array, dist: Float32Array): number {
  const g = (ds + 4) * P23 * margin, e = (ds + 4) * P125 * margin, slack = 1 - 1e-12 * margin;
  const down = 1 - (1 - DOWN) * margin;
  if (bounds.groups) return pqGroupedRef(data, dim, codebook, m, ds, n, bounds, margin, index, dist);
  const { assign, lower, drift, top, restDrift } = bounds;
  let skipped = 0;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++) {
      const p = i * m + s, xo = i * dim + s * ds;
      const a = assign[p]!;
      if (a >= 0) {
        const l = lower[p]! - (a === drift[3 * s + 2] ? drift[3 * s + 1]! : drift[3 * s]!);
        let dv = NaN;
        if (l > 0) {
          dv = pqDist(data, xo, codebook, (s * ksub + a) * ds, ds);
          if ((l * l * (1 - g) - e) * slack > dv && dv < Infinity) {
            index[p] = a; dist[p] = dv; lower[p] = f(l * down); skipped++;
            continue;
          }
        }
        if (top && restDrift) {
          const lr = lower[p]! - restDrift[s]!;
          if (lr > 0) {
            if (l <= 0) dv = pqDist(data, xo, codebook, (s * ksub + a) * ds, ds);
            if ((lr * lr * (1 - g) - e) * slack > dv && dv < Infinity) {
              let mn = Infinity, keeps = true;
              for (let h = 0; h < PQ_TOP && keeps; h++) {
                const c = top[s * PQ_TOP + h]!;
                if (c < 0 || c === a) continue;
                const v = pqDist(data, xo, codebook, (s * ksub + c) * ds, ds);
                if (!(v > dv || (v === dv && c > a))) keeps = false;
                mn = Math.min(mn, v);
              }
              if (keeps) {
                const lb = f(lr * down);
                index[p] = a; dist[p] = dv; lower[p] = mn < Infinity ? Math.min(lb, lowerFromExact(mn, ds, margin)) : lb; skipped++;
                continue;
              }
            }
          }
        }
      }
      const { bs, bi, s2 } = exactSecond(data, xo, codebook, s, ksub, ds);
      index[p] = bi; dist[p] = bs;
      const lb = bi < 0 ? -1 : lowerFromExact(s2, ds, margin);
      const ok = bi >= 0 && lb >= 0;
      assign[p] = ok ? bi : -1;
      lower[p] = ok ? lb : 0;
    }
  }
  return skipped;
}

/** Bounded PQ assignment with group bounds (the scalar build of assembly/pqgroups.ts pqAssignGrouped). */
function pqGroupedRef(data: Float32Array, dim: number, codebook: Float32Array, m: number, ds: number, n: number,
  bounds: PqBounds, margin: number, index: Int32Array, dist: Float32Array): number {
  const ksub = 256, G = PQ_GROUPS, gr = bounds.groups!, assign = bounds.assign;
  const g1 = 1 - (ds + 4) * P23 * margin, e = (ds + 4) * P125 * margin, slack = 1 - 1e-12 * margin;
  const df = margin > 0 ? f(DOWN) : 1;
  const gd = Float32Array.from(gr.drift, roundUp32);
  const inv = new Int32Array(m * ksub);
  for (let p = 0; p < m * ksub; p++) inv[Math.floor(p / ksub) * ksub + gr.perm[p]!] = p % ksub;
  const fails = (l: number, best: number): boolean => !(l > 0 && (l * l * g1 - e) * slack > best);
  const k1 = 1 / (slack * g1), k2 = e / g1, rg = 1 / (1 + (ds + 4) * P23 * margin), down = 1 - (1 - DOWN) * margin;
  const threshold = (best: number): number => roundUp32(Math.sqrt(best * k1 + k2) * (1 + 2 ** -40));
  const lowerGroup = (v: number): number => {
    if (!(v < Infinity)) return 0;
    const t = (v - e) * rg;
    return t > 0 ? f(Math.sqrt(t) * down) : 0;
  };
  const w = new Float32Array(G);
  let skipped = 0;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++) {
      const p = i * m + s, xo = i * dim + s * ds, go = p * G;
      const a = assign[p]!;
      const dv = pqDist(data, xo, codebook, (s * ksub + Math.max(0, a)) * ds, ds);
      if (a >= 0 && dv < Infinity) {
        let lo = Infinity;
        for (let g = 0; g < G; g++) {
          const l = Math.max(f(f(bf16(gr.lower[go + g]!) - gd[s * G + g]!) * df), 0);
          w[g] = l;
          lo = Math.min(lo, l);
        }
        if (!fails(lo, dv)) { index[p] = a; dist[p] = dv; toBf16(w, gr.lower, go); skipped++; continue; }
        let bs = dv, bc = a, bq = inv[s * ksub + a]!, bg = -1, tau = threshold(bs);
        const ga = bq >> 4, found: { g: number; m1: number; sums: number[] }[] = [];
        const need: number[] = [];
        for (let g = 0; g < G; g++) if (w[g]! <= tau) need.push(g);
        for (const g of need) {
          if (w[g]! > tau) continue;
          const sums: number[] = [];
          let m1 = Infinity, q1 = -1, c1 = 2 ** 31 - 1;
          for (let l = 0; l < 16; l++) {
            const q = 16 * g + l, c = gr.perm[s * ksub + q]!;
            const v = pqDist(data, xo, codebook, (s * ksub + c) * ds, ds);
            sums.push(v);
            if (v < m1 || (v === m1 && c < c1)) { m1 = v; q1 = q; c1 = c; }
          }
          found.push({ g, m1, sums });
          if (q1 >= 0 && (m1 < bs || (m1 === bs && c1 < bc))) { bs = m1; bq = q1; bc = c1; bg = g; tau = threshold(bs); } else if (g === ga && bc === a) bg = g;
        }
        let aSearched = false;
        for (const { g, m1, sums } of found) {
          let v = m1;
          if (g === bg) {
            v = Infinity;
            for (let l = 0; l < 16; l++) if (16 * g + l !== bq) v = Number.isNaN(sums[l]!) || Number.isNaN(v) ? NaN : Math.min(v, sums[l]!);
          }
          w[g] = lowerGroup(v);
          if (g === ga) aSearched = true;
        }
        if (!aSearched && bc !== a) w[ga] = Math.min(w[ga]!, lowerGroup(dv));
        toBf16(w, gr.lower, go);
        index[p] = bc; dist[p] = bs; assign[p] = bc;
        continue;
      }
      const { bs, bi, s2 } = exactSecond(data, xo, codebook, s, ksub, ds);
      index[p] = bi; dist[p] = bs;
      const lb = bi < 0 ? -1 : lowerFromExact(s2, ds, margin);
      assign[p] = bi >= 0 && lb >= 0 ? bi : -1;
      w.fill(Math.max(0, lb));
      toBf16(w, gr.lower, go);
    }
  }
  return skipped;
}

const bfF = new Float32Array(16), bfU = new Uint32Array(bfF.buffer);

/** bfloat16 bits → f32. */
function bf16(h: number): number {
  bfU[0] = h << 16;
  return bfF[0]!;
}

/** 16 non-negative f32 → bfloat16 bits (truncated: rounded down) at out[o ..]. */
function toBf16(w: Float32Array, out: Uint16Array, o: number): void {
  bfF.set(w);
  for (let g = 0; g < 16; g++) out[o + g] = bfU[g]! >>> 16;
}
