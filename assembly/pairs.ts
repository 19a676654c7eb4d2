import { assignRows } from './assign';
import { gatherRounded, nextUp } from './assignq';
import { assignQ8WithEstimates, filterScratchBytes, gatherRounded8, tookEight } from './assignq8';
import { boundFrom, gatherRows, margin, prevDots, stored } from './bounded';
import { sqNormRow } from './common';

// Nearest-centroid assignment (l2, no bias) with one lower bound per (row, centroid), as in Elkan's k-means, for
// the k-means session. lower[i·k + c] · unit (u16, by centroid id; unit a power of two) is a lower bound on the
// true Euclidean distance from row i to centroid c, plus dcum[c] as it was when the bound was stored (rounded
// down; saturating at 65535 only weakens it). dcum[c] only grows, each call by at least how far c moved, so
// lower − dcum(now) bounds the distance now (triangle inequality). The host packs the centroids by movement,
// largest first, a new order each call (the bounds stay in id order, so no row's bounds move): the centroids a
// row cannot rule out then gather in the first blocks, and the row computes the prefix of blocks up to the last
// one holding a centroid that could reach the previous centroid's distance. Rows sorted by that length go through
// the 16-bit filter (assignRows when it does not apply) in runs over their longest prefix; the previous centroid,
// whose exact distance is known, joins when it lies beyond. Index and distance are assignRows' bits, ties to the
// lowest centroid id.

const BLOCK: i32 = 8;
/** Rows per run through the filter (the work area holds a run's estimates). */
const RUN: i32 = 64;
/** Relative slack of the skip test e > √t·(1 + SLACK), so that e·e·(1 − 1e-12) > t as the group kernel asks. */
const SLACK: f64 = 1e-11;

/** Bytes of the run work area: estimates (or distances), assignRows scratch, winners, gathered rows, the
 *  filter's scratch, per-row E, the run's rounded rows with their meta, norms, addresses and known distances. */
// @ts-ignore: decorator
@inline function runBytes(kb: i32, d: i32): i32 {
  return RUN * (kb * BLOCK * 4 + 76) + (RUN + 4) * d * 4 + filterScratchBytes(RUN, d, kb) + RUN * (8 + ((d + 1) & ~1) * 2 + 40) + 160 +
    RUN * (((d + 3) & ~3) + 24) + 32;
}

/** Bytes of scratch assignPairs needs for n rows of d values and kb blocks. */
export function pairsScratchBytes(n: i32, kb: i32, d: i32): i32 {
  return n * 16 + (kb + 2) * 4 + kb * BLOCK * 16 + runBytes(kb, d) + 96;
}

/**
 * Movement of k centroids (d floats each) since prev: drift[c] ≥ ‖cur_c − prev_c‖ (f64, rounded up),
 * dcum[c] += drift[c] (rounded up); then prev ← cur.
 */
export function centroidDrift(cur: usize, prev: usize, k: i32, d: i32, dcum: usize, drift: usize): void {
  const up = 1 + <f64>(d + 8) * 2.220446049250313e-16;
  for (let c = 0; c < k; c++) {
    const a = cur + (<usize>c * <usize>d << 2), b = prev + (<usize>c * <usize>d << 2);
    let s0: f64 = 0, s1: f64 = 0;
    let j = 0;
    for (; j + 2 <= d; j += 2) {
      const v0 = <f64>load<f32>(a + (<usize>j << 2)) - <f64>load<f32>(b + (<usize>j << 2));
      const v1 = <f64>load<f32>(a + (<usize>j << 2), 4) - <f64>load<f32>(b + (<usize>j << 2), 4);
      s0 += v0 * v0; s1 += v1 * v1;
    }
    if (j < d) { const v = <f64>load<f32>(a + (<usize>j << 2)) - <f64>load<f32>(b + (<usize>j << 2)); s0 += v * v; }
    const m = Math.sqrt((s0 + s1) * up) * (1 + 4.440892098500626e-16);
    store<f64>(drift + (<usize>c << 3), m);
    const o = dcum + (<usize>c << 3);
    store<f64>(o, (load<f64>(o) + m) * (1 + 4.440892098500626e-16));
  }
  memory.copy(prev, cur, <usize>k * <usize>d << 2);
}

