import { fmadd, hmax4, sqNormRow, tileDist } from './common';
import { assignRows } from './assign';

// Exact l2 assignment through a 16-bit filter. Rows and centroids are rounded to integers times a power
// of two (at most qmax in magnitude, so a chunk of 128 products fits i32) and every distance is first
// estimated by i32x4.dot_i16x8_s, twice the f32 tile's throughput. E bounds |estimate − f32 distance|
// for a row over all centroids (quantization error by Cauchy–Schwarz plus the f32 tile's rounding).
// A row whose estimated best beats its second by more than 2E has the same winner as the f32 kernel;
// otherwise every centroid whose estimate lies within 2E of the best is computed exactly. Exact values
// come from the f32 tile's own instruction sequence, so index and distance are assignRows' bits.
// With a bias b ≥ 0 per slot (Lance's balance term) the choice is on S = fl(D + b) as in assignRows: the
// filter ranks e' = fl(estimate + b) and its windows (biasedUpper, biasedReach) also cover the two f32
// roundings of the sums; exact values are compared as fl(D + b).

const BLOCK: i32 = 8;
const SUPER_BYTES: i32 = 192 * 1024;
const GROUP: i32 = 32;
const U: f64 = 5.9604644775390625e-8; // 2^-24
/** |y − fl(y)| ≤ RHO·|fl(y)| for an f32 rounding (normal range). */
const RHO: f64 = U / (1 - U);
const EXACT = memory.data(32, 16);
/** Rows settled by their estimates whose distance to the chosen slot is still to compute (4 at a time). */
export const DECIDED = memory.data(16, 16);

/**
 * Row i is decided for slot s: its index is stored; its distance is the caller's kd[i] when ks[i] = s (ks ≠ 0), else
 * the row joins DECIDED (nd rows there) and every fourth one sends the four through exact4. Returns the new nd.
 */
// @ts-ignore: decorator
@inline export function decided(i: i32, s: i32, nd: i32, ks: usize, kd: usize, x: usize, stride: usize, rp: usize, d: i32, packed: usize,
  cn: usize, xn: usize, outIndex: usize, outDist: usize): i32 {
  store<i32>(outIndex + (<usize>i << 2), s);
  if (ks != 0 && load<i32>(ks + (<usize>i << 2)) == s) { store<f32>(outDist + (<usize>i << 2), load<f32>(kd + (<usize>i << 2))); return nd; }
  store<i32>(DECIDED + (<usize>nd << 2), i);
  if (++nd < 4) return nd;
  exact4(x, stride, rp, d, packed, cn, xn, outIndex, outDist);
  return 0;
}

/** Bytes of one i32 chunk of the tile sums: 64 pairs of dims. */
const CHUNK_BYTES: usize = 256;

/** Largest |q| such that the products of one chunk (128 dims, or d rounded up to even when shorter) sum within i32. */
// @ts-ignore: decorator
@inline function qmaxOf(d: i32): f64 {
  const dp = min((d + 1) & ~1, 128);
  return min<f64>(32767, Math.floor(Math.sqrt(2147483647.0 / <f64>dp)));
}

/** The smallest power of two s with m / s ≤ qmax (1 when m = 0). */
// @ts-ignore: decorator
@inline export function scaleOf(m: f64, qmax: f64): f64 {
  if (m == 0) return 1;
  const t = m / qmax;
  const e = <i32>((reinterpret<u64>(t) >> 52) & 0x7ff) - 1023;
  return reinterpret<f64>(<u64>(e + 1 + 1023) << 52);
}

/**
 * With a bias: an upper bound on the selection value fl(D + b) of the slot whose e' = fl(estimate + b) is e1 (its
 * bias bb, the row's E): D ≤ max(0, estimate + E) and estimate + b ≤ e' + ρ|e'|.
 */
// @ts-ignore: decorator
@inline export function biasedUpper(e1: f64, bb: f64, e: f64): f64 {
  return (max<f64>(bb, e1 + RHO * abs<f64>(e1) + e) * (1 + U) + 1e-38) * (1 + 1e-12);
}

/**
 * With a bias: a slot whose e' exceeds this value has a selection value above u, since fl(D + b) ≥
 * (e'·(1 − ρ) − E)·(1 − u) for e' ≥ 0. Every slot that could reach u is at or below it.
 */
// @ts-ignore: decorator
@inline export function biasedReach(u: f64, e: f64): f64 {
  return ((u / (1 - U) + e) / (1 - RHO) + 1e-38) * (1 + 1e-12);
}

/** An f32 threshold ≥ t. */
// @ts-ignore: decorator
@inline export function upF32(t: f64): f32 {
  let v = <f32>t;
  if (<f64>v < t) v = nextUp(v);
  return v;
}

/** Bytes of the quantized centroids: kb blocks × d/2 pairs × 32 bytes. */
export function assignQCentroidBytes(kb: i32, d: i32): i32 {
  return kb * ((d + 1) >> 1) * 32;
}

/** Scratch of assignRowsQ for n rows (n a multiple of 4): n·(2·dpad + 96) + 64 bytes (≥ assignRows' n·68 + 16). */
export function assignQScratchBytes(n: i32, d: i32): i32 {
  return n * ((((d + 1) & ~1) << 1) + 96) + 64;
}

