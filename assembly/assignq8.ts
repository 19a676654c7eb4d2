import { sqNormRow } from './common';
import { DECIDED, assignQScratchBytes, decided, assignQWithEstimates, biasedReach, biasedUpper, candidates, exact4, quantizeRow, readState, resetStates, rowAt, rowError,
  stBest, stSecond, stSlot, track, upF32 } from './assignq';

// An 8-bit first stage for the 16-bit filter of plain l2 assignment (relaxed SIMD builds): rows rounded to i8
// (x̃ = s8·q, s8 = max |x| / 127), centroids to 7-bit codes u ∈ [0, 127] over per-dimension minima o with one step
// t (c̃ = o + t·u), so that i32x4.relaxed_dot_i8x16_i7x16_add_s gives q·u exactly in every engine. With the
// centroids' per-dimension midpoints m, x·c ≈ x·m + x̃·(o − m) + t·x̃·u, off by (x − x̃)·(c − m) + x̃·(c − c̃), at
// most ‖x − x̃‖·max‖c − m‖ + ‖x̃‖·max‖c − c̃‖; twice that plus the f32 rounding is E8. A row whose best estimate
// beats its second by more than 2E8 has the f32 kernel's winner; otherwise the centroids within the window get
// 16-bit dots (their i16 rows as the 16-bit filter rounds them, gathered four at a time), those within that
// window's 2E exact f32 distances. With a bias both windows are assignq's biased ones.

const BLOCK: i32 = 8;
const SUPER_BYTES: i32 = 192 * 1024;
const GROUP: i32 = 32;
const U: f64 = 5.9604644775390625e-8; // 2^-24
/** Dims per i32 chunk of a 16-bit dot (qmax keeps 128 products within i32). */
const CHUNK16: i32 = 128;
const LANES = memory.data(16, 16);
/** roundRow8's results: s8, Σ q² (exact) and Σ fl(x − fl(s8·q))² (f32 sums), as f64. */
const RM = memory.data(24, 8);
const TAIL = memory.data(48, 16);

/**
 * Rounds a row to i8 at s8 = max |x| / 127 (rounded to f32) into qr (d rounded up to 4, zero-padded); at meta: s8, Σ q²
 * (exact: ‖x̃‖ = s8·√Σq², x̃ = s8·q) and Σ e′² with e′ = fl(x − fl(s8·q)) (f32 lanes); the caller bounds their
 * rounding. −1 when the row is not finite or the scale is out of range. The row term against the centroids is rowTerm8's.
 */
export function roundRow8(row: usize, d: i32, qr: usize, meta: usize): i32 {
  let mv = f32x4.splat(0);
  const d4 = d & ~3;
  for (let j = 0; j < d4; j += 4) mv = f32x4.pmax(mv, f32x4.abs(v128.load(row + (<usize>j << 2))));
  let mx = max<f32>(max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (let j = d4; j < d; j++) mx = max<f32>(mx, abs<f32>(load<f32>(row + (<usize>j << 2))));
  if (!(mx <= 3.4028234663852886e38)) return -1;
  const s8 = mx > 0 ? <f32>(<f64>mx / 127) : <f32>1;
  if (!(s8 >= 1e-30)) return -1;
  const inv = f32x4.splat(1 / s8), sv = f32x4.splat(s8);
  const lo = i32x4.splat(-127), hi = i32x4.splat(127);
  let sq = i32x4.splat(0), se = f32x4.splat(0);
  const dq = (d + 3) & ~3, d16 = d & ~15;
  let j = 0;
  // Sixteen values per pass, one i8x16 store; se still adds lane l's values in the order of j.
  for (; j < d16; j += 16) {
    const p = row + (<usize>j << 2);
    const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
    const q0 = i32x4.min_s(hi, i32x4.max_s(lo, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, inv)))));
    const q1 = i32x4.min_s(hi, i32x4.max_s(lo, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, inv)))));
    const q2 = i32x4.min_s(hi, i32x4.max_s(lo, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, inv)))));
    const q3 = i32x4.min_s(hi, i32x4.max_s(lo, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, inv)))));
    const a = i16x8.narrow_i32x4_s(q0, q1), b = i16x8.narrow_i32x4_s(q2, q3);
    v128.store(qr + <usize>j, i8x16.narrow_i16x8_s(a, b));
    sq = i32x4.add(sq, i32x4.add(i32x4.dot_i16x8_s(a, a), i32x4.dot_i16x8_s(b, b)));
    const e0 = f32x4.sub(v0, f32x4.mul(f32x4.convert_i32x4_s(q0), sv));
    se = f32x4.add(se, f32x4.mul(e0, e0));
    const e1 = f32x4.sub(v1, f32x4.mul(f32x4.convert_i32x4_s(q1), sv));
    se = f32x4.add(se, f32x4.mul(e1, e1));
    const e2 = f32x4.sub(v2, f32x4.mul(f32x4.convert_i32x4_s(q2), sv));
    se = f32x4.add(se, f32x4.mul(e2, e2));
    const e3 = f32x4.sub(v3, f32x4.mul(f32x4.convert_i32x4_s(q3), sv));
    se = f32x4.add(se, f32x4.mul(e3, e3));
  }
  for (; j < dq; j += 4) {
    const p = row + (<usize>j << 2);
    let v: v128;
    if (j + 4 <= d) v = v128.load(p);
    else {
      memory.fill(TAIL, 0, 16);
      memory.copy(TAIL, p, <usize>(d - j) << 2);
      v = v128.load(TAIL);
    }
    const qi = i32x4.min_s(hi, i32x4.max_s(lo, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, inv)))));
    const q16 = i16x8.narrow_i32x4_s(qi, qi);
    store<u32>(qr + <usize>j, <u32>i32x4.extract_lane(i8x16.narrow_i16x8_s(q16, q16), 0));
    const qf = f32x4.convert_i32x4_s(qi);
    const e = f32x4.sub(v, f32x4.mul(qf, sv));
    sq = i32x4.add(sq, i32x4.mul(qi, qi));
    se = f32x4.add(se, f32x4.mul(e, e));
  }
  store<f64>(meta, <f64>s8);
  store<f64>(meta, <f64>i32x4.extract_lane(sq, 0) + <f64>i32x4.extract_lane(sq, 1) + <f64>i32x4.extract_lane(sq, 2) + <f64>i32x4.extract_lane(sq, 3), 8);
  store<f64>(meta, <f64>hsum(se), 16);
  return 0;
}