/**
 * Assigns n rows of x (n·d f32) to k centroids packed in blocks of 8 (assign.ts' layout) in the host's order:
 * slot p holds centroid ord[p] (padding slots ord 0x7fffffff, cn +Inf), pos[c] is the slot of centroid c.
 * assign (i32 × n, −1 = none) and lower (u16 × n·k by centroid id, in units of `unit`, see above) are read and
 * updated. dcum (f64 × k, by id): this call's;
 * raw (0 = none): the centroids by id (k × d) for the dots with the previous centroids; xnorm (f64 × n) ≥ ‖x_i‖;
 * cmax ≥ max ‖c‖; xsq (0 = compute them): each row's ‖x‖² as sqNorms gives it. qc / cnq / qinfo (0 = none): the
 * centroids as packCentroidsQ packs them; qr / meta (0 = none): every row rounded by roundRows. full ≠ 0 (or no
 * row with a previous centroid): every row in full. outIndex / outDist as assignRows (centroid ids); info
 * receives [rows settled by their bounds, (row, block) distance blocks computed, rows through the filter, of
 * those the rows that needed its exact pass, rows through its 8-bit stage]. q8 / info8 (0 = none; with qc):
 * packCentroidsQ8's output for that stage (assignQ8WithEstimates); r8 / m8 (0 = none; with qr): every row as
 * roundRows8 rounds it.
 */
