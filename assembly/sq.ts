// Scalar quantization (Lance): global bounds over finite rows, and u8 codes
// trunc((v − lo)·255/(hi − lo)) saturated to 0..255 in f64 (NaN → 0, lo == hi → 0).

/** Folds the finite rows of x into bounds[0] = lower (f32), bounds[1] = upper (f32); returns the finite row count. */
export function sqBounds(x: usize, n: i32, d: i32, bounds: usize): i32 {
  const stride = <usize>d << 2;
  const d4 = d & ~3;
  let lower = load<f32>(bounds), upper = load<f32>(bounds, 4);
  let rows = 0;
  for (let i = 0; i < n; i++) {
    let lo: f32 = Infinity, hi: f32 = -Infinity, z: f32 = 0;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      let vlo = f32x4.splat(Infinity), vhi = f32x4.splat(-Infinity), vz = f32x4.splat(0);
      const zero = f32x4.splat(0);
      for (; j < d4; j += 4) {
        const v = v128.load(x + (<usize>j << 2));
        vlo = f32x4.min(vlo, v); vhi = f32x4.max(vhi, v); vz = f32x4.add(vz, f32x4.mul(v, zero));
      }
      lo = min(min(f32x4.extract_lane(vlo, 0), f32x4.extract_lane(vlo, 1)), min(f32x4.extract_lane(vlo, 2), f32x4.extract_lane(vlo, 3)));
      hi = max(max(f32x4.extract_lane(vhi, 0), f32x4.extract_lane(vhi, 1)), max(f32x4.extract_lane(vhi, 2), f32x4.extract_lane(vhi, 3)));
      z = (f32x4.extract_lane(vz, 0) + f32x4.extract_lane(vz, 1)) + (f32x4.extract_lane(vz, 2) + f32x4.extract_lane(vz, 3));
    }
    for (; j < d; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      lo = min(lo, v); hi = max(hi, v); z += v * 0;
    }
    x += stride;
    if (z != z) continue;
    lower = min(lower, lo); upper = max(upper, hi);
    rows++;
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