/**
 * The part of roundRow8 that depends on the row alone, for a session's rows rounded once: each row's i8 values at
 * r8 (d rounded up to 4 per row) and at m8 (f64 × 3) s8, Σ q² and Σ e′² as roundRow8 stores them (s8 = NaN for a row
 * that cannot be rounded). Returns the number of such rows (n without relaxed SIMD, nothing written).
 */
export function roundRows8(x: usize, n: i32, d: i32, r8: usize, m8: usize): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return roundRowsR(x, n, d, r8, m8);
  return n;
}

function roundRowsR(x: usize, n: i32, d: i32, r8: usize, m8: usize): i32 {
  const d4 = d4Of(d), stride = <usize>d << 2;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const mt = m8 + <usize>i * 24;
    if (roundRow8(x + <usize>i * stride, d, r8 + <usize>i * <usize>d4, RM) < 0) { store<f64>(mt, NaN); bad++; }
    else memory.copy(mt, RM, 24);
  }
  return bad;
}

/**
 * Gathers m rows rounded by roundRows8 for a run (row r is ids[r], or i0 + r when ids = 0) into rq8 / rm8; rows m .. m
 * rounded up to 4 get a zero row's rounding (q = 0, s8 = 1).
 */
export function gatherRounded8(d: i32, m: i32, ids: usize, i0: i32, r8: usize, m8: usize, rq8: usize, rm8: usize): void {
  const d4 = <usize>d4Of(d);
  for (let r = 0; r < m; r++) {
    const i = <usize>(ids != 0 ? load<i32>(ids + (<usize>r << 2)) : i0 + r);
    memory.copy(rq8 + <usize>r * d4, r8 + i * d4, d4);
    memory.copy(rm8 + <usize>r * 24, m8 + i * 24, 24);
  }
  for (let r = m; r < ((m + 3) & ~3); r++) {
    memory.fill(rq8 + <usize>r * d4, 0, d4);
    store<f64>(rm8 + <usize>r * 24, 1); store<f64>(rm8 + <usize>r * 24, 0, 8); store<f64>(rm8 + <usize>r * 24, 0, 16);
  }
}

/** The row term fl(x·m + s8·(q·om)) (f32 lanes; om = fl(o − m)) of a row rounded to qr at s8 by roundRow8. */
function rowTerm8(row: usize, d: i32, qr: usize, mid: usize, omp: usize, s8: f32): f32 {
  let ax = f32x4.splat(0), aq = ax;
  const dq = (d + 3) & ~3;
  for (let j = 0; j < dq; j += 4) {
    let v: v128, m: v128, o: v128;
    if (j + 4 <= d) { v = v128.load(row + (<usize>j << 2)); m = v128.load(mid + (<usize>j << 2)); o = v128.load(omp + (<usize>j << 2)); }
    else {
      memory.fill(TAIL, 0, 48);
      memory.copy(TAIL, row + (<usize>j << 2), <usize>(d - j) << 2); memory.copy(TAIL + 16, mid + (<usize>j << 2), <usize>(d - j) << 2);
      memory.copy(TAIL + 32, omp + (<usize>j << 2), <usize>(d - j) << 2);
      v = v128.load(TAIL); m = v128.load(TAIL, 16); o = v128.load(TAIL, 32);
    }
    const qf = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(qr + <usize>j))));
    ax = f32x4.add(ax, f32x4.mul(v, m));
    aq = f32x4.add(aq, f32x4.mul(qf, o));
  }
  return hsum(ax) + s8 * hsum(aq);
}

/** Two centroids' 7-bit codes min(127, max(0, round(r / t))) in f64 lanes. */
// @ts-ignore: decorator
@inline function code2(r: v128, tv: v128, c127: v128, z2: v128): v128 {
  return f64x2.min(c127, f64x2.max(z2, f64x2.nearest(f64x2.div(r, tv))));
}

/** Stores two lanes' codes as bytes at p and p + 4 (neighbouring centroids of one 4-dim group). */
// @ts-ignore: decorator
@inline function store2(p: usize, u: v128): void {
  store<u8>(p, <u8><i32>f64x2.extract_lane(u, 0));
  store<u8>(p + 4, <u8><i32>f64x2.extract_lane(u, 1));
}

/** The largest of the four f64 lanes of a and b. */
// @ts-ignore: decorator
@inline function max4(a: v128, b: v128): f64 {
  return max<f64>(max<f64>(f64x2.extract_lane(a, 0), f64x2.extract_lane(a, 1)), max<f64>(f64x2.extract_lane(b, 0), f64x2.extract_lane(b, 1)));
}