export function assignPairs(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, ord: usize, pos: usize, k: i32,
  assign: usize, lower: usize, unit: f32, dcum: usize, raw: usize, xnorm: usize, cmax: f64, scratch: usize, outIndex: usize, outDist: usize, info: usize,
  qc: usize, cnq: usize, qinfo: usize, xsq: usize, full: i32, qr: usize, meta: usize, q8: usize, info8: usize, r8: usize, m8: usize): void {
  const stride = <usize>d << 2;
  const rowL = <usize>k << 1;
  const dots = (scratch + 15) & ~<usize>15;                // f32 × n: x_i · c_assign[i]
  const ubA = dots + (<usize>n << 2);                      // f32 × n: kernel distance to assign[i]
  const pl = ubA + (<usize>n << 2);                        // i32 × n: blocks a pending row needs (its prefix)
  const sorted = pl + (<usize>n << 2);                     // i32 × n: pending rows, longest prefix first
  const cnt = sorted + (<usize>n << 2);                    // i32 × (kb + 2): rows per prefix length
  const dcu = (cnt + (<usize>(kb + 2) << 2) + 15) & ~<usize>15; // f32 × kb·8: dcum by id, rounded up
  const dcd = dcu + (<usize>kb * BLOCK << 2);              // f32 × kb·8: in slot order, rounded down
  const blk = dcd + (<usize>kb * BLOCK << 2);              // i32 × kb·8: 1 + the block of centroid c's slot (0: padding)
  const fw = (blk + (<usize>kb * BLOCK << 2) + 15) & ~<usize>15;

  let fresh = full != 0;
  if (!fresh) {
    fresh = true;
    for (let i = 0; i < n; i++) if (load<i32>(assign + (<usize>i << 2)) >= 0) { fresh = false; break; }
  }
  for (let s = 0; s < kb * BLOCK; s++) {
    store<f32>(dcu + (<usize>s << 2), s < k ? upF32(load<f64>(dcum + (<usize>s << 3))) : 0);
    store<f32>(dcd + (<usize>s << 2), s < k ? downF32(load<f64>(dcum + (<usize>load<i32>(ord + (<usize>s << 2)) << 3))) : 0);
    store<i32>(blk + (<usize>s << 2), s < k ? (load<i32>(pos + (<usize>s << 2)) >> 3) + 1 : 0);
  }
  if (!fresh) prevDots(x, n, d, packed, pos, assign, dots, raw, false);

  let skipped = 0, np = 0;
  for (let i = 0; i <= kb + 1; i++) store<i32>(cnt + (<usize>i << 2), 0);
  for (let i = 0; i < n; i++) {
    const a = load<i32>(assign + (<usize>i << 2));
    let p = kb;
    let ub: f32 = NaN;
    if (!fresh && a >= 0) {
      const xni = xsq != 0 ? load<f32>(xsq + (<usize>i << 2)) : sqNormRow(x + <usize>i * stride, d);
      const sa = load<i32>(pos + (<usize>a << 2));
      const dot = load<f32>(dots + (<usize>i << 2));
      ub = max<f32>((xni + load<f32>(cn + (<usize>sa << 2))) - (dot + dot), 0);
      if (ub < Infinity) {
        const t = <f64>ub + margin(d, load<f64>(xnorm + (<usize>i << 3)), cmax);
        p = openPrefix(lower + <usize>i * rowL, unit, dcu, blk, k, a, upF32(Math.sqrt(t) * (1 + SLACK)));
        if (p == 0) {
          store<i32>(pl + (<usize>i << 2), 0);
          store<i32>(outIndex + (<usize>i << 2), a);
          store<f32>(outDist + (<usize>i << 2), ub);
          skipped++;
          continue;
        }
      }
    }
    store<f32>(ubA + (<usize>i << 2), ub);
    store<i32>(pl + (<usize>i << 2), p);
    const c = cnt + (<usize>p << 2);
    store<i32>(c, load<i32>(c) + 1);
    np++;
  }
  // Counting sort, longest prefix first: cnt[p] becomes the start of length p's rows.
  let at = 0;
  for (let p = kb; p >= 1; p--) {
    const c = cnt + (<usize>p << 2), m = load<i32>(c);
    store<i32>(c, at);
    at += m;
  }
  for (let i = 0; i < n; i++) {
    const p = load<i32>(pl + (<usize>i << 2));
    if (p == 0) continue;
    const c = cnt + (<usize>p << 2), o = load<i32>(c);
    store<i32>(sorted + (<usize>o << 2), i);
    store<i32>(c, o + 1);
  }
  let blocks = 0, qRows = 0, qExact = 0, q8Rows = 0;
  for (let q0 = 0; q0 < np; q0 += RUN) {
    const m = min(RUN, np - q0);
    const ids = sorted + (<usize>q0 << 2);
    const p = load<i32>(pl + (<usize>load<i32>(ids) << 2));
    blocks += m * p;
    const qe = prefixRun(x, m, ids, d, packed, p, cn, ord, pos, k, assign, lower, unit, dcd, dcum, ubA, xnorm, cmax, fw, outIndex, outDist, qc, cnq, qinfo,
      xsq != 0 ? qr : 0, meta, xsq, q8, info8, r8, m8);
    if (qe >= 0) { qRows += m; qExact += qe; if (tookEight()) q8Rows += m; }
  }
  store<i32>(info, skipped);
  store<i32>(info, blocks, 4);
  store<i32>(info, qRows, 8);
  store<i32>(info, qExact, 12);
  store<i32>(info, q8Rows, 16);
}

/** f32 at or above v (NaN stays NaN). */
// @ts-ignore: decorator
@inline function upF32(v: f64): f32 {
  const f = <f32>v;
  return <f64>f < v ? nextUp(f) : f;
}

/** f32 at or below v (NaN stays NaN). */
// @ts-ignore: decorator
@inline function downF32(v: f64): f32 {
  const f = <f32>v;
  return <f64>f > v ? -nextUp(-f) : f;
}

/**
 * The blocks a row must compute: 1 + the last block holding the slot of a centroid other than a whose bound
 * lower − dcum is not above r (f32, rounded up; dcu the movements by id, rounded up), 0 when there is none; blk[c]
 * is 1 + the block of c's slot. In f32: a bound is above when lower > (dcu + r)·(1 + 2⁻²¹), which the rounding
 * of the sum cannot fake. One pass over the row's bounds in id order.
 */
