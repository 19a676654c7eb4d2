import { filterMadd, sqNormRow } from './common';

// Product quantization: for every row and every one of M sub-spaces, the nearest of ksub codes
// (16 or 256) by Σ_j (x_j − c_j)², summed sequentially over j in f32 (as the reference).
//
// 16 codes: the codebook is transposed to [m][j][c] so that 16 codes fill four f32x4 lanes, and the
// direct sums are computed for two rows at a time.
// 256 codes (SIMD): a filter in GEMM form, then the exact sums. For 4 rows × 8 codes per register
// tile, A_c = ‖c‖² + Σ_j x_j·(−2c_j) (= the distance minus ‖x‖², up to rounding) from a [m][j][c]
// copy of −2c (multiply-adds fused where relaxed SIMD is on: one rounding a step instead of two, so the same
// margin holds); then every code with A_c ≤ min A + margin gets the exact sequential Σ (x_j − c_j)²,
// and the winner among those is chosen by the reference's rule. The margin,
// (ds + 4)·2^-19·(‖x‖² + max‖c‖²) + (ds + 4)·2^-126, is more than twice the worst rounding error of
// A_c plus that of the exact sum (≈ (5·ds + 6)·2^-24·(‖x‖² + ‖c‖²) each, plus subnormal terms), so the
// exact winner and every code tying with it are always candidates: the result is the reference's, bit
// for bit. Sub-vectors with ‖x‖² + max‖c‖² ≥ 1e30 (or NaN) take the full exact search.

/** codebook [m][c][j] → out [m][j][c]. */
export function pqTranspose(cb: usize, m: i32, ksub: i32, ds: i32, out: usize): void {
  for (let s = 0; s < m; s++) {
    const src = cb + (<usize>s * <usize>ksub * <usize>ds << 2);
    const dst = out + (<usize>s * <usize>ksub * <usize>ds << 2);
    for (let c = 0; c < ksub; c++) {
      for (let j = 0; j < ds; j++) {
        store<f32>(dst + (<usize>(j * ksub + c) << 2), load<f32>(src + (<usize>(c * ds + j) << 2)));
      }
    }
  }
}

/** For the 256-code filter: t2 [m][j][c] = −2·c_j, cn [m][c] = ‖c‖², cnmax [m] = max_c ‖c‖² (NaN if any is NaN). */
export function pqPrepare(cb: usize, m: i32, ksub: i32, ds: i32, t2: usize, cn: usize, cnmax: usize): void {
  for (let s = 0; s < m; s++) {
    const src = cb + (<usize>s * <usize>ksub * <usize>ds << 2);
    const dst = t2 + (<usize>s * <usize>ksub * <usize>ds << 2);
    let big: f32 = 0;
    for (let c = 0; c < ksub; c++) {
      let acc: f32 = 0;
      for (let j = 0; j < ds; j++) {
        const v = load<f32>(src + (<usize>(c * ds + j) << 2));
        store<f32>(dst + (<usize>(j * ksub + c) << 2), v * -2);
        acc += v * v;
      }
      store<f32>(cn + (<usize>(s * ksub + c) << 2), acc);
      big = max(big, acc);
    }
    store<f32>(cnmax + (<usize>s << 2), big);
  }
}

/** Exact search of one sub-vector over codes in the original layout [c][j] at cbs. */
function pqExactAll(xp: usize, cbs: usize, ksub: i32, ds: i32, outIndex: usize, outDist: usize, o: usize): void {
  let bs: f32 = NaN, bi: i32 = -1;
  const cbytes = <usize>ds << 2;
  for (let c = 0; c < ksub; c++) {
    const acc = exactDist(xp, cbs + <usize>c * cbytes, ds);
    if (acc == acc && !(acc >= bs)) { bs = acc; bi = c; }
  }
  store<i32>(outIndex + o, bi);
  store<f32>(outDist + o, bs);
}

// @ts-ignore: decorator
@inline export function exactDist(xp: usize, cp: usize, ds: i32): f32 {
  let acc: f32 = 0;
  for (let j = 0; j < ds; j++) {
    const e = load<f32>(xp + (<usize>j << 2)) - load<f32>(cp + (<usize>j << 2));
    acc += e * e;
  }
  return acc;
}