/** (a0 + a1) + (a2 + a3) in f32. */
// @ts-ignore: decorator
@inline function hsum(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

// @ts-ignore: decorator
@inline function d4Of(d: i32): i32 { return (d + 3) & ~3; }

/** Bytes of packCentroidsQ8's output for kb blocks, k centroids of d values. */
export function assignQ8CentroidBytes(kb: i32, d: i32, k: i32): i32 {
  return kb * d4Of(d) * BLOCK + k * ((d + 1) & ~1) * 2 + d * 12 + 64;
}

/** Scratch of assignRowsQ8 for n rows (n a multiple of 4) and kb blocks. */
export function assignQ8ScratchBytes(n: i32, d: i32, kb: i32): i32 {
  return n * (((d + 1) & ~1) * 2 + d4Of(d) + 160) + kb * BLOCK * 12 + 256;
}

/**
 * From the packed f32 centroids and packCentroidsQ's qc: at q8 the 7-bit codes (kb blocks, per 4 dims 32 bytes:
 * [c0 × 4 dims] … [c7 × 4 dims]), then each real centroid's i16 values in a row of d rounded up to even (qc's
 * values), then the minima o, the midpoints m and fl(o − m) (f32 × d each). info8 (f64 × 8, norms rounded up): t, max ‖c − o‖,
 * max ‖c − o − t·u‖, max ‖c − m‖, ‖m‖, ‖o − m‖, kb, k (the layout's, for calls over a prefix of the blocks).
 * Returns 0 without relaxed SIMD or when a value is not finite or the step is out of range, else 1.
 */
export function packCentroidsQ8(packed: usize, kb: i32, d: i32, k: i32, qc: usize, q8: usize, info8: usize): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const d4 = d4Of(d), dp = (d + 1) & ~1, pairs = dp >> 1;
  const c16 = q8 + <usize>kb * <usize>d4 * BLOCK, off = c16 + <usize>k * <usize>dp * 2, mid = off + (<usize>d << 2);
  // Per-dimension minima (at off) and maxima (at mid for now): whole blocks 8 lanes at a time, the last one by slot.
  const kFull = k >> 3, big = f32x4.splat(3.4028234663852886e38);
  for (let j = 0; j < d; j++) { store<f32>(off + (<usize>j << 2), Infinity); store<f32>(mid + (<usize>j << 2), -Infinity); }
  for (let b = 0; b < kFull; b++) {
    const blk = packed + (<usize>b * <usize>d * BLOCK << 2);
    for (let j = 0; j < d; j++) {
      const v0 = v128.load(blk + (<usize>j << 5)), v1 = v128.load(blk + (<usize>j << 5), 16);
      if (!i32x4.all_true(v128.and(f32x4.le(f32x4.abs(v0), big), f32x4.le(f32x4.abs(v1), big)))) return 0;
      const lv = f32x4.pmin(v0, v1), hv = f32x4.pmax(v0, v1);
      const l2 = f32x4.pmin(lv, v128.shuffle<f32>(lv, lv, 2, 3, 0, 1)), h2 = f32x4.pmax(hv, v128.shuffle<f32>(hv, hv, 2, 3, 0, 1));
      const lo = min<f32>(f32x4.extract_lane(l2, 0), f32x4.extract_lane(l2, 1)), hi = max<f32>(f32x4.extract_lane(h2, 0), f32x4.extract_lane(h2, 1));
      store<f32>(off + (<usize>j << 2), min<f32>(load<f32>(off + (<usize>j << 2)), lo));
      store<f32>(mid + (<usize>j << 2), max<f32>(load<f32>(mid + (<usize>j << 2)), hi));
    }
  }
  for (let c = kFull << 3; c < k; c++) {
    for (let j = 0; j < d; j++) {
      const v = load<f32>(packed + ((<usize>(c >> 3) * <usize>d * BLOCK + <usize>j * BLOCK + <usize>(c & 7)) << 2));
      if (!(abs<f32>(v) <= 3.4028234663852886e38)) return 0;
      store<f32>(off + (<usize>j << 2), min<f32>(load<f32>(off + (<usize>j << 2)), v));
      store<f32>(mid + (<usize>j << 2), max<f32>(load<f32>(mid + (<usize>j << 2)), v));
    }
  }
  let range: f64 = 0;
  for (let j = 0; j < d; j++) {
    const lo = load<f32>(off + (<usize>j << 2)), hi = load<f32>(mid + (<usize>j << 2));
    const mj = <f32>((<f64>lo + <f64>hi) * 0.5);
    store<f32>(mid + (<usize>j << 2), mj);
    store<f32>(mid + (<usize>(d + j) << 2), lo - mj);
    range = max<f64>(range, <f64>hi - <f64>lo);
  }
  const t = range > 0 ? range / 127 : 1;
  if (!(t >= 1e-30 && t <= 1e30)) return 0;
  let mo: f64 = 0, mm: f64 = 0, me: f64 = 0, mn: f64 = 0, om: f64 = 0;
  for (let j = 0; j < d; j++) {
    const o = <f64>load<f32>(off + (<usize>j << 2)), m = <f64>load<f32>(mid + (<usize>j << 2));
    mn += m * m; om += (o - m) * (o - m);
  }
  memory.fill(q8, 0, <usize>kb * <usize>d4 * BLOCK);
  // Codes and norms of whole blocks, two lanes per f64x2 (each lane summed over j in order, as by slot below).
  const tv = f64x2.splat(t), z2 = f64x2.splat(0), c127 = f64x2.splat(127);
  for (let b = 0; b < kFull; b++) {
    const blk = packed + (<usize>b * <usize>d * BLOCK << 2), qb = q8 + <usize>b * <usize>d4 * BLOCK;
    let so0 = z2, so1 = z2, so2 = z2, so3 = z2, sm0 = z2, sm1 = z2, sm2 = z2, sm3 = z2, se0 = z2, se1 = z2, se2 = z2, se3 = z2;
    for (let j = 0; j < d; j++) {
      const v0 = v128.load(blk + (<usize>j << 5)), v1 = v128.load(blk + (<usize>j << 5), 16);
      const ov = f64x2.splat(<f64>load<f32>(off + (<usize>j << 2))), mv = f64x2.splat(<f64>load<f32>(mid + (<usize>j << 2)));
      const qj = qb + <usize>(j >> 2) * 32 + <usize>(j & 3);
      const c0 = f64x2.promote_low_f32x4(v0), c1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 0, 1));
      const c2 = f64x2.promote_low_f32x4(v1), c3 = f64x2.promote_low_f32x4(v128.shuffle<f32>(v1, v1, 2, 3, 0, 1));
      let r = f64x2.sub(c0, ov), rm = f64x2.sub(c0, mv), u = code2(r, tv, c127, z2), e = f64x2.sub(r, f64x2.mul(tv, u));
      so0 = f64x2.add(so0, f64x2.mul(r, r)); sm0 = f64x2.add(sm0, f64x2.mul(rm, rm)); se0 = f64x2.add(se0, f64x2.mul(e, e));
      store2(qj, u);
      r = f64x2.sub(c1, ov); rm = f64x2.sub(c1, mv); u = code2(r, tv, c127, z2); e = f64x2.sub(r, f64x2.mul(tv, u));
      so1 = f64x2.add(so1, f64x2.mul(r, r)); sm1 = f64x2.add(sm1, f64x2.mul(rm, rm)); se1 = f64x2.add(se1, f64x2.mul(e, e));
      store2(qj + 8, u);
      r = f64x2.sub(c2, ov); rm = f64x2.sub(c2, mv); u = code2(r, tv, c127, z2); e = f64x2.sub(r, f64x2.mul(tv, u));
      so2 = f64x2.add(so2, f64x2.mul(r, r)); sm2 = f64x2.add(sm2, f64x2.mul(rm, rm)); se2 = f64x2.add(se2, f64x2.mul(e, e));
      store2(qj + 16, u);
      r = f64x2.sub(c3, ov); rm = f64x2.sub(c3, mv); u = code2(r, tv, c127, z2); e = f64x2.sub(r, f64x2.mul(tv, u));
      so3 = f64x2.add(so3, f64x2.mul(r, r)); sm3 = f64x2.add(sm3, f64x2.mul(rm, rm)); se3 = f64x2.add(se3, f64x2.mul(e, e));
      store2(qj + 24, u);
    }
    mo = max<f64>(mo, max<f64>(max4(so0, so1), max4(so2, so3)));
    mm = max<f64>(mm, max<f64>(max4(sm0, sm1), max4(sm2, sm3)));
    me = max<f64>(me, max<f64>(max4(se0, se1), max4(se2, se3)));
  }
  for (let c = kFull << 3; c < kb * BLOCK; c++) {
    const src = c < k ? c : k - 1;
    let so: f64 = 0, sm: f64 = 0, se: f64 = 0;
    for (let j = 0; j < d; j++) {
      const cv = <f64>load<f32>(packed + ((<usize>(src >> 3) * <usize>d * BLOCK + <usize>j * BLOCK + <usize>(src & 7)) << 2));
      const r = cv - <f64>load<f32>(off + (<usize>j << 2)), rm = cv - <f64>load<f32>(mid + (<usize>j << 2));
      const u = min<f64>(127, max<f64>(0, nearest<f64>(r / t)));
      const e = r - t * u;
      so += r * r; sm += rm * rm; se += e * e;
      store<u8>(q8 + <usize>(c >> 3) * <usize>d4 * BLOCK + <usize>(j >> 2) * 32 + <usize>(c & 7) * 4 + <usize>(j & 3), <u8>u);
    }
    mo = max<f64>(mo, so); mm = max<f64>(mm, sm); me = max<f64>(me, se);
  }
  // The i16 rows: qc holds per block and pair of dims 16 i16 as [c0(2p), c0(2p+1), c1 …] [c4 … c7].
  for (let c = 0; c < k; c++) {
    const b = c >> 3, l = c & 7;
    for (let p = 0; p < pairs; p++) {
      store<u32>(c16 + (<usize>c * <usize>pairs + <usize>p) * 4, load<u32>(qc + ((<usize>b * <usize>pairs + <usize>p) << 5) + (<usize>l << 2)));
    }
  }
  const w = 1 + <f64>(d + 4) * 1.2e-16;
  store<f64>(info8, t);
  store<f64>(info8, Math.sqrt(mo * w) * (1 + 1e-15), 8);
  store<f64>(info8, Math.sqrt(me * w) * (1 + 1e-15), 16);
  store<f64>(info8, Math.sqrt(mm * w) * (1 + 1e-15), 24);
  store<f64>(info8, Math.sqrt(mn * w) * (1 + 1e-15), 32);
  store<f64>(info8, Math.sqrt(om * w) * (1 + 1e-15), 40);
  store<f64>(info8, <f64>kb, 48);
  store<f64>(info8, <f64>k, 56);
  return 1;
}