function openPrefix(lo: usize, unit: f32, dcu: usize, blk: usize, k: i32, a: i32, r: f32): i32 {
  const up: f32 = 1 + 4.76837158203125e-7;
  let p = 0, c = 0;
  if (ASC_FEATURE_SIMD) {
    const rv = f32x4.splat(r), uv = f32x4.splat(up), av = i32x4.splat(a), u = f32x4.splat(unit), four = i32x4.splat(4), eight = i32x4.splat(8);
    let id0 = i32x4(0, 1, 2, 3), m0 = i32x4.splat(0), m1 = m0;
    for (; c + BLOCK <= k; c += BLOCK) {
      const o = <usize>c << 2;
      const q = v128.load(lo + (<usize>c << 1));
      const l0 = f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(q)), u), l1 = f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(q)), u);
      const t0 = f32x4.mul(f32x4.add(v128.load(dcu + o), rv), uv), t1 = f32x4.mul(f32x4.add(v128.load(dcu + o, 16), rv), uv);
      const id1 = i32x4.add(id0, four);
      // Closed: above the threshold, or the previous centroid.
      const c0 = v128.or(f32x4.gt(l0, t0), i32x4.eq(id0, av)), c1 = v128.or(f32x4.gt(l1, t1), i32x4.eq(id1, av));
      m0 = i32x4.max_s(m0, v128.andnot(v128.load(blk + o), c0));
      m1 = i32x4.max_s(m1, v128.andnot(v128.load(blk + o, 16), c1));
      id0 = i32x4.add(id0, eight);
    }
    const m = i32x4.max_s(m0, m1);
    p = max(max(i32x4.extract_lane(m, 0), i32x4.extract_lane(m, 1)), max(i32x4.extract_lane(m, 2), i32x4.extract_lane(m, 3)));
  }
  for (; c < k; c++) {
    if (c != a && !(<f32>load<u16>(lo + (<usize>c << 1)) * unit > (load<f32>(dcu + (<usize>c << 2)) + r) * up)) {
      p = max(p, load<i32>(blk + (<usize>c << 2)));
    }
  }
  return p;
}

/** v / unit rounded down into u16 (0 for negative or NaN, 65535 above): a stored bound never above v. */
// @ts-ignore: decorator
@inline function toUnits(v: f64, unit: f32): u16 {
  const f = v / <f64>unit;
  return f >= 65535 ? 65535 : f >= 0 ? <u16><i32>Math.floor(f) : 0;
}

/**
 * m rows (ids) over the first p blocks: the filter (or assignRows) gives the winner among those slots, the
 * previous centroid joins when its slot lies beyond, and every centroid of the prefix gets a new bound (from
 * its estimate − E, or its exact distance); the previous centroid too when beyond. Returns the rows that
 * needed the filter's exact pass, or −1 when the run went to assignRows.
 */