// @ts-ignore: decorator
@inline export function hmin(v: v128): f32 {
  const m1 = f32x4.pmin(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  const m2 = f32x4.pmin(m1, v128.shuffle<f32>(m1, m1, 1, 0, 3, 2));
  return f32x4.extract_lane(m2, 0);
}

/** Slots of pqPick's candidates (up to 256). */
const PICK: usize = memory.data(1024, 16);

/** Candidates of one sub-vector: codes whose filter value is ≤ thr get the exact sum. buf holds the 256
 *  filter values, bmin 32 vectors: lane l of vector b = min of codes 8b + l and 8b + 4 + l. Codes are in
 *  slot order when perm ≠ 0 (slot q holds code perm[q]; assembly/pqgroups.ts), else slot = code. Writes the
 *  winning code and its sum (ties to the lowest code), returns its slot. The sums are exactDist's, four
 *  candidates at a time in separate running sums (each still in j order: the same bits, not one add's latency). */
export function pqPick(xp: usize, cbs: usize, perm: usize, ds: i32, buf: usize, bmin: usize, thr: f32, outIndex: usize, outDist: usize,
  o: usize): i32 {
  const tv = f32x4.splat(thr);
  const cbytes = <usize>ds << 2;
  let nc = 0;
  for (let b = 0; b < 32; b += 4) {
    const p = bmin + (<usize>b << 4);
    const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
    if (!v128.any_true(f32x4.le(f32x4.pmin(f32x4.pmin(v0, v1), f32x4.pmin(v2, v3)), tv))) continue;
    let bits = i32x4.bitmask(f32x4.le(v0, tv)) | (i32x4.bitmask(f32x4.le(v1, tv)) << 4) |
      (i32x4.bitmask(f32x4.le(v2, tv)) << 8) | (i32x4.bitmask(f32x4.le(v3, tv)) << 12);
    while (bits != 0) {
      const t = ctz(bits);
      bits &= bits - 1;
      const q0 = ((b + (t >> 2)) << 3) + (t & 3);
      if (load<f32>(buf + (<usize>q0 << 2)) <= thr) { store<i32>(PICK + (<usize>nc << 2), q0); nc++; }
      if (load<f32>(buf + (<usize>(q0 + 4) << 2)) <= thr) { store<i32>(PICK + (<usize>nc << 2), q0 + 4); nc++; }
    }
  }
  // Exact sums are finite here; candidates come out of order, so ties go to the lower code explicitly.
  let bs: f32 = Infinity, bq: i32 = -1, bc: i32 = i32.MAX_VALUE;
  let i = 0;
  for (; i + 4 <= nc; i += 4) {
    const l = PICK + (<usize>i << 2);
    const q0 = load<i32>(l), q1 = load<i32>(l, 4), q2 = load<i32>(l, 8), q3 = load<i32>(l, 12);
    const c0 = cbs + <usize>q0 * cbytes, c1 = cbs + <usize>q1 * cbytes, c2 = cbs + <usize>q2 * cbytes, c3 = cbs + <usize>q3 * cbytes;
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (let j = 0; j < ds; j++) {
      const jo = <usize>j << 2;
      const x = load<f32>(xp + jo);
      const e0 = x - load<f32>(c0 + jo), e1 = x - load<f32>(c1 + jo), e2 = x - load<f32>(c2 + jo), e3 = x - load<f32>(c3 + jo);
      s0 += e0 * e0; s1 += e1 * e1; s2 += e2 * e2; s3 += e3 * e3;
    }
    const k0 = perm != 0 ? load<i32>(perm + (<usize>q0 << 2)) : q0, k1 = perm != 0 ? load<i32>(perm + (<usize>q1 << 2)) : q1;
    const k2 = perm != 0 ? load<i32>(perm + (<usize>q2 << 2)) : q2, k3 = perm != 0 ? load<i32>(perm + (<usize>q3 << 2)) : q3;
    if (s0 < bs || (s0 == bs && k0 < bc)) { bs = s0; bq = q0; bc = k0; }
    if (s1 < bs || (s1 == bs && k1 < bc)) { bs = s1; bq = q1; bc = k1; }
    if (s2 < bs || (s2 == bs && k2 < bc)) { bs = s2; bq = q2; bc = k2; }
    if (s3 < bs || (s3 == bs && k3 < bc)) { bs = s3; bq = q3; bc = k3; }
  }
  for (; i < nc; i++) {
    const q = load<i32>(PICK + (<usize>i << 2));
    const acc = exactDist(xp, cbs + <usize>q * cbytes, ds);
    const c = perm != 0 ? load<i32>(perm + (<usize>q << 2)) : q;
    if (acc < bs || (acc == bs && c < bc)) { bs = acc; bq = q; bc = c; }
  }
  store<i32>(outIndex + o, bq < 0 ? -1 : bc);
  store<f32>(outDist + o, bs);
  return bq;
}

/** The GEMM-form filter for 4 sub-vectors x0..x3 (ds floats each) against the 256 codes of one sub-space
 *  (ts = its −2c copy [j][c], cns = its ‖c‖²): filter values to scratch (4 × 1024 bytes), pairwise minima to
 *  scratch + 4096 (4 × 512 bytes), per-row running minima to scratch + 6144 (4 × f32x4). */
// @ts-ignore: decorator
@inline export function filterTile(x0: usize, x1: usize, x2: usize, x3: usize, ts: usize, cns: usize, ds: i32, scratch: usize): void {
  const mp = scratch + 6144;
  const inf = f32x4.splat(Infinity);
  v128.store(mp, inf); v128.store(mp, inf, 16); v128.store(mp, inf, 32); v128.store(mp, inf, 48);
  for (let c = 0; c < 256; c += 8) {
    const cv0 = v128.load(cns + (<usize>c << 2)), cv1 = v128.load(cns + (<usize>c << 2), 16);
    let a00 = cv0, a01 = cv1, a10 = cv0, a11 = cv1, a20 = cv0, a21 = cv1, a30 = cv0, a31 = cv1;
    let tp = ts + (<usize>c << 2);
    if (ds == 8) {
      {
        const c0 = v128.load(tp, 0), c1 = v128.load(tp, 16);
        const v0 = v128.load32_splat(x0, 0);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1, 0);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2, 0);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3, 0);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
      }
      {
        const c0 = v128.load(tp, 1024), c1 = v128.load(tp, 1040);
        const v0 = v128.load32_splat(x0, 4);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1, 4);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2, 4);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3, 4);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
      }
      {
        const c0 = v128.load(tp, 2048), c1 = v128.load(tp, 2064);
        const v0 = v128.load32_splat(x0, 8);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1, 8);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2, 8);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3, 8);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
      }
      {
        const c0 = v128.load(tp, 3072), c1 = v128.load(tp, 3088);
        const v0 = v128.load32_splat(x0, 12);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1, 12);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2, 12);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3, 12);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
      }
      {
        const c0 = v128.load(tp, 4096), c1 = v128.load(tp, 4112);
        const v0 = v128.load32_splat(x0, 16);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1, 16);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2, 16);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3, 16);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
      }
      {
        const c0 = v128.load(tp, 5120), c1 = v128.load(tp, 5136);
        const v0 = v128.load32_splat(x0, 20);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1, 20);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2, 20);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3, 20);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
      }
      {
        const c0 = v128.load(tp, 6144), c1 = v128.load(tp, 6160);
        const v0 = v128.load32_splat(x0, 24);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1, 24);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2, 24);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3, 24);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
      }
      {
        const c0 = v128.load(tp, 7168), c1 = v128.load(tp, 7184);
        const v0 = v128.load32_splat(x0, 28);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1, 28);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2, 28);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3, 28);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
      }
    } else {
      for (let j = 0; j < ds; j++) {
        const jo = <usize>j << 2;
        const c0 = v128.load(tp), c1 = v128.load(tp, 16);
        const v0 = v128.load32_splat(x0 + jo);
        a00 = filterMadd(v0, c0, a00); a01 = filterMadd(v0, c1, a01);
        const v1 = v128.load32_splat(x1 + jo);
        a10 = filterMadd(v1, c0, a10); a11 = filterMadd(v1, c1, a11);
        const v2 = v128.load32_splat(x2 + jo);
        a20 = filterMadd(v2, c0, a20); a21 = filterMadd(v2, c1, a21);
        const v3 = v128.load32_splat(x3 + jo);
        a30 = filterMadd(v3, c0, a30); a31 = filterMadd(v3, c1, a31);
        tp += 1024;
      }
    }
    const bp = scratch + (<usize>c << 2);
    v128.store(bp, a00); v128.store(bp, a01, 16);
    v128.store(bp, a10, 1024); v128.store(bp, a11, 1040);
    v128.store(bp, a20, 2048); v128.store(bp, a21, 2064);
    v128.store(bp, a30, 3072); v128.store(bp, a31, 3088);
    // pmin (no NaN propagation) is exact here: the filter values are finite whenever pqFinish uses them.
    const b0 = f32x4.pmin(a00, a01), b1 = f32x4.pmin(a10, a11), b2 = f32x4.pmin(a20, a21), b3 = f32x4.pmin(a30, a31);
    const bm = scratch + 4096 + (<usize>c << 1);
    v128.store(bm, b0); v128.store(bm, b1, 512); v128.store(bm, b2, 1024); v128.store(bm, b3, 1536);
    v128.store(mp, f32x4.pmin(v128.load(mp), b0));
    v128.store(mp, f32x4.pmin(v128.load(mp, 16), b1), 16);
    v128.store(mp, f32x4.pmin(v128.load(mp, 32), b2), 32);
    v128.store(mp, f32x4.pmin(v128.load(mp, 48), b3), 48);
  }
}

