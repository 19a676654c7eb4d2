// Ordering centroids into groups of nearby ones (for k-means distance bounds): the arithmetic of one split.

/**
 * One split of the part order[lo, hi) of the centroids c (k × d f32): mean (f64 × d) of the part, w (f64,
 * (hi − lo) × d) = its rows minus the mean, `its` power iterations of the part's covariance from the fixed start
 * dir[j] = frac(j · 0x9e3779b1 / 2³²) − 0.5 (stopping early when a step's norm is not > 0), then proj[q] = w_q · dir
 * for the part's q-th row. Every sum in the order of src/kernels/reference.ts (dots: four lane sums, lane l
 * taking j ≡ l mod 4, folded (t0 + t1) + (t2 + t3); norms sequential), so every build gives its bits.
 */
export function orderSplit(c: usize, order: usize, lo: i32, hi: i32, d: i32, w: usize, mean: usize, dir: usize, next: usize, proj: usize,
  its: i32): void {
  const cnt = hi - lo, rowBytes = <usize>d << 3;
  for (let j = 0; j < d; j++) store<f64>(mean + (<usize>j << 3), 0);
  for (let p = lo; p < hi; p++) {
    const o = c + (<usize>load<i32>(order + (<usize>p << 2)) * <usize>d << 2);
    for (let j = 0; j < d; j++) {
      const m = mean + (<usize>j << 3);
      store<f64>(m, load<f64>(m) + <f64>load<f32>(o + (<usize>j << 2)));
    }
  }
  for (let j = 0; j < d; j++) {
    const m = mean + (<usize>j << 3);
    store<f64>(m, load<f64>(m) / <f64>cnt);
    store<f64>(dir + (<usize>j << 3), <f64>(<u32>(<u64>j * 0x9e3779b1)) / 4294967296 - 0.5);
  }
  for (let p = lo, q: usize = 0; p < hi; p++, q++) {
    const o = c + (<usize>load<i32>(order + (<usize>p << 2)) * <usize>d << 2);
    const wq = w + q * rowBytes;
    for (let j = 0; j < d; j++) store<f64>(wq + (<usize>j << 3), <f64>load<f32>(o + (<usize>j << 2)) - load<f64>(mean + (<usize>j << 3)));
  }
  for (let it = 0; it < its; it++) {
    for (let j = 0; j < d; j++) store<f64>(next + (<usize>j << 3), 0);
    for (let q: usize = 0; q < <usize>cnt; q++) {
      const wq = w + q * rowBytes;
      const t = dot(wq, dir, d);
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        const tv = f64x2.splat(t);
        for (; j + 2 <= d; j += 2) {
          const o = <usize>j << 3;
          v128.store(next + o, f64x2.add(v128.load(next + o), f64x2.mul(tv, v128.load(wq + o))));
        }
      }
      for (; j < d; j++) {
        const o = <usize>j << 3;
        store<f64>(next + o, load<f64>(next + o) + t * load<f64>(wq + o));
      }
    }
    let norm: f64 = 0;
    for (let j = 0; j < d; j++) { const v = load<f64>(next + (<usize>j << 3)); norm += v * v; }
    if (!(norm > 0)) break;
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) store<f64>(dir + (<usize>j << 3), load<f64>(next + (<usize>j << 3)) / norm);
  }
  for (let q: usize = 0; q < <usize>cnt; q++) store<f64>(proj + (q << 3), dot(w + q * rowBytes, dir, d));
}

/** a · b over d f64 values: four lane sums (lane l: j ≡ l mod 4), the rest into the first, (t0 + t1) + (t2 + t3). */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, d: i32): f64 {
  let t0: f64 = 0, t1: f64 = 0, t2: f64 = 0, t3: f64 = 0;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    let lo = f64x2.splat(0), hi = f64x2.splat(0);
    for (; j + 4 <= d; j += 4) {
      const o = <usize>j << 3;
      lo = f64x2.add(lo, f64x2.mul(v128.load(a + o), v128.load(b + o)));
      hi = f64x2.add(hi, f64x2.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
    }
    t0 = f64x2.extract_lane(lo, 0); t1 = f64x2.extract_lane(lo, 1);
    t2 = f64x2.extract_lane(hi, 0); t3 = f64x2.extract_lane(hi, 1);
  } else {
    for (; j + 4 <= d; j += 4) {
      const o = <usize>j << 3;
      t0 += load<f64>(a + o) * load<f64>(b + o); t1 += load<f64>(a + o, 8) * load<f64>(b + o, 8);
      t2 += load<f64>(a + o, 16) * load<f64>(b + o, 16); t3 += load<f64>(a + o, 24) * load<f64>(b + o, 24);
    }
  }
  for (; j < d; j++) t0 += load<f64>(a + (<usize>j << 3)) * load<f64>(b + (<usize>j << 3));
  return (t0 + t1) + (t2 + t3);
}