function prefixRun(x: usize, m: i32, ids: usize, d: i32, packed: usize, p: i32, cn: usize, ord: usize, pos: usize, k: i32,
  assign: usize, lower: usize, unit: f32, dcd: usize, dcum: usize, ubA: usize, xnorm: usize, cmax: f64, fw: usize, outIndex: usize, outDist: usize,
  qc: usize, cnq: usize, qinfo: usize, qr: usize, meta: usize, xsq: usize, q8: usize, info8: usize, r8: usize, m8: usize): i32 {
  const stride = <usize>d << 2;
  const qstride = <usize>((d + 1) & ~1) << 1;
  const kq = min(k, p * BLOCK);
  const rowAll = <usize>p * BLOCK << 2;
  const all = fw;                                           // f32 × RUN × p·8: estimates or distances
  const rs = all + <usize>RUN * rowAll;                     // assignRows scratch (RUN·68 + 16 bytes)
  const ib = rs + <usize>RUN * 68 + 16;                     // i32 × RUN: winning slots
  const db = ib + (<usize>RUN << 2);                        // f32 × RUN: their distances
  const fx = (db + (<usize>RUN << 2) + 15) & ~<usize>15;    // f32 × (RUN + 4) × d: gathered rows
  const qs = (fx + <usize>(RUN + 4) * stride + 15) & ~<usize>15;
  const eb = (qs + <usize>filterScratchBytes(RUN, d, (k + 7) >> 3) + 15) & ~<usize>15; // f64 × RUN: E per row
  const rq = eb + (<usize>RUN << 3);                        // i16 × RUN × d (even): the run's rounded rows (qr ≠ 0)
  const rm = (rq + <usize>RUN * qstride + 7) & ~<usize>7;   // f64 × 3 × RUN: their meta
  const rn = rm + <usize>RUN * 24;                          // f32 × RUN: their ‖x‖²
  const rp = rn + (<usize>RUN << 2);                        // u32 × RUN: the rows' addresses (padding: a zero row at fx)
  const ks = rp + (<usize>RUN << 2);                        // i32 × RUN: the previous centroid's slot when in the prefix
  const kd = ks + (<usize>RUN << 2);                        // f32 × RUN: its exact distance
  const rq8 = (kd + (<usize>RUN << 2) + 15) & ~<usize>15;   // i8 × RUN × d (to 4): the run's rows as roundRows8 rounds them (r8 ≠ 0)
  const rm8 = (rq8 + <usize>RUN * <usize>((d + 3) & ~3) + 7) & ~<usize>7; // f64 × 3 × RUN: their meta
  const m4 = (m + 3) & ~3;
  const gather = qr == 0 || qc == 0;                        // rows copied to fx for assignRows
  if (gather) gatherRows(x, stride, m, ids, 0, fx);
  else {
    gatherRounded(x, d, m, ids, 0, qr, meta, xsq, rq, rm, rn, rp, fx);
    if (r8 != 0 && q8 != 0) gatherRounded8(d, m, ids, 0, r8, m8, rq8, rm8);
    for (let r = 0; r < m4; r++) {
      const i = <usize>load<i32>(ids + (<usize>min(r, m - 1) << 2));
      const a = r < m ? load<i32>(assign + (i << 2)) : -1;
      const sa = a >= 0 ? load<i32>(pos + (<usize>a << 2)) : -1;
      const ub = load<f32>(ubA + (i << 2));
      store<i32>(ks + (<usize>r << 2), sa < kq && ub == ub ? sa : -1);
      store<f32>(kd + (<usize>r << 2), ub);
    }
  }
  let np = -1;
  if (qc != 0) np = assignQ8WithEstimates(fx, m4, d, packed, p, cn, kq, qc, cnq, qinfo, q8, info8, qs, ib, db, ord, all, eb,
    gather ? 0 : rq, gather ? 0 : rm, gather ? 0 : rn, gather ? 0 : rp, gather ? 0 : ks, gather ? 0 : kd, 0,
    gather || r8 == 0 ? 0 : rq8, gather || r8 == 0 ? 0 : rm8);
  if (np < 0 && !gather) gatherRows(x, stride, m, ids, 0, fx); // the filter refused the run: assignRows on gathered rows
  const exact = np < 0;
  if (exact) assignRows(fx, m4, d, packed, p, cn, 0, 0, rs, ib, db, kq, 0, all);
  for (let r = 0; r < m; r++) {
    const i = load<i32>(ids + (<usize>r << 2));
    const ar = all + <usize>r * rowAll;
    let ws = load<i32>(ib + (<usize>r << 2));
    let bd = load<f32>(db + (<usize>r << 2));
    let bi = -1;
    if (ws >= 0) {
      bi = load<i32>(ord + (<usize>ws << 2));
      // assignRows breaks ties by slot; the lowest centroid id wins here.
      if (exact) for (let s = 0; s < kq; s++) {
        const c = load<i32>(ord + (<usize>s << 2));
        if (load<f32>(ar + (<usize>s << 2)) == bd && c < bi) bi = c;
      }
    } else bd = NaN;
    const xnr = load<f64>(xnorm + (<usize>i << 3));
    const marg = margin(d, xnr, cmax);
    const a = load<i32>(assign + (<usize>i << 2));
    if (a >= 0 && load<i32>(pos + (<usize>a << 2)) >= kq) {
      const ub = load<f32>(ubA + (<usize>i << 2));
      if (ub < bd || (ub == bd && a < bi) || (bi < 0 && ub == ub)) { bi = a; bd = ub; }
      store<u16>(lower + ((<usize>i * <usize>k + <usize>a) << 1),
        toUnits(stored(boundFrom(<f64>ub, marg) + load<f64>(dcum + (<usize>a << 3))), unit));
    }
    store<i32>(outIndex + (<usize>i << 2), bi);
    store<f32>(outDist + (<usize>i << 2), bd);
    if (bi < 0 || !(bd < Infinity) || !(xnr < Infinity)) {
      store<i32>(assign + (<usize>i << 2), -1);
      continue;
    }
    store<i32>(assign + (<usize>i << 2), bi);
    const e = exact ? 0 : load<f64>(eb + (<usize>r << 3));
    renew(ar, lower + <usize>i * (<usize>k << 1), ord, unit, dcd, kq, upF32(e + marg));
  }
  return np;
}

