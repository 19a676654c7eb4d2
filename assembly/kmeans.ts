// k-means map step in exact fixed point: sums[c·d + j] += nearest(f64(x_ij) · scale) as i64
// (saturating; NaN → 0), counts[c] += 1, loss[c] += nearest(f64(dist_i) · lossScale),
// radius[c] = max(radius[c], dist_i) (NaN ignored), for every row with index ≥ 0.
//
// SIMD fast path: for |y| < 2^51, y + 1.5·2^52 rounds y to an integer (ties to even, as f64.nearest)
// and the low bits of the sum's bit pattern minus those of 1.5·2^52 are that integer. A row takes
// this path when max |x_ij| · scale < 2^51 (false for NaN); other rows take the exact scalar path.

// @ts-ignore: decorator
@inline function fixed(v: f64, scale: f64): i64 {
  return <i64>nearest<f64>(v * scale);
}

const MAGIC: f64 = 6755399441055744.0; // 1.5 · 2^52
const MAGIC_BITS: i64 = 0x4338000000000000;
const FAST_LIMIT: f64 = 2251799813685248.0; // 2^51

/** sums += the row's fixed-point values (neg: −=). */
// @ts-ignore: decorator
@inline function rowScalar(xr: usize, sr: usize, d: i32, scale: f64, neg: bool = false): void {
  for (let j = 0; j < d; j++) {
    const p = sr + (<usize>j << 3);
    const v = fixed(<f64>load<f32>(xr + (<usize>j << 2)), scale);
    store<i64>(p, neg ? load<i64>(p) - v : load<i64>(p) + v);
  }
}

/** rowScalar's integers by the fast path (the caller checks |x|·scale < 2^51). */
// @ts-ignore: decorator
@inline function rowSimd(xr: usize, sr: usize, d: i32, scale: f64, neg: bool = false): void {
  const d4 = d & ~3;
  const sv = f64x2.splat(scale), mv = f64x2.splat(MAGIC), mb = i64x2.splat(MAGIC_BITS);
  for (let j = 0; j < d4; j += 4) {
    const v = v128.load(xr + (<usize>j << 2));
    const lo = i64x2.sub(f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(v), sv), mv), mb);
    const hi = i64x2.sub(f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)), sv), mv), mb);
    const p = sr + (<usize>j << 3);
    v128.store(p, neg ? i64x2.sub(v128.load(p), lo) : i64x2.add(v128.load(p), lo));
    v128.store(p, neg ? i64x2.sub(v128.load(p, 16), hi) : i64x2.add(v128.load(p, 16), hi), 16);
  }
  if (d4 < d) rowScalar(xr + (<usize>d4 << 2), sr + (<usize>d4 << 3), d - d4, scale, neg);
}

/** max |x_j| of a row as f32 (NaN when the row has a NaN): an unsigned max of the magnitude bits. */
// @ts-ignore: decorator
@inline function rowMaxAbs(xr: usize, d: i32): f32 {
  const d4 = d & ~3;
  const mag = i32x4.splat(0x7fffffff);
  let m = i32x4.splat(0);
  for (let j = 0; j < d4; j += 4) m = i32x4.max_u(m, v128.and(v128.load(xr + (<usize>j << 2)), mag));
  m = i32x4.max_u(m, v128.shuffle<i32>(m, m, 2, 3, 0, 1));
  m = i32x4.max_u(m, v128.shuffle<i32>(m, m, 1, 0, 3, 2));
  let r = <u32>i32x4.extract_lane(m, 0);
  for (let j = d4; j < d; j++) r = max(r, load<u32>(xr + (<usize>j << 2)) & 0x7fffffff);
  return reinterpret<f32>(r);
}

/** Accumulates one row of d floats at xr with distance dv into cluster c. */
// @ts-ignore: decorator
@inline export function accumulateRow(xr: usize, d: i32, c: i32, dv: f32, scale: f64, lossScale: f64,
  sums: usize, counts: usize, loss: usize, radius: usize): void {
  const sr = sums + (<usize>c * <usize>d << 3);
  if (ASC_FEATURE_SIMD) {
    if (<f64>rowMaxAbs(xr, d) * scale < FAST_LIMIT) rowSimd(xr, sr, d, scale);
    else rowScalar(xr, sr, d, scale);
  } else {
    rowScalar(xr, sr, d, scale);
  }
  const co = <usize>c;
  store<f64>(counts + (co << 3), load<f64>(counts + (co << 3)) + 1);
  store<i64>(loss + (co << 3), load<i64>(loss + (co << 3)) + fixed(<f64>dv, lossScale));
  if (dv > load<f32>(radius + (co << 2))) store<f32>(radius + (co << 2), dv);
}

export function accumulate(x: usize, n: i32, d: i32, index: usize, dist: usize, scale: f64, lossScale: f64,
  sums: usize, counts: usize, loss: usize, radius: usize): void {
  const stride = <usize>d << 2;
  for (let i = 0; i < n; i++) {
    const c = load<i32>(index + (<usize>i << 2));
    if (c < 0) continue;
    accumulateRow(x + <usize>i * stride, d, c, load<f32>(dist + (<usize>i << 2)), scale, lossScale, sums, counts, loss, radius);
  }
}

