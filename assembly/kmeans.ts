// k-means map step in exact fixed point: sums[c·d + j] += nearest(f64(x_ij) · scale) as i64
// (saturating; NaN → 0), counts[c] += 1, loss[c] += nearest(f64(dist_i) · lossScale),
// radius[c] = max(radius[c], dist_i) (NaN ignored), for every row with index ≥ 0.

// @ts-ignore: decorator
@inline function fixed(v: f64, scale: f64): i64 {
  return <i64>nearest<f64>(v * scale);
}

export function accumulate(x: usize, n: i32, d: i32, index: usize, dist: usize, scale: f64, lossScale: f64,
  sums: usize, counts: usize, loss: usize, radius: usize): void {
  const stride = <usize>d << 2;
  for (let i = 0; i < n; i++) {
    const c = load<i32>(index + (<usize>i << 2));
    if (c < 0) continue;
    const xr = x + <usize>i * stride;
    const sr = sums + (<usize>c * <usize>d << 3);
    for (let j = 0; j < d; j++) {
      const p = sr + (<usize>j << 3);
      store<i64>(p, load<i64>(p) + fixed(<f64>load<f32>(xr + (<usize>j << 2)), scale));
    }
    const co = <usize>c;
    store<f64>(counts + (co << 3), load<f64>(counts + (co << 3)) + 1);
    const dv = load<f32>(dist + (<usize>i << 2));
    store<i64>(loss + (co << 3), load<i64>(loss + (co << 3)) + fixed(<f64>dv, lossScale));
    if (dv > load<f32>(radius + (co << 2))) store<f32>(radius + (co << 2), dv);
  }
}
