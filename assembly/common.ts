// Helpers shared by the kernel families. Every row reduction uses the same order so that the SIMD
// and scalar builds (and src/kernels/reference.ts) agree bit for bit: four lane sums, lane l taking
// dims j ≡ l (mod 4) in order, folded as (s0 + s1) + (s2 + s3).

// @ts-ignore: decorator
@inline export function fold4(s0: f32, s1: f32, s2: f32, s3: f32): f32 {
  return (s0 + s1) + (s2 + s3);
}

/** ‖x‖² of one row of d floats at x. */
// @ts-ignore: decorator
@inline export function sqNormRow(x: usize, d: i32): f32 {
  const d4 = d & ~3;
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const v = v128.load(x + (<usize>j << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    s0 = f32x4.extract_lane(acc, 0); s1 = f32x4.extract_lane(acc, 1);
    s2 = f32x4.extract_lane(acc, 2); s3 = f32x4.extract_lane(acc, 3);
  } else {
    for (let j = 0; j < d4; j += 4) {
      const p = x + (<usize>j << 2);
      const a = load<f32>(p), b = load<f32>(p, 4), c = load<f32>(p, 8), e = load<f32>(p, 12);
      s0 += a * a; s1 += b * b; s2 += c * c; s3 += e * e;
    }
  }
  const r = d - d4;
  const t = x + (<usize>d4 << 2);
  if (r > 0) { const a = load<f32>(t); s0 += a * a; }
  if (r > 1) { const a = load<f32>(t, 4); s1 += a * a; }
  if (r > 2) { const a = load<f32>(t, 8); s2 += a * a; }
  return fold4(s0, s1, s2, s3);
}

/** acc + a·b per lane: fused in the relaxed build (FUSED, set per target in asconfig.json), mul then add otherwise
 *  (every f32 tile uses this one; the dot8 build has relaxed SIMD for its 8-bit dot only, and simd's bits). */
// @ts-ignore: decorator
@inline export function fmadd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && FUSED) return f32x4.relaxed_madd(a, b, acc);
  else return f32x4.add(acc, f32x4.mul(a, b));
}

/** acc + a·b per lane for filter values only (a candidate test with a rounding margin, never a result's bits): fused
 *  wherever relaxed SIMD is on (dot8 too). relaxed_madd rounds once or, unfused, twice per lane — never more than
 *  mul then add, which is what the margins are derived for. */
// @ts-ignore: decorator
@inline export function filterMadd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  else return f32x4.add(acc, f32x4.mul(a, b));
}

/** A tile's distances from its dot sums: l2 max(0, (‖x‖² + ‖c‖²) − 2·dot), dot 1 − dot. pmax (one x86 instruction) is that
 *  max here: NaN stays NaN and the difference is never −0 (‖x‖² + ‖c‖² ≥ +0). */
// @ts-ignore: decorator
@inline export function tileDist(acc: v128, xnr: v128, cnv: v128, l2: bool): v128 {
  if (l2) return f32x4.pmax(f32x4.sub(f32x4.add(xnr, cnv), f32x4.add(acc, acc)), f32x4.splat(0));
  return f32x4.sub(f32x4.splat(1), acc);
}

/** The largest of four f32 lanes. */
// @ts-ignore: decorator
@inline export function hmax4(v: v128): f32 {
  return max<f32>(max<f32>(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max<f32>(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}