/**
 * Quantizes the packed centroids (packCentroids' layout) into qc: per block and pair of dims, 16 i16 as
 * [c0(2p), c0(2p+1), c1(2p), …, c3] [c4 … c7]. cnq = cn with +Inf on padding slots. info (f64 × 4):
 * scale, max ‖c̃‖, max ‖c − c̃‖, max ‖c‖ (upper bounds). Returns 0 (unusable) for the scalar build or a
 * non-finite centroid, else 1.
 */
export function packCentroidsQ(packed: usize, kb: i32, d: i32, k: i32, cn: usize, qc: usize, cnq: usize, info: usize): i32 {
  if (ASC_FEATURE_SIMD) return packQ(packed, kb, d, k, cn, qc, cnq, info);
  return 0;
}

function packQ(packed: usize, kb: i32, d: i32, k: i32, cn: usize, qc: usize, cnq: usize, info: usize): i32 {
  const kPad = kb * BLOCK;
  let m: f32 = 0, cmax: f32 = 0;
  const total = <usize>kb * <usize>d * BLOCK;
  for (let t: usize = 0; t < total; t++) {
    const v = abs<f32>(load<f32>(packed + (t << 2)));
    if (!(v <= 3.4028234663852886e38)) return 0;
    m = max<f32>(m, v);
  }
  for (let c = 0; c < kPad; c++) {
    if (c >= k) { store<f32>(cnq + (<usize>c << 2), Infinity); continue; }
    const v = load<f32>(cn + (<usize>c << 2));
    if (!(v <= 3.4028234663852886e38)) return 0;
    cmax = max<f32>(cmax, v);
    store<f32>(cnq + (<usize>c << 2), v);
  }
  const s = scaleOf(<f64>m, qmaxOf(d));
  if (!(s >= 1e-30 && s <= 1e30) || !(cmax <= 1e37)) return 0;
  const inv = f32x4.splat(<f32>(1 / s)), sv = f32x4.splat(<f32>s);
  const pairs = (d + 1) >> 1;
  const z = f32x4.splat(0);
  let mt: f32 = 0, me: f32 = 0;
  for (let b = 0; b < kb; b++) {
    const src = packed + <usize>b * <usize>d * 32;
    const dst = qc + <usize>b * <usize>pairs * 32;
    let t0 = z, t1 = z, e0 = z, e1 = z;
    for (let p = 0; p < pairs; p++) {
      const j = p << 1;
      const a = src + (<usize>j << 5);
      const a0 = v128.load(a), a1 = v128.load(a, 16);
      const odd = j + 1 < d;
      const b0 = odd ? v128.load(a, 32) : z, b1 = odd ? v128.load(a, 48) : z;
      const qa0 = f32x4.nearest(f32x4.mul(a0, inv)), qa1 = f32x4.nearest(f32x4.mul(a1, inv));
      const qb0 = f32x4.nearest(f32x4.mul(b0, inv)), qb1 = f32x4.nearest(f32x4.mul(b1, inv));
      const ra0 = f32x4.mul(qa0, sv), ra1 = f32x4.mul(qa1, sv), rb0 = f32x4.mul(qb0, sv), rb1 = f32x4.mul(qb1, sv);
      t0 = f32x4.add(t0, f32x4.add(f32x4.mul(ra0, ra0), f32x4.mul(rb0, rb0)));
      t1 = f32x4.add(t1, f32x4.add(f32x4.mul(ra1, ra1), f32x4.mul(rb1, rb1)));
      const da0 = f32x4.sub(a0, ra0), da1 = f32x4.sub(a1, ra1), db0 = f32x4.sub(b0, rb0), db1 = f32x4.sub(b1, rb1);
      e0 = f32x4.add(e0, f32x4.add(f32x4.mul(da0, da0), f32x4.mul(db0, db0)));
      e1 = f32x4.add(e1, f32x4.add(f32x4.mul(da1, da1), f32x4.mul(db1, db1)));
      const lo = v128.and(i32x4.trunc_sat_f32x4_s(qa0), i32x4.splat(0xffff));
      const hi = i32x4.shl(i32x4.trunc_sat_f32x4_s(qb0), 16);
      v128.store(dst + (<usize>p << 5), v128.or(lo, hi));
      const lo1 = v128.and(i32x4.trunc_sat_f32x4_s(qa1), i32x4.splat(0xffff));
      const hi1 = i32x4.shl(i32x4.trunc_sat_f32x4_s(qb1), 16);
      v128.store(dst + (<usize>p << 5), v128.or(lo1, hi1), 16);
    }
    mt = max<f32>(mt, hmax4(f32x4.max(t0, t1)));
    me = max<f32>(me, hmax4(f32x4.max(e0, e1)));
  }
  // f32 sums of d squares: relative error below (d + 2)·2^-24.
  const w = 1 + <f64>(d + 4) * U;
  store<f64>(info, s);
  store<f64>(info, Math.sqrt(<f64>mt * w) * (1 + U), 8);
  store<f64>(info, Math.sqrt(<f64>me * w) * (1 + U), 16);
  store<f64>(info, Math.sqrt(<f64>cmax * w) * (1 + U), 24);
  return 1;
}

/**
 * assignRows (l2, no second/all outputs) through the 16-bit filter; the same index and distance
 * bits. bias (0 = none): per packed slot, ≥ 0 and finite, as packCentroids pads it. n a multiple of 4. Rows with a non-finite norm, or scales out of range, send the whole call to
 * assignRows. est (0 = none): room for n·kb·8 f32; the first pass keeps every estimate there and the
 * exact pass reads its candidates from them instead of estimating again. Returns the number of rows
 * that needed the exact pass over their near centroids, or −1 when the call went to assignRows.
 */
