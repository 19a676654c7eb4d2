// Scalar quantization (Lance): global bounds over finite rows, and u8 codes
// trunc((v − lo)·255/(hi − lo)) saturated to 0..255 in f64 (NaN → 0, lo == hi → 0).

// f32x4.pmin/pmax are single instructions, unlike f32x4.min/max (NaN and signed-zero fix-ups). Taking
// them in both operand orders and combining the bits gives min/max exactly for non-NaN lanes (−0 < +0);
// lanes of rows holding NaN are never used.
// @ts-ignore: decorator
@inline function vmin(a: v128, b: v128): v128 { return v128.or(f32x4.pmin(a, b), f32x4.pmin(b, a)); }
// @ts-ignore: decorator
@inline function vmax(a: v128, b: v128): v128 { return v128.and(f32x4.pmax(a, b), f32x4.pmax(b, a)); }

/** Folds the finite rows of x into bounds[0] = lower (f32), bounds[1] = upper (f32); returns the finite row count.
 *  A row is finite when every v − v is +0 (inf − inf and NaN give NaN). */
export function sqBounds(x: usize, n: i32, d: i32, bounds: usize): i32 {
  const stride = <usize>d << 2;
  let lower = load<f32>(bounds), upper = load<f32>(bounds, 4);
  let rows = 0;
  if (ASC_FEATURE_SIMD) {
    const d4 = d & ~3;
    let glo = f32x4.splat(Infinity), ghi = f32x4.splat(-Infinity);
    for (let i = 0; i < n; i++) {
      let lo = f32x4.splat(Infinity), hi = f32x4.splat(-Infinity), bad = i32x4.splat(0);
      for (let j = 0; j < d4; j += 4) {
        const v = v128.load(x + (<usize>j << 2));
        lo = vmin(lo, v); hi = vmax(hi, v); bad = v128.or(bad, f32x4.sub(v, v));
      }
      let slo: f32 = Infinity, shi: f32 = -Infinity, z: f32 = 0;
      for (let j = d4; j < d; j++) {
        const v = load<f32>(x + (<usize>j << 2));
        slo = min(slo, v); shi = max(shi, v); z += v - v;
      }
      x += stride;
      if (v128.any_true(bad) || z != 0) continue;
      glo = vmin(glo, vmin(lo, f32x4.splat(slo)));
      ghi = vmax(ghi, vmax(hi, f32x4.splat(shi)));
      rows++;
    }
    lower = min(lower, min(min(f32x4.extract_lane(glo, 0), f32x4.extract_lane(glo, 1)), min(f32x4.extract_lane(glo, 2), f32x4.extract_lane(glo, 3))));
    upper = max(upper, max(max(f32x4.extract_lane(ghi, 0), f32x4.extract_lane(ghi, 1)), max(f32x4.extract_lane(ghi, 2), f32x4.extract_lane(ghi, 3))));
  } else {
    for (let i = 0; i < n; i++) {
      let lo: f32 = Infinity, hi: f32 = -Infinity, z: f32 = 0;
      for (let j = 0; j < d; j++) {
        const v = load<f32>(x + (<usize>j << 2));
        lo = min(lo, v); hi = max(hi, v); z += v - v;
      }
      x += stride;
      if (z != 0) continue;
      lower = min(lower, lo); upper = max(upper, hi);
      rows++;
    }
  }
  store<f32>(bounds, lower); store<f32>(bounds, upper, 4);
  return rows;
}

/** out[p] = code of x[p] for len values. */
export function sqEncode(x: usize, len: i32, lower: f64, upper: f64, out: usize): void {
  const range = upper - lower;
  if (range == 0) { memory.fill(out, 0, <usize>len); return; }
  for (let p = 0; p < len; p++) {
    const t = ((<f64>load<f32>(x + (<usize>p << 2)) - lower) * 255) / range;
    const c = <u32>t;
    store<u8>(out + p, <u8>(c > 255 ? <u32>255 : c));
  }
}