/**
 * 256 codes, SIMD: filter + exact candidates (see the header). x: n rows of d; cb original codebook;
 * t2/cn/cnmax from pqPrepare; scratch ≥ 6208 bytes.
 */
function pqAssign256(x: usize, n: i32, d: i32, m: i32, cb: usize, t2: usize, cn: usize, cnmax: usize,
  scratch: usize, outIndex: usize, outDist: usize): void {
  let group = (32768 / (d << 2)) & ~3;
  if (group < 4) group = 4;
  const stride = <usize>d << 2;
  const ob = <usize>m << 2;
  const ds = d / m;
  const subBytes = <usize>ds << 2;
  const tsBytes = <usize>256 * <usize>ds << 2;
  const k1 = <f32>(ds + 4) * <f32>1.9073486328125e-6; // 2^-19
  const k2 = <f32>(ds + 4) * <f32>1.1754943508222875e-38; // 2^-126
  const n4 = n & ~3;
  for (let g = 0; g < n; g += group) {
    const gEnd = min(g + group, n);
    const q4 = min(gEnd, n4);
    for (let s = 0; s < m; s++) {
      const ts = t2 + <usize>s * tsBytes;
      const cbs = cb + <usize>s * tsBytes;
      const cns = cn + (<usize>s << 10);
      const cmax = load<f32>(cnmax + (<usize>s << 2));
      let i = g;
      for (; i < q4; i += 4) {
        const x0 = x + <usize>i * stride + <usize>s * subBytes;
        const x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
        filterTile(x0, x1, x2, x3, ts, cns, ds, scratch);
        const mp = scratch + 6144;
        const o = <usize>i * ob + (<usize>s << 2);
        pqFinish(x0, cbs, ds, scratch, scratch + 4096, hmin(v128.load(mp, 0)), cmax, k1, k2, outIndex, outDist, o);
        pqFinish(x1, cbs, ds, scratch + 1024, scratch + 4608, hmin(v128.load(mp, 16)), cmax, k1, k2, outIndex, outDist, o + ob);
        pqFinish(x2, cbs, ds, scratch + 2048, scratch + 5120, hmin(v128.load(mp, 32)), cmax, k1, k2, outIndex, outDist, o + 2 * ob);
        pqFinish(x3, cbs, ds, scratch + 3072, scratch + 5632, hmin(v128.load(mp, 48)), cmax, k1, k2, outIndex, outDist, o + 3 * ob);
      }
      for (; i < gEnd; i++) {
        pqExactAll(x + <usize>i * stride + <usize>s * subBytes, cbs, 256, ds, outIndex, outDist, <usize>i * ob + (<usize>s << 2));
      }
    }
  }
}

// @ts-ignore: decorator
@inline function pqFinish(xp: usize, cbs: usize, ds: i32, buf: usize, bmin: usize, amin: f32, cmax: f32, k1: f32, k2: f32,
  outIndex: usize, outDist: usize, o: usize): void {
  const sum = sqNormRow(xp, ds) + cmax;
  if (sum < <f32>1e30 && abs(amin) < <f32>1e30) {
    pqPick(xp, cbs, 0, ds, buf, bmin, amin + (sum * k1 + k2), outIndex, outDist, o);
  } else {
    pqExactAll(xp, cbs, 256, ds, outIndex, outDist, o);
  }
}

// @ts-ignore: decorator
@inline function sqdiff(x: v128, c: v128, acc: v128): v128 {
  const t = f32x4.sub(x, c);
  if (ASC_FEATURE_RELAXED_SIMD && FUSED) return f32x4.relaxed_madd(t, t, acc);
  else return f32x4.add(acc, f32x4.mul(t, t));
}

/** Writes the best (lowest value, then lowest index) of the 4 lanes; false when no lane took a candidate. */
// @ts-ignore: decorator
@inline function lane4(best: v128, bestI: v128, outIndex: usize, outDist: usize, o: usize): bool {
  const m1 = f32x4.min(best, v128.shuffle<f32>(best, best, 2, 3, 0, 1));
  const m2 = f32x4.min(m1, v128.shuffle<f32>(m1, m1, 1, 0, 3, 2));
  const v = f32x4.extract_lane(m2, 0);
  if (!(v < Infinity)) return false;
  const cand = v128.bitselect(bestI, i32x4.splat(i32.MAX_VALUE), f32x4.eq(best, m2));
  const i1 = i32x4.min_s(cand, v128.shuffle<i32>(cand, cand, 2, 3, 0, 1));
  const i2 = i32x4.min_s(i1, v128.shuffle<i32>(i1, i1, 1, 0, 3, 2));
  store<i32>(outIndex + o, i32x4.extract_lane(i2, 0));
  store<f32>(outDist + o, v);
  return true;
}