export function assignRowsQ(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, k: i32, qc: usize, cnq: usize, info: usize,
  scratch: usize, outIndex: usize, outDist: usize, est: usize, bias: usize): i32 {
  if (ASC_FEATURE_SIMD) return assignQ(x, n, d, packed, kb, cn, k, qc, cnq, info, scratch, outIndex, outDist, 0, est, 0, 0, 0, 0, 0, 0, 0, bias);
  return fallback(x, n, d, packed, kb, cn, k, scratch, outIndex, outDist, bias);
}

/**
 * assignRowsQ for the bounded kernel's brute-force rows: outIndex receives slots; among equal exact
 * distances the slot whose ord (centroid id) is lowest wins; est (f32 × n·kb·8) receives every estimate
 * (+Inf on padding slots) and err (f64 × n) each row's E, so that a centroid's f32 distance is ≥ its
 * estimate − E. Returns −1, with nothing written, when the call must go to assignRows (and always in
 * the scalar build). qx (0 = round them here): the rows already rounded by roundRow (n × d rounded up to even
 * i16), with their meta (f64 × 3 each) and ‖x‖² as sqNorms gives it (nx, f32 × n). rp (0 = none): the rows are
 * not at x but at rp[i] (u32 addresses). ks / kd (0 = none): per row a slot (−1 = none) whose exact distance the
 * caller already has (kd, the bits this kernel would compute): a row decided for that slot takes it as is. bias (0 = none):
 * per slot, as assignRowsQ; the estimates kept in est stay unbiased (they bound D).
 */
export function assignQWithEstimates(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, k: i32, qc: usize, cnq: usize,
  info: usize, scratch: usize, outIndex: usize, outDist: usize, ord: usize, est: usize, err: usize, qx: usize, meta: usize, nx: usize,
  rp: usize, ks: usize, kd: usize, bias: usize): i32 {
  if (ASC_FEATURE_SIMD) return assignQ(x, n, d, packed, kb, cn, k, qc, cnq, info, scratch, outIndex, outDist, ord, est, err, qx, meta, nx, rp, ks, kd, bias);
  return -1;
}

function assignQ(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, k: i32, qc: usize, cnq: usize, info: usize,
  scratch: usize, outIndex: usize, outDist: usize, ord: usize, est: usize, err: usize, qxIn: usize, metaIn: usize, nxIn: usize, rp: usize,
  ks: usize, kd: usize, bias: usize): i32 {
  const dp = (d + 1) & ~1;
  const qstride = <usize>dp << 1;
  const xn = (scratch + 15) & ~<usize>15;
  const s2 = xn + (<usize>n << 2);
  const thr = s2 + (<usize>n << 2);
  const state = (thr + (<usize>n << 3) + 15) & ~<usize>15;
  const pend = state + <usize>n * 48;
  const qx = qxIn != 0 ? qxIn : pend + (<usize>n << 2);
  const stride = <usize>d << 2;
  for (let i = 0; i < n; i++) {
    const row = rowAt(x, stride, rp, i);
    const nx = nxIn != 0 ? load<f32>(nxIn + (<usize>i << 2)) : sqNormRow(row, d);
    store<f32>(xn + (<usize>i << 2), nx);
    const eb = metaIn != 0 ? rowError(metaIn + <usize>i * 24, d, nx, info, s2 + (<usize>i << 2))
      : quantizeRow(row, d, nx, info, qx + <usize>i * qstride, s2 + (<usize>i << 2));
    if (eb < 0) return err ? -1 : fallback(x, n, d, packed, kb, cn, k, scratch, outIndex, outDist, bias);
    store<f64>(thr + (<usize>i << 3), 2 * eb);
    if (err) store<f64>(err + (<usize>i << 3), eb);
  }
  resetStates(state, n);
  tiles(qx, qstride, n, qc, kb, cnq, xn, s2, state, est, bias);
  let np = 0, nd = 0;
  for (let i = 0; i < n; i++) {
    const st = state + <usize>i * 48;
    readState(st);
    const b1 = stBest, b2 = stSecond, bi = stSlot;
    const gap = load<f64>(thr + (<usize>i << 3));
    // Candidates: estimates ≤ max(b1 + 2E, E) (distances are clamped at 0); with a bias, biased estimates ≤
    // the reach of the best one's upper bound. A row whose second-best lies above that is decided.
    let tf = max<f64>(<f64>b1 + gap, 0.5 * gap);
    if (bias != 0) tf = bi >= 0 ? biasedReach(biasedUpper(<f64>b1, <f64>load<f32>(bias + (<usize>bi << 2)), 0.5 * gap), 0.5 * gap) : Infinity;
    if (bi >= 0 && (bias != 0 ? <f64>b2 > tf : <f64>b2 - <f64>b1 > gap && <f64>b2 > 0.5 * gap)) {
      nd = decided(i, bi, nd, ks, kd, x, stride, rp, d, packed, cn, xn, outIndex, outDist);
    } else {
      store<f32>(st, upF32(tf));
      store<i32>(outIndex + (<usize>i << 2), -1);
      store<f32>(outDist + (<usize>i << 2), Infinity);
      store<i32>(pend + (<usize>np << 2), i);
      np++;
    }
  }
  if (nd > 0) {
    for (let t = nd; t < 4; t++) store<i32>(DECIDED + (<usize>t << 2), load<i32>(DECIDED + (<usize>(nd - 1) << 2)));
    exact4(x, stride, rp, d, packed, cn, xn, outIndex, outDist);
  }
  if (np > 0) {
    const np4 = (np + 3) & ~3;
    for (let p = np; p < np4; p++) store<i32>(pend + (<usize>p << 2), load<i32>(pend + (<usize>(np - 1) << 2)));
    if (est) fromEstimates(x, stride, rp, np, pend, d, packed, kb, cn, k, xn, state, ord, est, outIndex, outDist, bias);
    else tilesExact(x, stride, rp, qx, qstride, np4, np, pend, d, qc, packed, kb, cn, cnq, k, xn, s2, state, ord, outIndex, outDist, bias);
  }
  return np;
}

