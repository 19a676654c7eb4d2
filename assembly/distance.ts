import { fold4, sqNormRow } from './common';

/** out[i] = ‖x_i‖² for n rows of d floats. */
export function sqNorms(x: usize, n: i32, d: i32, out: usize): void {
  const stride = <usize>d << 2;
  for (let i = 0; i < n; i++) {
    store<f32>(out + (<usize>i << 2), sqNormRow(x, d));
    x += stride;
  }
}

/** out[i] = ‖q − x_i‖². */
export function l2Many(q: usize, x: usize, n: i32, d: i32, out: usize): void {
  const stride = <usize>d << 2;
  const d4 = d & ~3, r = d - d4;
  for (let i = 0; i < n; i++) {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        const t = f32x4.sub(v128.load(q + o), v128.load(x + o));
        acc = f32x4.add(acc, f32x4.mul(t, t));
      }
      s0 = f32x4.extract_lane(acc, 0); s1 = f32x4.extract_lane(acc, 1);
      s2 = f32x4.extract_lane(acc, 2); s3 = f32x4.extract_lane(acc, 3);
    } else {
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        const a = load<f32>(q + o) - load<f32>(x + o), b = load<f32>(q + o, 4) - load<f32>(x + o, 4);
        const c = load<f32>(q + o, 8) - load<f32>(x + o, 8), e = load<f32>(q + o, 12) - load<f32>(x + o, 12);
        s0 += a * a; s1 += b * b; s2 += c * c; s3 += e * e;
      }
    }
    const o = <usize>d4 << 2;
    if (r > 0) { const a = load<f32>(q + o) - load<f32>(x + o); s0 += a * a; }
    if (r > 1) { const a = load<f32>(q + o, 4) - load<f32>(x + o, 4); s1 += a * a; }
    if (r > 2) { const a = load<f32>(q + o, 8) - load<f32>(x + o, 8); s2 += a * a; }
    store<f32>(out + (<usize>i << 2), fold4(s0, s1, s2, s3));
    x += stride;
  }
}

/** out[i] = q · x_i. */
export function dotMany(q: usize, x: usize, n: i32, d: i32, out: usize): void {
  const stride = <usize>d << 2;
  const d4 = d & ~3, r = d - d4;
  for (let i = 0; i < n; i++) {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        acc = f32x4.add(acc, f32x4.mul(v128.load(q + o), v128.load(x + o)));
      }
      s0 = f32x4.extract_lane(acc, 0); s1 = f32x4.extract_lane(acc, 1);
      s2 = f32x4.extract_lane(acc, 2); s3 = f32x4.extract_lane(acc, 3);
    } else {
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        s0 += load<f32>(q + o) * load<f32>(x + o); s1 += load<f32>(q + o, 4) * load<f32>(x + o, 4);
        s2 += load<f32>(q + o, 8) * load<f32>(x + o, 8); s3 += load<f32>(q + o, 12) * load<f32>(x + o, 12);
      }
    }
    const o = <usize>d4 << 2;
    if (r > 0) s0 += load<f32>(q + o) * load<f32>(x + o);
    if (r > 1) s1 += load<f32>(q + o, 4) * load<f32>(x + o, 4);
    if (r > 2) s2 += load<f32>(q + o, 8) * load<f32>(x + o, 8);
    store<f32>(out + (<usize>i << 2), fold4(s0, s1, s2, s3));
    x += stride;
  }
}
