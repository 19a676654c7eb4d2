import { sqNormRow } from './common';

/** out_i = x_i / ‖x_i‖ (a zero row gives 0/0 = NaN everywhere). out may equal x. */
export function normalize(x: usize, n: i32, d: i32, out: usize): void {
  const stride = <usize>d << 2;
  const d4 = d & ~3;
  for (let i = 0; i < n; i++) {
    const norm = sqrt<f32>(sqNormRow(x, d));
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const nv = f32x4.splat(norm);
      for (; j < d4; j += 4) {
        const o = <usize>j << 2;
        v128.store(out + o, f32x4.div(v128.load(x + o), nv));
      }
    }
    for (; j < d; j++) {
      const o = <usize>j << 2;
      store<f32>(out + o, load<f32>(x + o) / norm);
    }
    x += stride; out += stride;
  }
}

/** mask[i] = 1 when every value of row i is finite, else 0. Returns the number of finite rows. */
export function finiteMask(x: usize, n: i32, d: i32, mask: usize): i32 {
  const stride = <usize>d << 2;
  const d4 = d & ~3;
  let count = 0;
  for (let i = 0; i < n; i++) {
    let s: f32 = 0;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      const zero = f32x4.splat(0);
      for (; j < d4; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(x + (<usize>j << 2)), zero));
      s = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    }
    for (; j < d; j++) s += load<f32>(x + (<usize>j << 2)) * 0;
    const ok = <i32>(s == s);
    store<u8>(mask + i, <u8>ok);
    count += ok;
    x += stride;
  }
  return count;
}

/** The largest |x| over the finite values among n values (0 when none). */
export function maxAbs(x: usize, n: i32): f32 {
  let m: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const inf = f32x4.splat(Infinity);
    let a0 = f32x4.splat(0), a1 = a0;
    for (; i + 8 <= n; i += 8) {
      const v0 = f32x4.abs(v128.load(x + (<usize>i << 2))), v1 = f32x4.abs(v128.load(x + (<usize>i << 2), 16));
      a0 = f32x4.max(a0, v128.and(v0, f32x4.lt(v0, inf)));
      a1 = f32x4.max(a1, v128.and(v1, f32x4.lt(v1, inf)));
    }
    const a = f32x4.max(a0, a1);
    m = max(max(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1)), max(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3)));
  }
  for (; i < n; i++) {
    const v = abs(load<f32>(x + (<usize>i << 2)));
    if (v > m && v < Infinity) m = v;
  }
  return m;
}