/**
 * Rounds one row (d values, ‖x‖² = nx in f32) to i16 at its own power of two s into qr (d rounded up to
 * even), stores 2·s·(centroid scale) as f32 at two, and returns the row's E: |estimate − f32 distance| ≤ E
 * for every centroid packCentroidsQ packed (info). −1 when the row cannot take the filter (non-finite or
 * huge norm, scale out of range).
 */
export function quantizeRow(row: usize, d: i32, nx: f32, info: usize, qr: usize, two: usize): f64 {
  const meta = memory.data(24, 8);
  if (!roundRow(row, d, qr, meta)) return -1;
  return rowError(meta, d, nx, info, two);
}

/**
 * The part of quantizeRow that depends on the row alone: qr as there, and meta (f64 × 3) = s, ‖x̃‖ and
 * ‖x − x̃‖ (both rounded up); false (s = NaN) when the scale is out of range or a value is not finite.
 */
export function roundRow(row: usize, d: i32, qr: usize, meta: usize): bool {
  if (!ASC_FEATURE_SIMD) { store<f64>(meta, NaN); return false; }
  const dp = (d + 1) & ~1;
  const qmax = qmaxOf(d);
  const w = 1 + <f64>(d + 4) * U;
  const z = f32x4.splat(0);
  // |x| as bits: for non-negative floats the unsigned integer order is the float order (NaN above +Inf),
  // and i32x4.max_u is one instruction where f32x4.max is a chain of several.
  let mv = i32x4.splat(0);
  const absMask = i32x4.splat(0x7fffffff);
  const d4 = d & ~3;
  for (let j = 0; j < d4; j += 4) mv = i32x4.max_u(mv, v128.and(v128.load(row + (<usize>j << 2)), absMask));
  const mh = i32x4.max_u(mv, v128.shuffle<i32>(mv, mv, 2, 3, 0, 1));
  const mm = i32x4.max_u(mh, v128.shuffle<i32>(mh, mh, 1, 0, 3, 2));
  let m = reinterpret<f32>(i32x4.extract_lane(mm, 0));
  for (let j = d4; j < d; j++) m = max<f32>(m, abs<f32>(load<f32>(row + (<usize>j << 2))));
  const s = scaleOf(<f64>m, qmax);
  if (!(s >= 1e-30 && s <= 1e30)) { store<f64>(meta, NaN); return false; }
  const inv = f32x4.splat(<f32>(1 / s)), sv = f32x4.splat(<f32>s);
  let t = z, e = z;
  for (let j = 0; j < dp; j += 8) {
    const p = row + (<usize>j << 2);
    const left = d - j;
    const a = left >= 4 ? v128.load(p) : partial(p, left);
    const b = left >= 8 ? v128.load(p, 16) : (left > 4 ? partial(p + 16, left - 4) : z);
    const qa = f32x4.nearest(f32x4.mul(a, inv)), qb = f32x4.nearest(f32x4.mul(b, inv));
    const ra = f32x4.mul(qa, sv), rb = f32x4.mul(qb, sv);
    t = f32x4.add(t, f32x4.add(f32x4.mul(ra, ra), f32x4.mul(rb, rb)));
    const da = f32x4.sub(a, ra), db = f32x4.sub(b, rb);
    e = f32x4.add(e, f32x4.add(f32x4.mul(da, da), f32x4.mul(db, db)));
    const q16 = i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(qa), i32x4.trunc_sat_f32x4_s(qb));
    if (left >= 8) v128.store(qr + (<usize>j << 1), q16);
    else for (let l = 0; l < dp - j; l++) store<i16>(qr + (<usize>(j + l) << 1), lane16(q16, l));
  }
  store<f64>(meta, s);
  store<f64>(meta, Math.sqrt(<f64>sum4(t) * w) * (1 + U), 8);
  store<f64>(meta, Math.sqrt(<f64>sum4(e) * w) * (1 + U), 16);
  return true;
}

/** roundRow for n rows of x into qr (n × d rounded up to even, i16) and meta (f64 × 3 × n); returns how many failed. */
export function roundRows(x: usize, n: i32, d: i32, qr: usize, meta: usize): i32 {
  const qstride = <usize>((d + 1) & ~1) << 1;
  let bad = 0;
  for (let i = 0; i < n; i++) if (!roundRow(x + <usize>i * (<usize>d << 2), d, qr + <usize>i * qstride, meta + <usize>i * 24)) bad++;
  return bad;
}

