// How far centroids moved between two steps, per group of centroids (the decay of k-means distance bounds).

/**
 * Against an earlier centroid set p (k × d f32, like c): out[g] = the largest Σ_j (c[i][j] − p[i][j])² (f64) over
 * the centroids i = ord[g·gs ..] of group g (G = ⌈k / gs⌉ groups). Each sum has two lanes, even and odd j, folded
 * s0 + s1 (the scalar build and the reference use the same order).
 */
export function groupDrift(c: usize, p: usize, k: i32, d: i32, ord: usize, gs: i32, out: usize): void {
  const G = (k + gs - 1) / gs;
  const stride = <usize>d << 2;
  const d2 = d & ~1;
  for (let g = 0; g < G; g++) {
    let m: f64 = 0;
    for (let q = g * gs; q < min(k, (g + 1) * gs); q++) {
      const i = <usize>load<i32>(ord + (<usize>q << 2));
      const a = c + i * stride, b = p + i * stride;
      let s0: f64 = 0, s1: f64 = 0;
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        let acc = f64x2.splat(0);
        for (; j + 4 <= d; j += 4) {
          const o = <usize>j << 2;
          const va = v128.load(a + o), vb = v128.load(b + o);
          const lo = f64x2.sub(f64x2.promote_low_f32x4(va), f64x2.promote_low_f32x4(vb));
          acc = f64x2.add(acc, f64x2.mul(lo, lo));
          const ha = v128.shuffle<f32>(va, va, 2, 3, 0, 1), hb = v128.shuffle<f32>(vb, vb, 2, 3, 0, 1);
          const hi = f64x2.sub(f64x2.promote_low_f32x4(ha), f64x2.promote_low_f32x4(hb));
          acc = f64x2.add(acc, f64x2.mul(hi, hi));
        }
        s0 = f64x2.extract_lane(acc, 0); s1 = f64x2.extract_lane(acc, 1);
      }
      for (; j < d2; j += 2) {
        const o = <usize>j << 2;
        const v0 = <f64>load<f32>(a + o) - <f64>load<f32>(b + o), v1 = <f64>load<f32>(a + o, 4) - <f64>load<f32>(b + o, 4);
        s0 += v0 * v0; s1 += v1 * v1;
      }
      if (d2 < d) {
        const o = <usize>d2 << 2;
        const v = <f64>load<f32>(a + o) - <f64>load<f32>(b + o);
        s0 += v * v;
      }
      const t = s0 + s1;
      if (t > m || t != t) m = t;                           // NaN stays
    }
    store<f64>(out + (<usize>g << 3), m);
  }
}