/** PQ accumulation: sub-vector s of row i (ds = d/m floats) joins cluster s·ksub + index[i·m + s] (skipped when < 0). */
export function pqAccumulate(x: usize, n: i32, d: i32, m: i32, ksub: i32, index: usize, dist: usize, scale: f64, lossScale: f64,
  sums: usize, counts: usize, loss: usize, radius: usize): void {
  const stride = <usize>d << 2;
  const ds = d / m;
  const subBytes = <usize>ds << 2;
  for (let i = 0; i < n; i++) {
    const xr = x + <usize>i * stride;
    const o = <usize>i * <usize>m;
    if (ASC_FEATURE_SIMD && <f64>rowMaxAbs(xr, d) * scale < FAST_LIMIT) {
      // The whole row takes the fast path: one magnitude test instead of one per sub-vector.
      for (let s = 0; s < m; s++) {
        const c = load<i32>(index + ((o + <usize>s) << 2));
        if (c < 0) continue;
        const co = <usize>(s * ksub + c);
        rowSimd(xr + <usize>s * subBytes, sums + (co * <usize>ds << 3), ds, scale);
        const dv = load<f32>(dist + ((o + <usize>s) << 2));
        store<f64>(counts + (co << 3), load<f64>(counts + (co << 3)) + 1);
        store<i64>(loss + (co << 3), load<i64>(loss + (co << 3)) + fixed(<f64>dv, lossScale));
        if (dv > load<f32>(radius + (co << 2))) store<f32>(radius + (co << 2), dv);
      }
      continue;
    }
    for (let s = 0; s < m; s++) {
      const c = load<i32>(index + ((o + <usize>s) << 2));
      if (c < 0) continue;
      accumulateRow(xr + <usize>s * subBytes, ds, s * ksub + c, load<f32>(dist + ((o + <usize>s) << 2)), scale, lossScale,
        sums, counts, loss, radius);
    }
  }
}

/** Moves pair (row xr's sub-vector s) from code b to code c in the kept sums (codes < 0: none). */
// @ts-ignore: decorator
@inline function movePair(xr: usize, sums: usize, s: i32, ksub: i32, ds: i32, b: i32, c: i32, scale: f64): void {
  const sc = sums + (<usize>(s * ksub + c) * <usize>ds << 3), sb = sums + (<usize>(s * ksub + b) * <usize>ds << 3);
  if (ASC_FEATURE_SIMD) {
    if (<f64>rowMaxAbs(xr, ds) * scale < FAST_LIMIT) {
      if (c >= 0) rowSimd(xr, sc, ds, scale);
      if (b >= 0) rowSimd(xr, sb, ds, scale, true);
      return;
    }
  }
  if (c >= 0) rowScalar(xr, sc, ds, scale);
  if (b >= 0) rowScalar(xr, sb, ds, scale, true);
}

/**
 * PQ sums kept from one step to the next: for each (row, sub-space) pair whose code changed from prev to
 * index, its sub-vector's fixed-point values (the integers of pqAccumulate) leave prev's sums and join
 * index's (codes < 0: none); prev becomes index. i64 sums wrap, so the result equals summing every pair
 * again whenever that sum is exact. Returns the pairs that changed.
 */
export function pqAccumulateDelta(x: usize, n: i32, d: i32, m: i32, ksub: i32, index: usize, prev: usize, scale: f64, sums: usize): i32 {
  const stride = <usize>d << 2;
  const ds = d / m;
  const subBytes = <usize>ds << 2;
  const m4 = ASC_FEATURE_SIMD ? m & ~3 : 0;
  let changed = 0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * <usize>m;
    const xr = x + <usize>i * stride;
    let s = 0;
    if (ASC_FEATURE_SIMD) {
      for (; s < m4; s += 4) {
        const ip = index + ((o + <usize>s) << 2), pp = prev + ((o + <usize>s) << 2);
        let mask = i32x4.bitmask(v128.not(i32x4.eq(v128.load(ip), v128.load(pp))));
        while (mask != 0) {
          const h = ctz(mask);
          mask &= mask - 1;
          const c = load<i32>(ip + (<usize>h << 2)), b = load<i32>(pp + (<usize>h << 2));
          store<i32>(pp + (<usize>h << 2), c);
          changed++;
          movePair(xr + <usize>(s + h) * subBytes, sums, s + h, ksub, ds, b, c, scale);
        }
      }
    }
    for (; s < m; s++) {
      const ip = index + ((o + <usize>s) << 2), pp = prev + ((o + <usize>s) << 2);
      const c = load<i32>(ip), b = load<i32>(pp);
      if (c == b) continue;
      changed++;
      store<i32>(pp, c);
      movePair(xr + <usize>s * subBytes, sums, s, ksub, ds, b, c, scale);
    }
  }
  return changed;
}

/** The per-code parts of pqAccumulate other than the sums: counts, loss and radius of every pair with a code. */
export function pqAccumulateStats(n: i32, m: i32, ksub: i32, index: usize, dist: usize, lossScale: f64,
  counts: usize, loss: usize, radius: usize): void {
  let p: usize = 0;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++, p++) {
      const c = load<i32>(index + (p << 2));
      if (c < 0) continue;
      const co = <usize>(s * ksub + c);
      const dv = load<f32>(dist + (p << 2));
      store<f64>(counts + (co << 3), load<f64>(counts + (co << 3)) + 1);
      store<i64>(loss + (co << 3), load<i64>(loss + (co << 3)) + fixed(<f64>dv, lossScale));
      if (dv > load<f32>(radius + (co << 2))) store<f32>(radius + (co << 2), dv);
    }
  }
}

/** dst[i] += src[i] for len i64 values (wrapping). */
export function addI64(dst: usize, src: usize, len: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= len; i += 2) {
      const p = dst + (<usize>i << 3);
      v128.store(p, i64x2.add(v128.load(p), v128.load(src + (<usize>i << 3))));
    }
  }
  for (; i < len; i++) {
    const p = dst + (<usize>i << 3);
    store<i64>(p, load<i64>(p) + load<i64>(src + (<usize>i << 3)));
  }
}