/** Nearest of 16 codes whose distances are in a0..a3 (codes 0-3, 4-7, 8-11, 12-15), branch-free;
 *  false when the minimum is NaN or +Inf (the caller then redoes the sub-vector exactly). */
// @ts-ignore: decorator
@inline function min16(a0: v128, a1: v128, a2: v128, a3: v128, outIndex: usize, outDist: usize, o: usize): bool {
  const m0 = f32x4.min(f32x4.min(a0, a1), f32x4.min(a2, a3));
  const m1 = f32x4.min(m0, v128.shuffle<f32>(m0, m0, 2, 3, 0, 1));
  const m2 = f32x4.min(m1, v128.shuffle<f32>(m1, m1, 1, 0, 3, 2));
  const v = f32x4.extract_lane(m2, 0);
  if (!(v < Infinity)) return false;
  const big = i32x4.splat(i32.MAX_VALUE);
  const base = i32x4(0, 1, 2, 3);
  let c = v128.bitselect(base, big, f32x4.eq(a0, m2));
  c = i32x4.min_s(c, v128.bitselect(i32x4.add(base, i32x4.splat(4)), big, f32x4.eq(a1, m2)));
  c = i32x4.min_s(c, v128.bitselect(i32x4.add(base, i32x4.splat(8)), big, f32x4.eq(a2, m2)));
  c = i32x4.min_s(c, v128.bitselect(i32x4.add(base, i32x4.splat(12)), big, f32x4.eq(a3, m2)));
  const i1 = i32x4.min_s(c, v128.shuffle<i32>(c, c, 2, 3, 0, 1));
  const i2 = i32x4.min_s(i1, v128.shuffle<i32>(i1, i1, 1, 0, 3, 2));
  store<i32>(outIndex + o, i32x4.extract_lane(i2, 0));
  store<f32>(outDist + o, v);
  return true;
}

/** The exact scalar search of one sub-vector: first non-NaN code, then strictly smaller ones. */
function pqOne(xp: usize, ts: usize, ksub: i32, ds: i32, outIndex: usize, outDist: usize, o: usize): void {
  const rowBytes = <usize>ksub << 2;
  let bs: f32 = NaN, bi: i32 = -1;
  for (let c = 0; c < ksub; c++) {
    let acc: f32 = 0;
    let tp = ts + (<usize>c << 2);
    for (let j = 0; j < ds; j++) {
      const e = load<f32>(xp + (<usize>j << 2)) - load<f32>(tp);
      acc += e * e;
      tp += rowBytes;
    }
    if (acc == acc && !(acc >= bs)) { bs = acc; bi = c; }
  }
  store<i32>(outIndex + o, bi);
  store<f32>(outDist + o, bs);
}

/** outIndex/outDist[i·m + s] for n rows of d = m·ds floats; t = transposed codebook (16 codes or the
 *  scalar build), cb/t2/cn/cnmax/scratch for the 256-code SIMD path (pqPrepare). Rows are taken in
 *  groups of about 32 KiB so that each group stays in cache while every sub-space visits it. */
export function pqAssign(x: usize, n: i32, d: i32, m: i32, ksub: i32, t: usize, cb: usize, t2: usize, cn: usize, cnmax: usize,
  scratch: usize, outIndex: usize, outDist: usize): void {
  if (ASC_FEATURE_SIMD) {
    if (ksub == 256) { pqAssign256(x, n, d, m, cb, t2, cn, cnmax, scratch, outIndex, outDist); return; }
  }
  let group = (32768 / (d << 2)) & ~1;
  if (group < 2) group = 2;
  const stride = <usize>d << 2;
  const ob = <usize>m << 2;
  for (let g = 0; g < n; g += group) {
    const rows = min(group, n - g);
    pqRows(x + <usize>g * stride, rows, d, m, ksub, t, outIndex + <usize>g * ob, outDist + <usize>g * ob);
  }
}

function pqRows(x: usize, n: i32, d: i32, m: i32, ksub: i32, t: usize, outIndex: usize, outDist: usize): void {
  const ds = d / m;
  const stride = <usize>d << 2;
  const subBytes = <usize>ds << 2;
  const tsBytes = <usize>ksub * <usize>ds << 2;
  const rowBytes = <usize>ksub << 2;
  const ob = <usize>m << 2;
  for (let s = 0; s < m; s++) {
    const ts = t + <usize>s * tsBytes;
    let xp = x + <usize>s * subBytes;
    let o = <usize>s << 2;
    if (!ASC_FEATURE_SIMD) {
      for (let i = 0; i < n; i++) { pqOne(xp, ts, ksub, ds, outIndex, outDist, o); xp += stride; o += ob; }
      continue;
    }
    // Two rows share every codebook load; a candidate is taken when strictly below the best so far,
    // starting from +Inf. A sub-vector with no candidate below +Inf (NaN, overflow) is redone exactly.
    let i = 0;
    if (ksub == 16) {
      // 16 codes = four f32x4 per row: two rows at a time, all codes in registers, argmin by a min tree.
      for (; i + 1 < n; i += 2) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
        const xq = xp + stride;
        let tp = ts;
        for (let j = 0; j < ds; j++) {
          const jo = <usize>j << 2;
          const u = v128.load32_splat(xp + jo), v = v128.load32_splat(xq + jo);
          const c0 = v128.load(tp), c1 = v128.load(tp, 16), c2 = v128.load(tp, 32), c3 = v128.load(tp, 48);
          a0 = sqdiff(u, c0, a0); a1 = sqdiff(u, c1, a1); a2 = sqdiff(u, c2, a2); a3 = sqdiff(u, c3, a3);
          b0 = sqdiff(v, c0, b0); b1 = sqdiff(v, c1, b1); b2 = sqdiff(v, c2, b2); b3 = sqdiff(v, c3, b3);
          tp += 64;
        }
        if (!min16(a0, a1, a2, a3, outIndex, outDist, o)) pqOne(xp, ts, ksub, ds, outIndex, outDist, o);
        if (!min16(b0, b1, b2, b3, outIndex, outDist, o + ob)) pqOne(xq, ts, ksub, ds, outIndex, outDist, o + ob);
        xp += stride << 1; o += ob << 1;
      }
      if (i < n) pqOne(xp, ts, ksub, ds, outIndex, outDist, o);
      continue;
    }
    for (; i + 1 < n; i += 2) {
      let best0 = f32x4.splat(Infinity), best1 = f32x4.splat(Infinity);
      let bestI0 = i32x4.splat(-1), bestI1 = i32x4.splat(-1);
      let idx = i32x4(0, 1, 2, 3);
      const four = i32x4.splat(4);
      const xq = xp + stride;
      for (let c = 0; c < ksub; c += 8) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
        let tp = ts + (<usize>c << 2);
        for (let j = 0; j < ds; j++) {
          const jo = <usize>j << 2;
          const u = v128.load32_splat(xp + jo), v = v128.load32_splat(xq + jo);
          const c0 = v128.load(tp), c1 = v128.load(tp, 16);
          a0 = sqdiff(u, c0, a0); a1 = sqdiff(u, c1, a1);
          b0 = sqdiff(v, c0, b0); b1 = sqdiff(v, c1, b1);
          tp += rowBytes;
        }
        let k = f32x4.lt(a0, best0); best0 = v128.bitselect(a0, best0, k); bestI0 = v128.bitselect(idx, bestI0, k);
        k = f32x4.lt(b0, best1); best1 = v128.bitselect(b0, best1, k); bestI1 = v128.bitselect(idx, bestI1, k);
        idx = i32x4.add(idx, four);
        k = f32x4.lt(a1, best0); best0 = v128.bitselect(a1, best0, k); bestI0 = v128.bitselect(idx, bestI0, k);
        k = f32x4.lt(b1, best1); best1 = v128.bitselect(b1, best1, k); bestI1 = v128.bitselect(idx, bestI1, k);
        idx = i32x4.add(idx, four);
      }
      if (!lane4(best0, bestI0, outIndex, outDist, o)) pqOne(xp, ts, ksub, ds, outIndex, outDist, o);
      if (!lane4(best1, bestI1, outIndex, outDist, o + ob)) pqOne(xq, ts, ksub, ds, outIndex, outDist, o + ob);
      xp += stride << 1; o += ob << 1;
    }
    if (i < n) pqOne(xp, ts, ksub, ds, outIndex, outDist, o);
  }
}