/**
 * Gathers m rows of a set rounded by roundRows for assignQWithEstimates: row r is ids[r] (ids ≠ 0) or i0 + r;
 * its i16 row (qr), meta and ‖x‖² (xsq) go to rq / rm / rn at r, its address (x + row · d floats) to rp. Rows
 * m .. m rounded up to 4 point at `zero` (d floats, zeroed here) and get that row's rounding.
 */
export function gatherRounded(x: usize, d: i32, m: i32, ids: usize, i0: i32, qr: usize, meta: usize, xsq: usize,
  rq: usize, rm: usize, rn: usize, rp: usize, zero: usize): void {
  const stride = <usize>d << 2, qstride = <usize>((d + 1) & ~1) << 1;
  for (let r = 0; r < m; r++) {
    const i = <usize>(ids != 0 ? load<i32>(ids + (<usize>r << 2)) : i0 + r);
    store<u32>(rp + (<usize>r << 2), <u32>(x + i * stride));
    memory.copy(rq + <usize>r * qstride, qr + i * qstride, qstride);
    memory.copy(rm + <usize>r * 24, meta + i * 24, 24);
    store<f32>(rn + (<usize>r << 2), load<f32>(xsq + (i << 2)));
  }
  const m4 = (m + 3) & ~3;
  if (m4 > m) memory.fill(zero, 0, stride);
  for (let r = m; r < m4; r++) {
    store<u32>(rp + (<usize>r << 2), <u32>zero);
    roundRow(zero, d, rq + <usize>r * qstride, rm + <usize>r * 24);
    store<f32>(rn + (<usize>r << 2), 0);
  }
}

/** The row's E from roundRow's meta, its ‖x‖² nx (f32) and the centroids' info, with 2·s·sc (f32) at two; −1
 *  when the row cannot take the filter (then two is not written). */
export function rowError(meta: usize, d: i32, nx: f32, info: usize, two: usize): f64 {
  const s = load<f64>(meta), xt = load<f64>(meta, 8), ex = load<f64>(meta, 16);
  const sc = load<f64>(info), ct = load<f64>(info, 8), ec = load<f64>(info, 16), cm = load<f64>(info, 24);
  const w = 1 + <f64>(d + 4) * U;
  const tw = 2 * s * sc;
  if (!(nx <= 1e37) || !(s >= 1e-30 && s <= 1e30) || !(tw >= 1e-30 && tw <= 1e30)) return -1;
  store<f32>(two, <f32>tw);
  const xr = Math.sqrt(<f64>nx * w) * (1 + U);
  const q = xt * ec + ex * ct + ex * ec;
  const big = max<f64>(xr, xt) + max<f64>(cm, ct);
  // 2E: the estimate and the f32 distance each within E of the same value; E = 2Q + rounding of both.
  return (2 * q + <f64>(2 * d + 24 + 2 * (d >> 7)) * U * big * big) * (1 + 1e-6) + 1e-30;
}

/** Row i of x: at x + i·stride, or at rp[i] when rp ≠ 0. */
// @ts-ignore: decorator
@inline export function rowAt(x: usize, stride: usize, rp: usize, i: usize): usize {
  return rp != 0 ? <usize>load<u32>(rp + (i << 2)) : x + i * stride;
}

function fallback(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, k: i32, scratch: usize, outIndex: usize, outDist: usize, bias: usize): i32 {
  assignRows(x, n, d, packed, kb, cn, bias, 0, (scratch + 15) & ~<usize>15, outIndex, outDist, k, 0, 0);
  return -1;
}