/**
 * assignRowsQ with the 8-bit first stage: the same index and distance bits. q8 / info8 from packCentroidsQ8; est:
 * room for n·kb·8 f32 (required: the unbiased 8-bit estimates are kept there for the window's scan); bias (0 = none)
 * as assignRowsQ's, with the same biased windows.
 * Returns the rows that needed 16-bit dots (not decided by their 8-bit estimates), or −2 with nothing written when
 * a row or the step cannot take the stage (the caller then runs assignRowsQ); always −2 without relaxed SIMD.
 */
export function assignRowsQ8(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, k: i32, cnq: usize, info: usize,
  q8: usize, info8: usize, scratch: usize, outIndex: usize, outDist: usize, est: usize, bias: usize): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return assign8(x, n, d, packed, kb, cn, k, cnq, info, q8, info8, scratch, outIndex, outDist, 0, est, 0, 0, 0, 0, 0, 0, 0, bias, 0, 0);
  return -2;
}

/** Scratch of assignQ8WithEstimates (either stage) for n rows (a multiple of 4) and kb blocks. */
export function filterScratchBytes(n: i32, d: i32, kb: i32): i32 {
  return max(assignQScratchBytes(n, d), assignQ8ScratchBytes(n, d, kb));
}

/**
 * assignQWithEstimates (its contract, the same bits) with the 8-bit first stage when q8 ≠ 0 (packCentroidsQ8's output for
 * these centroids; kb may be a prefix of its blocks, k ≤ the real slots in them) and the rows take it; else the 16-bit
 * filter. With the stage, err receives each row's E8 and est the 8-bit estimates, raised for the slots whose 16-bit
 * estimate was computed to that estimate − E16 + E8 (rounded down) where higher: each still ≥ D − err. scratch:
 * filterScratchBytes(n, d, kb). q8r / meta8 (0 = round them here): the rows as roundRows8 rounds them, one after the other.
 */
export function assignQ8WithEstimates(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, k: i32, qc: usize, cnq: usize,
  info: usize, q8: usize, info8: usize, scratch: usize, outIndex: usize, outDist: usize, ord: usize, est: usize, err: usize, qx: usize,
  meta: usize, nx: usize, rp: usize, ks: usize, kd: usize, bias: usize, q8r: usize, meta8: usize): i32 {
  eightLast = false;
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (q8 != 0) {
      const r = assign8(x, n, d, packed, kb, cn, k, cnq, info, q8, info8, scratch, outIndex, outDist, ord, est, err, qx, meta, nx, rp, ks, kd, bias, q8r, meta8);
      if (r != -2) { eightLast = true; return r; }
    }
  }
  return assignQWithEstimates(x, n, d, packed, kb, cn, k, qc, cnq, info, scratch, outIndex, outDist, ord, est, err, qx, meta, nx, rp, ks, kd, bias);
}