/** 8-bit codes: out[p] = max(idx[p], 0). */
export function pqCodes8(idx: usize, len: i32, out: usize): void {
  for (let p = 0; p < len; p++) {
    const c = load<i32>(idx + (<usize>p << 2));
    store<u8>(out + p, <u8>(c < 0 ? 0 : c));
  }
}

/** 4-bit codes, two a byte, even position in the low nibble (len even). */
export function pqCodes4(idx: usize, len: i32, out: usize): void {
  for (let p = 0; p < len; p += 2) {
    let a = load<i32>(idx + (<usize>p << 2)), b = load<i32>(idx + (<usize>p << 2), 4);
    if (a < 0) a = 0;
    if (b < 0) b = 0;
    store<u8>(out + (p >> 1), <u8>(a | (b << 4)));
  }
}

// PQ k-means with distance bounds. Per (row, sub-space) pair the caller keeps the code chosen last time
// (−1: none) and L, a lower bound on the true Euclidean distance from the sub-vector to every other
// code of its sub-space. Before a step, L drops by the largest drift of those codes (drift: per
// sub-space the largest code drift, the code that has it, and the largest drift of the others; NaN or
// +Inf restarts the sub-space). A pair whose previous code a still satisfies
//   ((1 − γ)·L² − ε)·(1 − 1e-12) > d̂_a   (d̂_a = the kernel's sequential f32 Σ (x_j − c_j)²)
// keeps a: every other code's kernel sum is ≥ (1 − γ)·D − ε for its true distance D ≥ L², with
// γ = (ds + 4)·2^-23 and ε = (ds + 4)·2^-125 (more than twice the relative and subnormal rounding of a
// sum of ds squares), so a is the unique argmin of the brute-force search and d̂_a is its output, bit
// for bit. Every other pair takes the full search, which also yields its new L: from the exact second
// best sum (scalar build, 16 codes) or from the smallest filter value of the other codes minus the
// filter's rounding bound (256 codes, SIMD).

export const P23: f64 = 1.1920928955078125e-7; // 2^-23
const P20: f64 = 9.5367431640625e-7; // 2^-20
const P40: f64 = 9.094947017729282e-13; // 2^-40
export const P125: f64 = 2.350988701644575e-38; // 2^-125
export const DOWN: f64 = 0.9999997615814209; // 1 − 2^-22: stored bounds are rounded down through this

/** L from the exact second-best sum s2 (≥ 0; 0 when there is none). margin 0 is a test hook. */
// @ts-ignore: decorator
@inline export function lowerFromExact(s2: f32, ds: i32, margin: f64): f32 {
  if (!(s2 < Infinity)) return 0;
  const g = <f64>(ds + 4) * P23 * margin, e = <f64>(ds + 4) * P125 * margin;
  const t = (<f64>s2 - e) / (1 + g);
  if (!(t > 0)) return 0;
  return <f32>(sqrt(t) * (1 - (1 - DOWN) * margin));
}

/** L from the smallest filter value a2 of the other codes (xn = ‖x‖², sum = xn + max‖c‖², both f32). */
// @ts-ignore: decorator
@inline function lowerFromFilter(a2: f32, xn: f32, sum: f32, ds: i32, margin: f64): f32 {
  const g = <f64>(ds + 4) * P23 * margin;
  const errA = (<f64>(ds + 4) * P20 * 1.0001 + P40) * <f64>sum * margin + <f64>(ds + 4) * P125 * margin;
  const t = (<f64>a2 + <f64>xn * (1 - g)) - errA;
  if (!(t > 0)) return 0;
  return <f32>(sqrt(t) * (1 - (1 - DOWN) * margin));
}