// @ts-ignore: decorator
@inline function sum4(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

function partial(p: usize, left: i32): v128 {
  let v = f32x4.splat(0);
  if (left > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (left > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (left > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

function lane16(v: v128, l: i32): i16 {
  const t = memory.data(16, 16);
  v128.store(t, v);
  return load<i16>(t + (<usize>l << 1));
}

// @ts-ignore: decorator
@inline export function nextUp(v: f32): f32 {
  if (v == Infinity) return v;
  if (v == 0) return 1.4e-45;
  const b = reinterpret<i32>(v);
  return reinterpret<f32>(v > 0 ? b + 1 : b - 1);
}

/**
 * outDist of the 4 rows listed in DECIDED: the exact f32 distance to their slot outIndex[row], computed as the
 * f32 tile computes that slot's half block (the same lane sequence, so the same bits); four independent chains.
 */
export function exact4(x: usize, stride: usize, rp: usize, d: i32, packed: usize, cn: usize, xn: usize, outIndex: usize, outDist: usize): void {
  const i0 = <usize>load<i32>(DECIDED), i1 = <usize>load<i32>(DECIDED, 4), i2 = <usize>load<i32>(DECIDED, 8), i3 = <usize>load<i32>(DECIDED, 12);
  const s0 = load<i32>(outIndex + (i0 << 2)), s1 = load<i32>(outIndex + (i1 << 2));
  const s2 = load<i32>(outIndex + (i2 << 2)), s3 = load<i32>(outIndex + (i3 << 2));
  const bb = <usize>d << 5;
  let c0 = packed + <usize>(s0 >> 3) * bb + (<usize>(s0 & 4) << 2), c1 = packed + <usize>(s1 >> 3) * bb + (<usize>(s1 & 4) << 2);
  let c2 = packed + <usize>(s2 >> 3) * bb + (<usize>(s2 & 4) << 2), c3 = packed + <usize>(s3 >> 3) * bb + (<usize>(s3 & 4) << 2);
  let r0 = rowAt(x, stride, rp, i0), r1 = rowAt(x, stride, rp, i1), r2 = rowAt(x, stride, rp, i2), r3 = rowAt(x, stride, rp, i3);
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z;
  const end = r0 + (<usize>d << 2);
  while (r0 < end) {
    a0 = fmadd(v128.load32_splat(r0), v128.load(c0), a0); a1 = fmadd(v128.load32_splat(r1), v128.load(c1), a1);
    a2 = fmadd(v128.load32_splat(r2), v128.load(c2), a2); a3 = fmadd(v128.load32_splat(r3), v128.load(c3), a3);
    r0 += 4; r1 += 4; r2 += 4; r3 += 4; c0 += 32; c1 += 32; c2 += 32; c3 += 32;
  }
  laneOut(a0, s0, i0, cn, xn, outDist); laneOut(a1, s1, i1, cn, xn, outDist);
  laneOut(a2, s2, i2, cn, xn, outDist); laneOut(a3, s3, i3, cn, xn, outDist);
}

// @ts-ignore: decorator
@inline function laneOut(acc: v128, s: i32, i: usize, cn: usize, xn: usize, outDist: usize): void {
  v128.store(EXACT, tileDist(acc, f32x4.splat(load<f32>(xn + (i << 2))), v128.load(cn + (<usize>(s & ~3) << 2)), true));
  store<f32>(outDist + (i << 2), load<f32>(EXACT + (<usize>(s & 3) << 2)));
}

/** Exact f32 distances of one row to the 8 slots of block b into out: the f32 tile's instruction sequence. */
export function exactBlock(row: usize, d: i32, packed: usize, b: i32, nx: f32, cn: usize, out: usize): void {
  const z = f32x4.splat(0);
  let a0 = z, a1 = z;
  let cp = packed + <usize>b * <usize>d * 32;
  const end = row + (<usize>d << 2);
  for (let p = row; p < end; p += 4) {
    const v = v128.load32_splat(p);
    a0 = fmadd(v, v128.load(cp), a0); a1 = fmadd(v, v128.load(cp, 16), a1);
    cp += 32;
  }
  const o = cn + (<usize>b << 5);
  const xv = f32x4.splat(nx);
  v128.store(out, tileDist(a0, xv, v128.load(o), true));
  v128.store(out, tileDist(a1, xv, v128.load(o, 16), true), 16);
}

/** Tile sums of 4 rows × the 8 centroids of one block into out (8 f32x4): i32 sums of up to 128 dims,
 *  each converted and added in f32. */
// @ts-ignore: decorator
@inline export function tileLoop(r0: usize, r1: usize, r2: usize, r3: usize, qstride: usize, cb: usize, out: usize): void {
  const z = i32x4.splat(0), zf = f32x4.splat(0);
  let f00 = zf, f01 = zf, f10 = zf, f11 = zf, f20 = zf, f21 = zf, f30 = zf, f31 = zf;
  let cp = cb;
  let xp = r0;
  const xe = r0 + qstride, o1 = r1 - r0, o2 = r2 - r0, o3 = r3 - r0;
  while (xp < xe) {
    let a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
    const ce = min<usize>(xp + CHUNK_BYTES, xe);
    while (xp < ce) {
      const c0 = v128.load(cp), c1 = v128.load(cp, 16);
      const v0 = v128.load32_splat(xp);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(v0, c0)); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(v0, c1));
      const v1 = v128.load32_splat(xp + o1);
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(v1, c0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(v1, c1));
      const v2 = v128.load32_splat(xp + o2);
      a20 = i32x4.add(a20, i32x4.dot_i16x8_s(v2, c0)); a21 = i32x4.add(a21, i32x4.dot_i16x8_s(v2, c1));
      const v3 = v128.load32_splat(xp + o3);
      a30 = i32x4.add(a30, i32x4.dot_i16x8_s(v3, c0)); a31 = i32x4.add(a31, i32x4.dot_i16x8_s(v3, c1));
      cp += 32; xp += 4;
    }
    f00 = f32x4.add(f00, f32x4.convert_i32x4_s(a00)); f01 = f32x4.add(f01, f32x4.convert_i32x4_s(a01));
    f10 = f32x4.add(f10, f32x4.convert_i32x4_s(a10)); f11 = f32x4.add(f11, f32x4.convert_i32x4_s(a11));
    f20 = f32x4.add(f20, f32x4.convert_i32x4_s(a20)); f21 = f32x4.add(f21, f32x4.convert_i32x4_s(a21));
    f30 = f32x4.add(f30, f32x4.convert_i32x4_s(a30)); f31 = f32x4.add(f31, f32x4.convert_i32x4_s(a31));
  }
  v128.store(out, f00); v128.store(out, f01, 16); v128.store(out, f10, 32); v128.store(out, f11, 48);
  v128.store(out, f20, 64); v128.store(out, f21, 80); v128.store(out, f30, 96); v128.store(out, f31, 112);
}

// @ts-ignore: decorator
@inline export function estimate(acc: v128, nx: f32, two: f32, cnv: v128): v128 {
  return f32x4.sub(f32x4.add(f32x4.splat(nx), cnv), f32x4.mul(acc, f32x4.splat(two)));
}

/** Sets the tile state of n rows (48 bytes each: per lane best estimate, its slot, second best) to "none seen". */
export function resetStates(state: usize, n: i32): void {
  const inf = f32x4.splat(Infinity), none = i32x4.splat(-1);
  for (let i = 0; i < n; i++) {
    const st = state + <usize>i * 48;
    v128.store(st, inf); v128.store(st, none, 16); v128.store(st, inf, 32);
  }
}

/** A row's best estimate, its slot (−1 = none) and its second best, as readState leaves them. */
export let stBest: f32 = Infinity, stSecond: f32 = Infinity, stSlot: i32 = -1;

/** Merges the four lanes of a row's tile state into stBest / stSlot / stSecond. */
// @ts-ignore: decorator
@inline export function readState(st: usize): void {
  let b1: f32 = Infinity, b2: f32 = Infinity, bi = -1;
  for (let l = 0; l < 4; l++) {
    const v = load<f32>(st + (<usize>l << 2));
    const s = load<f32>(st + (<usize>l << 2), 32);
    b2 = min<f32>(b2, s);
    if (v < b1) { b2 = min<f32>(b2, b1); b1 = v; bi = load<i32>(st + (<usize>l << 2), 16); } else b2 = min<f32>(b2, v);
  }
  stBest = b1; stSecond = b2; stSlot = bi;
}

// @ts-ignore: decorator
@inline export function track(st: usize, e: v128, idx: v128): void {
  // Estimates are never NaN: pmin/pmax (one instruction each on x86) equal min/max here.
  const best = v128.load(st);
  const lt = f32x4.lt(e, best);
  v128.store(st, f32x4.pmin(best, e));
  v128.store(st, v128.bitselect(idx, v128.load(st, 16), lt), 16);
  v128.store(st, f32x4.pmin(v128.load(st, 32), f32x4.pmax(best, e)), 32);
}

/** First pass: every row's best estimate (per lane, with its index) and second-best estimate, biased when bias ≠ 0;
 *  with est ≠ 0 every (unbiased) estimate is also stored (row-major, kb·8 per row). */
function tiles(qx: usize, qstride: usize, n: i32, qc: usize, kb: i32, cnq: usize, xn: usize, s2: usize, state: usize, est: usize, bias: usize): void {
  // Two copies: the unbiased one keeps its per-tile work free of the bias.
  if (bias != 0) tilesT(qx, qstride, n, qc, kb, cnq, xn, s2, state, est, bias, true);
  else tilesT(qx, qstride, n, qc, kb, cnq, xn, s2, state, est, 0, false);
}

// @ts-ignore: decorator
@inline function tilesT(qx: usize, qstride: usize, n: i32, qc: usize, kb: i32, cnq: usize, xn: usize, s2: usize, state: usize, est: usize, bias: usize,
  hasBias: bool): void {
  const estRow = <usize>kb << 5;
  const blockBytes = qstride << 3;
  let superBlocks = SUPER_BYTES / <i32>blockBytes;
  if (superBlocks < 1) superBlocks = 1;
  const acc = memory.data(128, 16);
  const lane = i32x4(0, 1, 2, 3);
  for (let sb = 0; sb < kb; sb += superBlocks) {
    const sbEnd = min(sb + superBlocks, kb);
    for (let g = 0; g < n; g += GROUP) {
      const gEnd = min(g + GROUP, n);
      for (let b = sb; b < sbEnd; b++) {
        const cb = qc + <usize>b * blockBytes;
        const cn0 = v128.load(cnq + (<usize>b << 5)), cn1 = v128.load(cnq + (<usize>b << 5), 16);
        const bv0 = hasBias ? v128.load(bias + (<usize>b << 5)) : f32x4.splat(0), bv1 = hasBias ? v128.load(bias + (<usize>b << 5), 16) : f32x4.splat(0);
        const i0 = i32x4.add(i32x4.splat(b * BLOCK), lane), i1 = i32x4.add(i0, i32x4.splat(4));
        for (let i = g; i < gEnd; i += 4) {
          const r0 = qx + <usize>i * qstride;
          tileLoop(r0, r0 + qstride, r0 + 2 * qstride, r0 + 3 * qstride, qstride, cb, acc);
          for (let r = 0; r < 4; r++) {
            const ri = <usize>(i + r);
            const nx = load<f32>(xn + (ri << 2)), two = load<f32>(s2 + (ri << 2));
            const st = state + ri * 48;
            const e0 = estimate(v128.load(acc + (<usize>r << 5)), nx, two, cn0), e1 = estimate(v128.load(acc + (<usize>r << 5), 16), nx, two, cn1);
            if (hasBias) { track(st, f32x4.add(e0, bv0), i0); track(st, f32x4.add(e1, bv1), i1); }
            else { track(st, e0, i0); track(st, e1, i1); }
            if (est) {
              const ep = est + ri * estRow + (<usize>b << 5);
              v128.store(ep, e0); v128.store(ep, e1, 16);
            }
          }
        }
      }
    }
  }
}

/** Second pass over the np pending rows (list pend, padded to np4 by repeating the last): exact distances
 *  of every centroid whose estimate is ≤ the row's threshold (state[i] lane 0), in index order. */
function tilesExact(x: usize, stride: usize, rp: usize, qx: usize, qstride: usize, np4: i32, np: i32, pend: usize, d: i32, qc: usize, packed: usize,
  kb: i32, cn: usize, cnq: usize, k: i32, xn: usize, s2: usize, state: usize, ord: usize, outIndex: usize, outDist: usize, bias: usize): void {
  const blockBytes = qstride << 3;
  let superBlocks = SUPER_BYTES / <i32>blockBytes;
  if (superBlocks < 1) superBlocks = 1;
  const acc = memory.data(128, 16);
  for (let sb = 0; sb < kb; sb += superBlocks) {
    const sbEnd = min(sb + superBlocks, kb);
    for (let g = 0; g < np4; g += GROUP) {
      const gEnd = min(g + GROUP, np4);
      for (let b = sb; b < sbEnd; b++) {
        const cb = qc + <usize>b * blockBytes;
        const cn0 = v128.load(cnq + (<usize>b << 5)), cn1 = v128.load(cnq + (<usize>b << 5), 16);
        const bv0 = bias != 0 ? v128.load(bias + (<usize>b << 5)) : f32x4.splat(0), bv1 = bias != 0 ? v128.load(bias + (<usize>b << 5), 16) : f32x4.splat(0);
        for (let i = g; i < gEnd; i += 4) {
          const p0 = load<i32>(pend + (<usize>i << 2)), p1 = load<i32>(pend + (<usize>i << 2), 4);
          const p2 = load<i32>(pend + (<usize>i << 2), 8), p3 = load<i32>(pend + (<usize>i << 2), 12);
          tileLoop(qx + <usize>p0 * qstride, qx + <usize>p1 * qstride, qx + <usize>p2 * qstride, qx + <usize>p3 * qstride, qstride, cb, acc);
          for (let r = 0; r < 4; r++) {
            if (i + r >= np) break;
            const ri = <usize>load<i32>(pend + (<usize>(i + r) << 2));
            const nx = load<f32>(xn + (ri << 2)), two = load<f32>(s2 + (ri << 2));
            const tv = f32x4.splat(load<f32>(state + ri * 48));
            let e0 = estimate(v128.load(acc + (<usize>r << 5)), nx, two, cn0), e1 = estimate(v128.load(acc + (<usize>r << 5), 16), nx, two, cn1);
            if (bias != 0) { e0 = f32x4.add(e0, bv0); e1 = f32x4.add(e1, bv1); }
            const m0 = f32x4.le(e0, tv), m1 = f32x4.le(e1, tv);
            const bits = i32x4.bitmask(m0) | (i32x4.bitmask(m1) << 4);
            if (bits == 0) continue;
            candidates(rowAt(x, stride, rp, ri), d, packed, b, nx, cn, k, bits, ord, outIndex + (ri << 2), outDist + (ri << 2), bias);
          }
        }
      }
    }
  }
}

/** The exact pass from kept estimates: per pending row, the blocks holding an estimate ≤ its threshold. */
function fromEstimates(x: usize, stride: usize, rp: usize, np: i32, pend: usize, d: i32, packed: usize, kb: i32, cn: usize, k: i32, xn: usize,
  state: usize, ord: usize, est: usize, outIndex: usize, outDist: usize, bias: usize): void {
  const estRow = <usize>kb << 5;
  for (let p = 0; p < np; p++) {
    const ri = <usize>load<i32>(pend + (<usize>p << 2));
    const tv = f32x4.splat(load<f32>(state + ri * 48));
    const er = est + ri * estRow;
    const nx = load<f32>(xn + (ri << 2));
    for (let b = 0; b < kb; b++) {
      let e0 = v128.load(er + (<usize>b << 5)), e1 = v128.load(er + (<usize>b << 5), 16);
      if (bias != 0) { e0 = f32x4.add(e0, v128.load(bias + (<usize>b << 5))); e1 = f32x4.add(e1, v128.load(bias + (<usize>b << 5), 16)); }
      const m0 = f32x4.le(e0, tv), m1 = f32x4.le(e1, tv);
      if (!v128.any_true(v128.or(m0, m1))) continue;
      candidates(rowAt(x, stride, rp, ri), d, packed, b, nx, cn, k, i32x4.bitmask(m0) | (i32x4.bitmask(m1) << 4), ord, outIndex + (ri << 2), outDist + (ri << 2), bias);
    }
  }
}

/** Exact distances of the candidate slots (bits) of block b, merged into the row's choice (slot oi, distance od):
 *  the smaller selection value (fl(D + b) with a bias, else D) wins; equal values go to the lower slot, or with
 *  ord ≠ 0 to the lower centroid id. */
export function candidates(row: usize, d: i32, packed: usize, b: i32, nx: f32, cn: usize, k: i32, bits: i32, ord: usize, oi: usize, od: usize, bias: usize): void {
  exactBlock(row, d, packed, b, nx, cn, EXACT);
  let bi = load<i32>(oi);
  let bd = load<f32>(od);
  let bs = bias != 0 && bi >= 0 ? bd + load<f32>(bias + (<usize>bi << 2)) : bd;
  for (let l = 0; l < BLOCK; l++) {
    if (!(bits & (1 << l))) continue;
    const c = b * BLOCK + l;
    if (c >= k) break;
    const v = load<f32>(EXACT + (<usize>l << 2));
    const s = bias != 0 ? v + load<f32>(bias + (<usize>c << 2)) : v;
    if (bi < 0 || s < bs || (ord != 0 && s == bs && load<i32>(ord + (<usize>c << 2)) < load<i32>(ord + (<usize>bi << 2)))) { bi = c; bd = v; bs = s; }
  }
  store<i32>(oi, bi);
  store<f32>(od, bd);
}