/** Whether the last assignQ8WithEstimates call took the 8-bit stage. */
let eightLast = false;

/** Whether the last assignQ8WithEstimates call took the 8-bit stage (the bounded kernels count its rows). */
export function tookEight(): bool {
  return eightLast;
}

/** v rounded down to f32. */
// @ts-ignore: decorator
@inline function downF32(v: f64): f32 {
  let f = <f32>v;
  if (<f64>f > v) f = f > 0 ? reinterpret<f32>(reinterpret<i32>(f) - 1) : f == 0 ? <f32>-1.401298464324817e-45 : reinterpret<f32>(reinterpret<i32>(f) + 1);
  return f;
}

function assign8(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, k: i32, cnq: usize, info: usize,
  q8c: usize, info8: usize, scratch: usize, outIndex: usize, outDist: usize, ord: usize, est: usize, err: usize, qxIn: usize, metaIn: usize,
  nxIn: usize, rp: usize, ks: usize, kd: usize, bias: usize, q8In: usize, meta8In: usize): i32 {
  const d4 = d4Of(d), dp = (d + 1) & ~1, qstride = <usize>dp << 1, stride = <usize>d << 2;
  const kbAll = <i32>load<f64>(info8, 48), kAll = <i32>load<f64>(info8, 56);
  const c16 = q8c + <usize>kbAll * <usize>d4 * BLOCK, off = c16 + <usize>kAll * <usize>dp * 2, mid = off + (<usize>d << 2);
  const xn = (scratch + 15) & ~<usize>15;                   // f32 × n: ‖x‖²
  const two = xn + (<usize>n << 2);                         // f32 × n: 2·s·sc of the 16-bit rounding
  const k8 = two + (<usize>n << 2);                         // f32 × n: 2·s8·t
  const xo2 = k8 + (<usize>n << 2);                         // f32 × n: 2·(x·m + x̃·(o − m))
  const e16 = (xo2 + (<usize>n << 2) + 7) & ~<usize>7;      // f64 × n: E of the 16-bit estimates
  const e8 = e16 + (<usize>n << 3);                         // f64 × n: E8
  const state = (e8 + (<usize>n << 3) + 15) & ~<usize>15;   // 48 bytes per row: tiles' best / index / second
  const qx = qxIn != 0 ? qxIn : state + <usize>n * 48;     // i16 rows
  const qx8s = state + <usize>n * 48 + <usize>n * qstride;  // i8 rows (d rounded up to 4), unless given
  const qx8 = q8In != 0 ? q8In : qx8s;
  const cand = (qx8s + <usize>n * <usize>d4 + 15) & ~<usize>15; // i32 × kPad: a row's candidate slots
  const cest = cand + (<usize>kb * BLOCK << 2);             // f32 × kPad: their 16-bit estimates
  const t = load<f64>(info8), cmo = load<f64>(info8, 8), ec8 = load<f64>(info8, 16), cmm = load<f64>(info8, 24);
  const mn = load<f64>(info8, 32), omn = load<f64>(info8, 40);
  const cm = load<f64>(info, 24), ct = load<f64>(info, 8);
  const w = 1 + <f64>(d + 4) * U;
  for (let i = 0; i < n; i++) {
    const row = rowAt(x, stride, rp, i);
    const nx = nxIn != 0 ? load<f32>(nxIn + (<usize>i << 2)) : sqNormRow(row, d);
    store<f32>(xn + (<usize>i << 2), nx);
    const eb = metaIn != 0 ? rowError(metaIn + <usize>i * 24, d, nx, info, two + (<usize>i << 2))
      : quantizeRow(row, d, nx, info, qx + <usize>i * qstride, two + (<usize>i << 2));
    if (eb < 0) return -2;
    store<f64>(e16 + (<usize>i << 3), eb);
    // The i8 row x̃ = s8·q (s8 = max |x| / 127), ‖x̃‖ and ‖x − x̃‖ (f64, rounded up) and, with the centroids'
    // midpoints m: x·c ≈ x·m + x̃·(o − m) + t·x̃·u, off by (x − x̃)·(c − m) + x̃·(c − o − t·u).
    // Rounded once by roundRows8 (gathered by gatherRounded8) or here: only the row term depends on these centroids.
    const mt = q8In != 0 ? meta8In + <usize>i * 24 : RM;
    if (q8In == 0 && roundRow8(row, d, qx8 + <usize>i * <usize>d4, RM) < 0) return -2;
    const s8 = load<f64>(mt), sq = load<f64>(mt, 8), se = load<f64>(mt, 16);
    if (!(s8 >= 1e-30)) return -2;
    const xa = <f64>rowTerm8(row, d, qx8 + <usize>i * <usize>d4, mid, mid + (<usize>d << 2), <f32>s8);
    if (!(s8 * t >= 1e-30 && s8 * t <= 1e30)) return -2;
    // ‖x̃‖ = s8·√Σq² (f64, two roundings); |x_j − x̃_j − e′_j| ≤ u·|x̃_j| (the product's rounding; the difference is
    // exact or within u of e′_j), so ‖x − x̃‖ ≤ ‖e′‖(1 + u) + u·‖x̃‖, with ‖e′‖² ≤ its f32 sum · w.
    const xt = s8 * Math.sqrt(sq) * (1 + 1e-15);
    const ex = (Math.sqrt(se * w) * (1 + 3 * U) + U * xt) * (1 + 1e-12);
    const xr = Math.sqrt(<f64>nx * w) * (1 + U);
    const big = max<f64>(xr, xt) + max<f64>(cm, ct);
    const aAbs = xr * mn + xt * omn * (1 + U);                // bounds Σ|x_j·m_j| + Σ|x̃_j·om_j| (om within u of o − m)
    const dotAbs = xt * (cmo + ec8);                          // bounds |t·x̃·u|
    // 2·(quantization error) + the f32 kernel's rounding and this estimate's: the f32 lanes of xa ((d/4 + 6)·u of the
    // terms' magnitudes, and om's rounding), the combination of the two terms and k8's rounding.
    const e = (2 * (ex * cmm + xt * ec8) + <f64>(2 * d + 64) * U * big * big + 16 * U * (aAbs + dotAbs) + <f64>(d + 8) * U * aAbs) * (1 + 1e-6) + 1e-30;
    store<f64>(e8 + (<usize>i << 3), e);
    store<f32>(k8 + (<usize>i << 2), <f32>(2 * s8 * t));
    store<f32>(xo2 + (<usize>i << 2), <f32>(2 * xa));
  }
  resetStates(state, n);
  tiles8(qx8, d4, n, q8c, kb, cnq, xn, k8, xo2, state, est, bias);
  let np = 0, nd = 0;
  const estRow = <usize>kb << 5;
  for (let i = 0; i < n; i++) {
    readState(state + <usize>i * 48);
    const b1 = stBest, b2 = stSecond, bi = stSlot;
    const e = load<f64>(e8 + (<usize>i << 3));
    // As in the 16-bit filter: the window, with a bias the biased one (assignq's biasedUpper / biasedReach).
    let tf = max<f64>(<f64>b1 + 2 * e, e);
    if (bias != 0) tf = bi >= 0 ? biasedReach(biasedUpper(<f64>b1, <f64>load<f32>(bias + (<usize>bi << 2)), e), e) : Infinity;
    if (err != 0) store<f64>(err + (<usize>i << 3), e);
    if (bi >= 0 && (bias != 0 ? <f64>b2 > tf : <f64>b2 - <f64>b1 > 2 * e && <f64>b2 > e)) {
      nd = decided(i, bi, nd, ks, kd, x, stride, rp, d, packed, cn, xn, outIndex, outDist);
      continue;
    }
    // Without a bias, the best slot's 16-bit estimate narrows the window: slot j can beat or tie it only if
    // est8_j − E8 ≤ D_best ≤ est16_best + E16, a bound about E8 below b1 + 2·E8.
    const e1 = load<f64>(e16 + (<usize>i << 3));
    let eb16: f32 = NaN;
    if (bias == 0 && bi >= 0) {
      store<i32>(cand, bi);
      eb16 = gathered(qx + <usize>i * qstride, dp, c16, cand, 1, load<f32>(xn + (<usize>i << 2)), load<f32>(two + (<usize>i << 2)), cn, cest);
      const tb = (<f64>eb16 + e1 + e) * (1 + 1e-12) + 1e-30;
      if (tb < tf) tf = tb;
    }
    np++;
    // The window's slots, in slot order.
    const tv = f32x4.splat(upF32(tf));
    const er = est + <usize>i * estRow;
    let nc = 0;
    for (let b = 0; b < kb; b++) {
      let v0 = v128.load(er + (<usize>b << 5)), v1 = v128.load(er + (<usize>b << 5), 16);
      if (bias != 0) { v0 = f32x4.add(v0, v128.load(bias + (<usize>b << 5))); v1 = f32x4.add(v1, v128.load(bias + (<usize>b << 5), 16)); }
      const bits = i32x4.bitmask(f32x4.le(v0, tv)) | (i32x4.bitmask(f32x4.le(v1, tv)) << 4);
      if (bits == 0) continue;
      for (let l = 0; l < BLOCK; l++) {
        if ((bits & (1 << l)) && b * BLOCK + l < k) { store<i32>(cand + (<usize>nc << 2), b * BLOCK + l); nc++; }
      }
    }
    if (nc == 1 && eb16 == eb16 && load<i32>(cand) == bi) {
      // Only the best slot is left: it wins (every other is strictly farther).
      if (err != 0) {
        const p = er + (<usize>bi << 2);
        store<f32>(p, max<f32>(load<f32>(p), downF32(<f64>eb16 + (e - e1))));
      }
      nd = decided(i, bi, nd, ks, kd, x, stride, rp, d, packed, cn, xn, outIndex, outDist);
      continue;
    }
    const row = rowAt(x, stride, rp, i);
    const nx = load<f32>(xn + (<usize>i << 2));
    let b16 = gathered(qx + <usize>i * qstride, dp, c16, cand, nc, nx, load<f32>(two + (<usize>i << 2)), cn, cest);
    let tf16 = max<f64>(<f64>b16 + 2 * e1, e1);
    if (err != 0) {
      // Kept estimates answer for D − E8: a 16-bit one as (estimate − E16) + E8 where that is higher.
      const lift = e - e1;
      for (let r = 0; r < nc; r++) {
        const p = er + (<usize>load<i32>(cand + (<usize>r << 2)) << 2);
        store<f32>(p, max<f32>(load<f32>(p), downF32(<f64>load<f32>(cest + (<usize>r << 2)) + lift)));
      }
    }
    if (bias != 0) {
      // The candidates' estimates biased in place, the best with its slot's term.
      let bb: f32 = 0;
      b16 = Infinity;
      for (let r = 0; r < nc; r++) {
        const bs = load<f32>(bias + (<usize>load<i32>(cand + (<usize>r << 2)) << 2));
        const v = load<f32>(cest + (<usize>r << 2)) + bs;
        store<f32>(cest + (<usize>r << 2), v);
        if (v < b16) { b16 = v; bb = bs; }
      }
      tf16 = biasedReach(biasedUpper(<f64>b16, <f64>bb, e1), e1);
    }
    const tv16 = upF32(tf16);
    // One slot left in the 16-bit window: it wins (every other is strictly farther); its distance four rows at a time.
    let left = 0, only = -1;
    for (let r = 0; r < nc; r++) if (load<f32>(cest + (<usize>r << 2)) <= tv16) { left++; only = load<i32>(cand + (<usize>r << 2)); }
    if (left == 1) {
      nd = decided(i, only, nd, ks, kd, x, stride, rp, d, packed, cn, xn, outIndex, outDist);
      continue;
    }
    store<i32>(outIndex + (<usize>i << 2), -1);
    store<f32>(outDist + (<usize>i << 2), Infinity);
    let cb = -1, bits = 0;
    for (let r = 0; r < nc; r++) {
      const s = load<i32>(cand + (<usize>r << 2));
      if (!(load<f32>(cest + (<usize>r << 2)) <= tv16)) continue;
      if ((s >> 3) != cb) {
        if (bits != 0) candidates(row, d, packed, cb, nx, cn, k, bits, ord, outIndex + (<usize>i << 2), outDist + (<usize>i << 2), bias);
        cb = s >> 3; bits = 0;
      }
      bits |= 1 << (s & 7);
    }
    if (bits != 0) candidates(row, d, packed, cb, nx, cn, k, bits, ord, outIndex + (<usize>i << 2), outDist + (<usize>i << 2), bias);
  }
  if (nd > 0) {
    for (let r = nd; r < 4; r++) store<i32>(DECIDED + (<usize>r << 2), load<i32>(DECIDED + (<usize>(nd - 1) << 2)));
    exact4(x, stride, rp, d, packed, cn, xn, outIndex, outDist);
  }
  return np;
}