/** Exact search of one sub-vector (codes [c][j] at cbs) keeping the second-best sum; lb −1 when none wins. */
export function pqExactSecond(xp: usize, cbs: usize, ksub: i32, ds: i32, pIdx: usize, pDist: usize, pLb: usize, o: usize, margin: f64): void {
  let bs: f32 = NaN, bi: i32 = -1, s2: f32 = Infinity;
  const cbytes = <usize>ds << 2;
  for (let c = 0; c < ksub; c++) {
    const acc = exactDist(xp, cbs + <usize>c * cbytes, ds);
    if (acc != acc) continue;
    if (bi < 0) { bs = acc; bi = c; continue; }
    if (acc < bs) { s2 = bs; bs = acc; bi = c; } else if (acc < s2) s2 = acc;
  }
  store<i32>(pIdx + o, bi);
  store<f32>(pDist + o, bs);
  store<f32>(pLb + o, bi < 0 ? -1 : lowerFromExact(s2, ds, margin));
}

/** 16 codes, SIMD, one sub-vector (ts = the sub-space's transposed codes [j][c]). */
function pqSearch16Bounded(xp: usize, ts: usize, cbs: usize, ds: i32, pIdx: usize, pDist: usize, pLb: usize, o: usize, margin: f64): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tp = ts;
  for (let j = 0; j < ds; j++) {
    const u = v128.load32_splat(xp + (<usize>j << 2));
    a0 = sqdiff(u, v128.load(tp), a0); a1 = sqdiff(u, v128.load(tp, 16), a1);
    a2 = sqdiff(u, v128.load(tp, 32), a2); a3 = sqdiff(u, v128.load(tp, 48), a3);
    tp += 64;
  }
  if (!min16(a0, a1, a2, a3, pIdx, pDist, o)) { pqExactSecond(xp, cbs, 16, ds, pIdx, pDist, pLb, o, margin); return; }
  // No NaN here (min16 propagates NaN): the second best is the minimum over the other 15 lanes.
  const bv = i32x4.splat(load<i32>(pIdx + o)), big = f32x4.splat(Infinity), base = i32x4(0, 1, 2, 3);
  let mn = v128.bitselect(a0, big, i32x4.ne(base, bv));
  mn = f32x4.min(mn, v128.bitselect(a1, big, i32x4.ne(i32x4.add(base, i32x4.splat(4)), bv)));
  mn = f32x4.min(mn, v128.bitselect(a2, big, i32x4.ne(i32x4.add(base, i32x4.splat(8)), bv)));
  mn = f32x4.min(mn, v128.bitselect(a3, big, i32x4.ne(i32x4.add(base, i32x4.splat(12)), bv)));
  store<f32>(pLb + o, lowerFromExact(hmin(mn), ds, margin));
}

/** 256 codes, SIMD: filter + exact candidates (as pqFinish), then L from the other codes' filter values. */
// @ts-ignore: decorator
@inline function finishBounded(xp: usize, cbs: usize, ds: i32, buf: usize, bmin: usize, amin: f32, cmax: f32, k1: f32, k2: f32,
  pIdx: usize, pDist: usize, pLb: usize, o: usize, margin: f64): void {
  const xn = sqNormRow(xp, ds);
  const sum = xn + cmax;
  if (sum < <f32>1e30 && abs(amin) < <f32>1e30) {
    pqPick(xp, cbs, 0, ds, buf, bmin, amin + (sum * k1 + k2), pIdx, pDist, o);
    const bi = load<i32>(pIdx + o);
    // The winner's lane of the pairwise minima now holds its partner only.
    store<f32>(bmin + (<usize>(bi >> 3) << 4) + (<usize>(bi & 3) << 2), load<f32>(buf + (<usize>(bi ^ 4) << 2)));
    let v0 = v128.load(bmin), v1 = v128.load(bmin, 16), v2 = v128.load(bmin, 32), v3 = v128.load(bmin, 48);
    for (let b: usize = 64; b < 512; b += 64) {
      const p = bmin + b;
      v0 = f32x4.pmin(v0, v128.load(p)); v1 = f32x4.pmin(v1, v128.load(p, 16));
      v2 = f32x4.pmin(v2, v128.load(p, 32)); v3 = f32x4.pmin(v3, v128.load(p, 48));
    }
    const a2 = hmin(f32x4.pmin(f32x4.pmin(v0, v1), f32x4.pmin(v2, v3)));
    store<f32>(pLb + o, lowerFromFilter(a2, xn, sum, ds, margin));
  } else {
    pqExactSecond(xp, cbs, 256, ds, pIdx, pDist, pLb, o, margin);
  }
}

/** cnt packed sub-vectors (cnt a multiple of 4) of one sub-space, 256 codes, SIMD. */
function pqSearch256Bounded(xp: usize, cnt: i32, ds: i32, cbs: usize, ts: usize, cns: usize, cmax: f32, scratch: usize,
  pIdx: usize, pDist: usize, pLb: usize, margin: f64): void {
  const sb = <usize>ds << 2;
  const k1 = <f32>(ds + 4) * <f32>1.9073486328125e-6; // 2^-19
  const k2 = <f32>(ds + 4) * <f32>1.1754943508222875e-38; // 2^-126
  const mp = scratch + 6144;
  for (let i = 0; i < cnt; i += 4) {
    const x0 = xp + <usize>i * sb, x1 = x0 + sb, x2 = x1 + sb, x3 = x2 + sb;
    filterTile(x0, x1, x2, x3, ts, cns, ds, scratch);
    const o = <usize>i << 2;
    finishBounded(x0, cbs, ds, scratch, scratch + 4096, hmin(v128.load(mp, 0)), cmax, k1, k2, pIdx, pDist, pLb, o, margin);
    finishBounded(x1, cbs, ds, scratch + 1024, scratch + 4608, hmin(v128.load(mp, 16)), cmax, k1, k2, pIdx, pDist, pLb, o + 4, margin);
    finishBounded(x2, cbs, ds, scratch + 2048, scratch + 5120, hmin(v128.load(mp, 32)), cmax, k1, k2, pIdx, pDist, pLb, o + 8, margin);
    finishBounded(x3, cbs, ds, scratch + 3072, scratch + 5632, hmin(v128.load(mp, 48)), cmax, k1, k2, pIdx, pDist, pLb, o + 12, margin);
  }
}

/** The nt codes of largest drift (nt a multiple of 4; their codes at tc, −1 = none; coordinates [j][nt] at tt)
 *  against the previous code a with sum dv: NaN when one of them (≠ a) would beat or tie-win over a, else
 *  the smallest of their exact sums (+Inf when none counts). */
