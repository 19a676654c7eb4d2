import { sqNormRow } from './common';

/** out_i = x_i / ‖x_i‖ (a zero row gives 0/0 = NaN everywhere). out may equal x. A row whose f32 ‖x‖² falls below
 *  2^-100 or overflows (values under ~1e-15 or over ~1e19) is first scaled by a power of two (exact) so that its largest
 *  |value| lies in [1, 2): the direction of a tiny or huge row survives. */
export function normalize(x: usize, n: i32, d: i32, out: usize): void {
  const stride = <usize>d << 2;
  const d4 = d & ~3;
  for (let i = 0; i < n; i++) {
    let s = sqNormRow(x, d);
    let src = x;
    if ((s < NORM_TINY || s == Infinity) && rescaleRow(x, d, out)) {
      src = out;
      s = sqNormRow(out, d);
    }
    const norm = sqrt<f32>(s);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const nv = f32x4.splat(norm);
      for (; j < d4; j += 4) {
        const o = <usize>j << 2;
        v128.store(out + o, f32x4.div(v128.load(src + o), nv));
      }
    }
    for (; j < d; j++) {
      const o = <usize>j << 2;
      store<f32>(out + o, load<f32>(src + o) / norm);
    }
    x += stride; out += stride;
  }
}

/** 2^-100: below it a row's f32 ‖x‖² has lost precision to underflow (normalize rescales such rows). */
const NORM_TINY: f32 = reinterpret<f32>(<u32>(127 - 100) << 23);

/** Writes x · 2^e to out, e making the largest |x_j| lie in [1, 2) (two exact power-of-two products); false (nothing
 *  written) when that largest |value| is 0 or not finite. */
function rescaleRow(x: usize, d: i32, out: usize): bool {
  let m: f32 = 0;
  for (let j = 0; j < d; j++) m = max<f32>(m, abs<f32>(load<f32>(x + (<usize>j << 2))));
  if (!(m > 0) || m == Infinity) return false;
  const bits = reinterpret<u32>(m);
  const ex = <i32>(bits >> 23);
  const e = ex != 0 ? 127 - ex : 149 - (31 - <i32>clz<u32>(bits));
  const e1 = e >> 1, e2 = e - e1;
  const p1 = reinterpret<f32>(<u32>(127 + e1) << 23), p2 = reinterpret<f32>(<u32>(127 + e2) << 23);
  for (let j = 0; j < d; j++) {
    const o = <usize>j << 2;
    store<f32>(out + o, load<f32>(x + o) * p1 * p2);
  }
  return true;
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