/** 16-bit estimates of the nc listed slots (i16 rows at c16, dp values each) for one rounded row qr, four
 *  slots at a time sharing the row's loads; each stored at cest; returns the smallest. */
function gathered(qr: usize, dp: i32, c16: usize, cand: usize, nc: i32, nx: f32, two: f32, cn: usize, cest: usize): f32 {
  const rowBytes = <usize>dp << 1;
  let best: f32 = Infinity;
  let r = 0;
  for (; r + 4 <= nc; r += 4) {
    const s0 = load<i32>(cand + (<usize>r << 2));
    const s1 = load<i32>(cand + (<usize>(r + 1) << 2)), s2 = load<i32>(cand + (<usize>(r + 2) << 2)), s3 = load<i32>(cand + (<usize>(r + 3) << 2));
    const p0 = c16 + <usize>s0 * rowBytes, p1 = c16 + <usize>s1 * rowBytes, p2 = c16 + <usize>s2 * rowBytes, p3 = c16 + <usize>s3 * rowBytes;
    let f = f32x4.splat(0);
    for (let j0 = 0; j0 < dp; j0 += CHUNK16) {
      const j1 = min(dp, j0 + CHUNK16);
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let o = <usize>j0 << 1;
      const oe = <usize>j1 << 1, o8 = <usize>(j0 + ((j1 - j0) & ~7)) << 1;
      for (; o < o8; o += 16) {
        const xv = v128.load(qr + o);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xv, v128.load(p0 + o))); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xv, v128.load(p1 + o)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xv, v128.load(p2 + o))); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xv, v128.load(p3 + o)));
      }
      // Horizontal sums (exact in i32), then the tail pairs.
      let h0 = i32x4.extract_lane(a0, 0) + i32x4.extract_lane(a0, 1) + i32x4.extract_lane(a0, 2) + i32x4.extract_lane(a0, 3);
      let h1 = i32x4.extract_lane(a1, 0) + i32x4.extract_lane(a1, 1) + i32x4.extract_lane(a1, 2) + i32x4.extract_lane(a1, 3);
      let h2 = i32x4.extract_lane(a2, 0) + i32x4.extract_lane(a2, 1) + i32x4.extract_lane(a2, 2) + i32x4.extract_lane(a2, 3);
      let h3 = i32x4.extract_lane(a3, 0) + i32x4.extract_lane(a3, 1) + i32x4.extract_lane(a3, 2) + i32x4.extract_lane(a3, 3);
      for (; o < oe; o += 2) {
        const xq = <i32>load<i16>(qr + o);
        h0 += xq * <i32>load<i16>(p0 + o); h1 += xq * <i32>load<i16>(p1 + o);
        h2 += xq * <i32>load<i16>(p2 + o); h3 += xq * <i32>load<i16>(p3 + o);
      }
      f = f32x4.add(f, f32x4.convert_i32x4_s(i32x4(h0, h1, h2, h3)));
    }
    const cv = f32x4(load<f32>(cn + (<usize>s0 << 2)), load<f32>(cn + (<usize>s1 << 2)), load<f32>(cn + (<usize>s2 << 2)), load<f32>(cn + (<usize>s3 << 2)));
    const ev = f32x4.sub(f32x4.add(f32x4.splat(nx), cv), f32x4.mul(f, f32x4.splat(two)));
    v128.store(LANES, ev);
    for (let l = 0; l < 4; l++) {
      const v = load<f32>(LANES + (<usize>l << 2));
      store<f32>(cest + (<usize>(r + l) << 2), v);
      best = min<f32>(best, v);
    }
  }
  // The last one to three slots one at a time (no row loads to share): the same sums, in the same order, as a lane above.
  for (; r < nc; r++) {
    const s0 = load<i32>(cand + (<usize>r << 2));
    const p0 = c16 + <usize>s0 * rowBytes;
    let f: f32 = 0;
    for (let j0 = 0; j0 < dp; j0 += CHUNK16) {
      const j1 = min(dp, j0 + CHUNK16);
      let a0 = i32x4.splat(0);
      let o = <usize>j0 << 1;
      const oe = <usize>j1 << 1, o8 = <usize>(j0 + ((j1 - j0) & ~7)) << 1;
      for (; o < o8; o += 16) a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(qr + o), v128.load(p0 + o)));
      let h0 = i32x4.extract_lane(a0, 0) + i32x4.extract_lane(a0, 1) + i32x4.extract_lane(a0, 2) + i32x4.extract_lane(a0, 3);
      for (; o < oe; o += 2) h0 += <i32>load<i16>(qr + o) * <i32>load<i16>(p0 + o);
      f += <f32>h0;
    }
    const v = (nx + load<f32>(cn + (<usize>s0 << 2))) - f * two;
    store<f32>(cest + (<usize>r << 2), v);
    best = min<f32>(best, v);
  }
  return best;
}