/**
 * New bounds of slots 0 .. kq−1 of a row from its estimates (or distances) v: lo[ord[s]] = (√max(0, v − c) + dcd[s])
 * / unit, each step rounded down (c = E + margin rounded up; unit a power of two, so the division is exact;
 * NaN gives 0, an open bound), saturating at 65535.
 */
function renew(v: usize, lo: usize, ord: usize, unit: f32, dcd: usize, kq: i32, c: f32): void {
  let s = 0;
  const inv: f32 = 1 / unit;
  if (ASC_FEATURE_SIMD) {
    const cv = f32x4.splat(c), z = f32x4.splat(0), f = f32x4.splat(1 - 4.76837158203125e-7), g = f32x4.splat((1 - 2.384185791015625e-7) * inv);
    for (; s + 8 <= kq; s += 8) {
      const o = <usize>s << 2;
      const t0 = f32x4.sqrt(f32x4.max(f32x4.sub(v128.load(v + o), cv), z));
      const t1 = f32x4.sqrt(f32x4.max(f32x4.sub(v128.load(v + o, 16), cv), z));
      const u0 = f32x4.mul(f32x4.add(f32x4.mul(t0, f), v128.load(dcd + o)), g);
      const u1 = f32x4.mul(f32x4.add(f32x4.mul(t1, f), v128.load(dcd + o, 16)), g);
      const w = i16x8.narrow_i32x4_u(i32x4.trunc_sat_f32x4_s(u0), i32x4.trunc_sat_f32x4_s(u1)), so = ord + o;
      v128.store16_lane(lo + (<usize>load<i32>(so) << 1), w, 0); v128.store16_lane(lo + (<usize>load<i32>(so, 4) << 1), w, 1);
      v128.store16_lane(lo + (<usize>load<i32>(so, 8) << 1), w, 2); v128.store16_lane(lo + (<usize>load<i32>(so, 12) << 1), w, 3);
      v128.store16_lane(lo + (<usize>load<i32>(so, 16) << 1), w, 4); v128.store16_lane(lo + (<usize>load<i32>(so, 20) << 1), w, 5);
      v128.store16_lane(lo + (<usize>load<i32>(so, 24) << 1), w, 6); v128.store16_lane(lo + (<usize>load<i32>(so, 28) << 1), w, 7);
    }
  }
  for (; s < kq; s++) {
    const o = <usize>s << 2;
    const t = Mathf.sqrt(max<f32>(load<f32>(v + o) - c, 0));
    const u = (t * <f32>(1 - 4.76837158203125e-7) + load<f32>(dcd + o)) * (<f32>(1 - 2.384185791015625e-7) * inv);
    store<u16>(lo + (<usize>load<i32>(ord + o) << 1), u >= 65535 ? 65535 : u >= 0 ? <u16><i32>u : 0);
  }
}