// @ts-ignore: decorator
@inline function topKeeps(xp: usize, tt: usize, tc: usize, nt: i32, ds: i32, a: i32, dv: f32): f32 {
  if (ASC_FEATURE_SIMD) {
    const av = i32x4.splat(a), none = i32x4.splat(-1), dvv = f32x4.splat(dv), inf = f32x4.splat(Infinity);
    let mn = inf;
    for (let h = 0; h < nt; h += 4) {
      let s0 = f32x4.splat(0);
      let o = tt + (<usize>h << 2);
      for (let j = 0; j < ds; j++) {
        const e0 = f32x4.sub(v128.load32_splat(xp + (<usize>j << 2)), v128.load(o));
        s0 = f32x4.add(s0, f32x4.mul(e0, e0));
        o += <usize>nt << 2;
      }
      const c0 = v128.load(tc + (<usize>h << 2));
      const skip0 = v128.or(i32x4.eq(c0, none), i32x4.eq(c0, av));
      const ok0 = v128.or(skip0, v128.or(f32x4.gt(s0, dvv), v128.and(f32x4.eq(s0, dvv), i32x4.gt_s(c0, av))));
      if (!i32x4.all_true(ok0)) return NaN;
      mn = f32x4.pmin(mn, v128.bitselect(inf, s0, skip0));
    }
    return hmin(mn);
  } else {
    let mn: f32 = Infinity;
    for (let h = 0; h < nt; h++) {
      const c = load<i32>(tc + (<usize>h << 2));
      if (c < 0 || c == a) continue;
      let acc: f32 = 0;
      for (let j = 0; j < ds; j++) {
        const e = load<f32>(xp + (<usize>j << 2)) - load<f32>(tt + (<usize>(j * nt + h) << 2));
        acc += e * e;
      }
      if (!(acc > dv || (acc == dv && c > a))) return NaN;
      mn = min(mn, acc);
    }
    return mn;
  }
}

/** Appends row i to sub-space s's list of pairs that take the full search (lists: m × n i32, cnt: m i32). */
// @ts-ignore: decorator
@inline export function pushListed(lists: usize, cnt: usize, n: i32, s: i32, i: i32): void {
  const cp = cnt + (<usize>s << 2);
  const c = load<i32>(cp);
  store<i32>(lists + ((<usize>s * <usize>n + <usize>c) << 2), i);
  store<i32>(cp, c + 1);
}

/** The sub-vectors (ds floats at xs + row·stride) of the c rows listed at ls, packed contiguously at packed. */
// @ts-ignore: decorator
@inline export function packListed(xs: usize, ls: usize, c: i32, stride: usize, ds: i32, packed: usize): void {
  const sb = <usize>ds << 2;
  if (ASC_FEATURE_SIMD && ds == 8) {
    for (let r = 0; r < c; r++) {
      const src = xs + <usize>load<i32>(ls + (<usize>r << 2)) * stride, dst = packed + (<usize>r << 5);
      v128.store(dst, v128.load(src)); v128.store(dst, v128.load(src, 16), 16);
    }
  } else {
    for (let r = 0; r < c; r++) {
      const src = xs + <usize>load<i32>(ls + (<usize>r << 2)) * stride, dst = packed + <usize>r * sb;
      for (let j: usize = 0; j < sb; j += 4) store<f32>(dst + j, load<f32>(src + j));
    }
  }
}

/** dvs[s] (f32 × m) = the exact sum (the bits of exactDist) from row i's sub-vectors to their kept codes (code 0
 *  for pairs without one): lane-wise squares summed in j order, or four independent sequential chains at a time. */
// @ts-ignore: decorator
@inline export function keptSums(xr: usize, i: i32, m: i32, ds: i32, ksub: i32, sAssign: usize, cb: usize, dvs: usize): void {
  const sb = <usize>ds << 2;
  const tsBytes = <usize>ksub * sb;
  if (ASC_FEATURE_SIMD && ds == 8) {
    for (let s = 0; s < m; s++) {
      const a = max(0, load<i32>(sAssign + ((<usize>i * <usize>m + <usize>s) << 2)));
      const xs = xr + (<usize>s << 5), cs = cb + <usize>s * tsBytes + (<usize>a << 5);
      const e0 = f32x4.sub(v128.load(xs), v128.load(cs)), e1 = f32x4.sub(v128.load(xs, 16), v128.load(cs, 16));
      const q0 = f32x4.mul(e0, e0), q1 = f32x4.mul(e1, e1);
      let acc: f32 = f32x4.extract_lane(q0, 0);
      acc += f32x4.extract_lane(q0, 1); acc += f32x4.extract_lane(q0, 2); acc += f32x4.extract_lane(q0, 3);
      acc += f32x4.extract_lane(q1, 0); acc += f32x4.extract_lane(q1, 1); acc += f32x4.extract_lane(q1, 2); acc += f32x4.extract_lane(q1, 3);
      store<f32>(dvs + (<usize>s << 2), acc);
    }
  } else for (let s = 0; s < m; s += 4) {
    if (s + 4 > m) {
      for (let t = s; t < m; t++) {
        const a = max(0, load<i32>(sAssign + ((<usize>i * <usize>m + <usize>t) << 2)));
        store<f32>(dvs + (<usize>t << 2), exactDist(xr + <usize>t * sb, cb + <usize>t * tsBytes + <usize>a * sb, ds));
      }
      break;
    }
    const ap = sAssign + ((<usize>i * <usize>m + <usize>s) << 2);
    const x0 = xr + <usize>s * sb, x1 = x0 + sb, x2 = x1 + sb, x3 = x2 + sb;
    const c0 = cb + <usize>s * tsBytes + <usize>max(0, load<i32>(ap)) * sb;
    const c1 = cb + <usize>(s + 1) * tsBytes + <usize>max(0, load<i32>(ap, 4)) * sb;
    const c2 = cb + <usize>(s + 2) * tsBytes + <usize>max(0, load<i32>(ap, 8)) * sb;
    const c3 = cb + <usize>(s + 3) * tsBytes + <usize>max(0, load<i32>(ap, 12)) * sb;
    let q0: f32 = 0, q1: f32 = 0, q2: f32 = 0, q3: f32 = 0;
    for (let j = 0; j < ds; j++) {
      const o = <usize>j << 2;
      const e0 = load<f32>(x0 + o) - load<f32>(c0 + o), e1 = load<f32>(x1 + o) - load<f32>(c1 + o);
      const e2 = load<f32>(x2 + o) - load<f32>(c2 + o), e3 = load<f32>(x3 + o) - load<f32>(c3 + o);
      q0 += e0 * e0; q1 += e1 * e1; q2 += e2 * e2; q3 += e3 * e3;
    }
    const dq = dvs + (<usize>s << 2);
    store<f32>(dq, q0); store<f32>(dq, q1, 4); store<f32>(dq, q2, 8); store<f32>(dq, q3, 12);
  }
}