/** The 8-bit pass: every row's best estimate (per lane, with its index) and second best; every estimate kept in est. */
function tiles8(qx8: usize, d4: i32, n: i32, q8c: usize, kb: i32, cnq: usize, xn: usize, k8: usize, xo2: usize, state: usize, est: usize,
  bias: usize): void {
  if (ASC_FEATURE_RELAXED_SIMD) tiles8R(qx8, d4, n, q8c, kb, cnq, xn, k8, xo2, state, est, bias);
}

function tiles8R(qx8: usize, d4: i32, n: i32, q8c: usize, kb: i32, cnq: usize, xn: usize, k8: usize, xo2: usize, state: usize, est: usize,
  bias: usize): void {
  const estRow = <usize>kb << 5;
  const rb = <usize>d4, blockBytes = <usize>d4 * BLOCK;
  let superBlocks = SUPER_BYTES / <i32>blockBytes;
  if (superBlocks < 1) superBlocks = 1;
  const lane = i32x4(0, 1, 2, 3);
  for (let sb = 0; sb < kb; sb += superBlocks) {
    const sbEnd = min(sb + superBlocks, kb);
    for (let g = 0; g < n; g += GROUP) {
      const gEnd = min(g + GROUP, n);
      for (let b = sb; b < sbEnd; b++) {
        const cb = q8c + <usize>b * blockBytes;
        const cn0 = v128.load(cnq + (<usize>b << 5)), cn1 = v128.load(cnq + (<usize>b << 5), 16);
        const i0 = i32x4.add(i32x4.splat(b * BLOCK), lane), i1 = i32x4.add(i0, i32x4.splat(4));
        const bv0 = bias != 0 ? v128.load(bias + (<usize>b << 5)) : f32x4.splat(0), bv1 = bias != 0 ? v128.load(bias + (<usize>b << 5), 16) : f32x4.splat(0);
        for (let i = g; i < gEnd; i += 4) {
          const r0 = qx8 + <usize>i * rb, r1 = r0 + rb, r2 = r1 + rb, r3 = r2 + rb;
          let a00 = i32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
          let cp = cb;
          for (let o: usize = 0; o < rb; o += 4) {
            const c0 = v128.load(cp), c1 = v128.load(cp, 16);
            const v0 = v128.load32_splat(r0 + o), v1 = v128.load32_splat(r1 + o), v2 = v128.load32_splat(r2 + o), v3 = v128.load32_splat(r3 + o);
            a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, c0, a00); a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, c1, a01);
            a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, c0, a10); a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, c1, a11);
            a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, c0, a20); a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, c1, a21);
            a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, c0, a30); a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, c1, a31);
            cp += 32;
          }
          finish8(i, a00, a01, xn, k8, xo2, cn0, cn1, state, est, estRow, b, i0, i1, bias, bv0, bv1);
          finish8(i + 1, a10, a11, xn, k8, xo2, cn0, cn1, state, est, estRow, b, i0, i1, bias, bv0, bv1);
          finish8(i + 2, a20, a21, xn, k8, xo2, cn0, cn1, state, est, estRow, b, i0, i1, bias, bv0, bv1);
          finish8(i + 3, a30, a31, xn, k8, xo2, cn0, cn1, state, est, estRow, b, i0, i1, bias, bv0, bv1);
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function finish8(i: i32, a0: v128, a1: v128, xn: usize, k8: usize, xo2: usize, cn0: v128, cn1: v128, state: usize, est: usize,
  estRow: usize, b: i32, i0: v128, i1: v128, bias: usize, bv0: v128, bv1: v128): void {
  const ri = <usize>i;
  const nxv = f32x4.splat(load<f32>(xn + (ri << 2))), kv = f32x4.splat(load<f32>(k8 + (ri << 2))), ov = f32x4.splat(load<f32>(xo2 + (ri << 2)));
  const e0 = f32x4.sub(f32x4.add(nxv, cn0), f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(a0), kv), ov));
  const e1 = f32x4.sub(f32x4.add(nxv, cn1), f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(a1), kv), ov));
  const st = state + ri * 48;
  if (bias != 0) { track(st, f32x4.add(e0, bv0), i0); track(st, f32x4.add(e1, bv1), i1); }
  else { track(st, e0, i0); track(st, e1, i1); }
  const ep = est + ri * estRow + (<usize>b << 5);
  v128.store(ep, e0); v128.store(ep, e1, 16);
}

const PROBE_ROWS = memory.data(4 * 512, 16);
const PROBE_BLOCK = memory.data(8 * 512, 16);
const PROBE_OUT = memory.data(128, 16);

/**
 * The filter's 4 × 8 tile over 512 bytes per row, `reps` times: 8-bit (relaxed SIMD's dot-add, 512 values) when
 * eight ≠ 0, else 16-bit (256 values). The host times both to learn whether the engine runs the 8-bit dot natively
 * (twice the 16-bit pair's multiply-adds) or emulates it (no faster). Returns a checksum; 0 without relaxed SIMD.
 */
export function probeQ8(reps: i32, eight: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return probeR(reps, eight);
  return 0;
}

function probeR(reps: i32, eight: i32): i32 {
  const r0 = PROBE_ROWS, r1 = r0 + 512, r2 = r1 + 512, r3 = r2 + 512;
  let s = 0;
  for (let t = 0; t < reps; t++) {
    let a00 = i32x4.splat(t), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    let cp = PROBE_BLOCK;
    for (let o: usize = 0; o < 512; o += 4) {
      const c0 = v128.load(cp), c1 = v128.load(cp, 16);
      const v0 = v128.load32_splat(r0 + o), v1 = v128.load32_splat(r1 + o), v2 = v128.load32_splat(r2 + o), v3 = v128.load32_splat(r3 + o);
      if (eight) {
        a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, c0, a00); a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, c1, a01);
        a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, c0, a10); a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, c1, a11);
        a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, c0, a20); a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, c1, a21);
        a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, c0, a30); a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, c1, a31);
      } else {
        a00 = i32x4.add(a00, i32x4.dot_i16x8_s(v0, c0)); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(v0, c1));
        a10 = i32x4.add(a10, i32x4.dot_i16x8_s(v1, c0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(v1, c1));
        a20 = i32x4.add(a20, i32x4.dot_i16x8_s(v2, c0)); a21 = i32x4.add(a21, i32x4.dot_i16x8_s(v2, c1));
        a30 = i32x4.add(a30, i32x4.dot_i16x8_s(v3, c0)); a31 = i32x4.add(a31, i32x4.dot_i16x8_s(v3, c1));
      }
      cp += 32;
    }
    v128.store(PROBE_OUT, i32x4.add(i32x4.add(i32x4.add(a00, a01), i32x4.add(a10, a11)), i32x4.add(i32x4.add(a20, a21), i32x4.add(a30, a31))));
    s += load<i32>(PROBE_OUT);
  }
  return s;
}