/**
 * pqAssign with bounds (see above) for n rows of d = m·ds: outIndex/outDist[i·m + s] as pqAssign, bit for
 * bit; sAssign (i32) / sLower (f32) [i·m + s] are read and updated; drift: f64 [m][3] = largest code drift,
 * largest drift of the other codes, the code with the largest; top (i32 [m][nt]) / rest (f64 [m]) / topT
 * (f32 [m][ds][nt]): the second chance's codes, the drift of the others and their coordinates (top = 0:
 * none). Work areas: scratch (max(6208, 4·m) bytes), lists (m·n i32), cnt (m i32), packed ((n + 4)·ds f32),
 * pIdx / pDist / pLb (n + 4 values each). margin: 1 (0 = test hook that drops every rounding margin). Returns the number of pairs that kept their code without a search.
 */
export function pqAssignBounded(x: usize, n: i32, d: i32, m: i32, ksub: i32, t: usize, cb: usize, t2: usize, cn: usize, cnmax: usize,
  scratch: usize, outIndex: usize, outDist: usize, sAssign: usize, sLower: usize, drift: usize,
  lists: usize, cnt: usize, packed: usize, pIdx: usize, pDist: usize, pLb: usize, margin: f64,
  top: usize, rest: usize, topT: usize, nt: i32): i32 {
  const ds = d / m;
  const stride = <usize>d << 2;
  const sb = <usize>ds << 2;
  const tsBytes = <usize>ksub * sb;
  const g = <f64>(ds + 4) * P23 * margin, e = <f64>(ds + 4) * P125 * margin, slack = 1 - 1e-12 * margin;
  const down = 1 - (1 - DOWN) * margin;
  for (let s = 0; s < m; s++) store<i32>(cnt + (<usize>s << 2), 0);
  let skipped = 0;
  const dvs = scratch;                                      // f32 × m: the exact sums to the kept codes of a row
  for (let i = 0; i < n; i++) {
    const xr = x + <usize>i * stride;
    keptSums(xr, i, m, ds, ksub, sAssign, cb, dvs);
    for (let s = 0; s < m; s++) {
      const p = (<usize>i * <usize>m + <usize>s) << 2;
      const a = load<i32>(sAssign + p);
      if (a >= 0) {
        const dp = drift + <usize>s * 24;
        const l0 = <f64>load<f32>(sLower + p);
        const l = l0 - (a == <i32>load<f64>(dp, 16) ? load<f64>(dp, 8) : load<f64>(dp));
        const dv = load<f32>(dvs + (<usize>s << 2));
        if (l > 0) {
          if ((l * l * (1 - g) - e) * slack > <f64>dv && dv < Infinity) {
            store<i32>(outIndex + p, a);
            store<f32>(outDist + p, dv);
            store<f32>(sLower + p, <f32>(l * down));
            skipped++;
            continue;
          }
        }
        if (top != 0) {
          const lr = l0 - load<f64>(rest + (<usize>s << 3));
          if (lr > 0) {
            if ((lr * lr * (1 - g) - e) * slack > <f64>dv && dv < Infinity) {
              const lt = topKeeps(xr + <usize>s * sb, topT + <usize>s * sb * <usize>nt, top + (<usize>(s * nt) << 2), nt, ds, a, dv);
              if (lt == lt) {
                const lb = <f32>(lr * down);
                store<i32>(outIndex + p, a);
                store<f32>(outDist + p, dv);
                store<f32>(sLower + p, lt < Infinity ? min(lb, lowerFromExact(lt, ds, margin)) : lb);
                skipped++;
                continue;
              }
            }
          }
        }
      }
      pushListed(lists, cnt, n, s, i);
    }
  }
  for (let s = 0; s < m; s++) {
    const c = load<i32>(cnt + (<usize>s << 2));
    if (c == 0) continue;
    const ls = lists + (<usize>s * <usize>n << 2);
    const cbs = cb + <usize>s * tsBytes;
    const xs = x + <usize>s * sb;
    packListed(xs, ls, c, stride, ds, packed);
    if (ASC_FEATURE_SIMD && ksub == 256) {
      const c4 = (c + 3) & ~3;
      if (c4 > c) memory.fill(packed + <usize>c * sb, 0, <usize>(c4 - c) * sb);
      pqSearch256Bounded(packed, c4, ds, cbs, t2 + <usize>s * tsBytes, cn + (<usize>s << 10), load<f32>(cnmax + (<usize>s << 2)),
        scratch, pIdx, pDist, pLb, margin);
    } else if (ASC_FEATURE_SIMD) {
      const ts = t + <usize>s * tsBytes;
      for (let r = 0; r < c; r++) pqSearch16Bounded(packed + <usize>r * sb, ts, cbs, ds, pIdx, pDist, pLb, <usize>r << 2, margin);
    } else {
      for (let r = 0; r < c; r++) pqExactSecond(packed + <usize>r * sb, cbs, ksub, ds, pIdx, pDist, pLb, <usize>r << 2, margin);
    }
    for (let r = 0; r < c; r++) {
      const i = load<i32>(ls + (<usize>r << 2));
      const p = (<usize>i * <usize>m + <usize>s) << 2;
      const q = <usize>r << 2;
      const bi = load<i32>(pIdx + q), lb = load<f32>(pLb + q);
      store<i32>(outIndex + p, bi);
      store<f32>(outDist + p, load<f32>(pDist + q));
      const ok = bi >= 0 && lb >= 0;
      store<i32>(sAssign + p, ok ? bi : -1);
      store<f32>(sLower + p, ok ? lb : 0);
    }
  }
  return skipped;
}
