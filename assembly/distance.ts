import { fold4, sqNormRow } from './common';

/** out[i] = ‖x_i‖² for n rows of d floats. */
export function sqNorms(x: usize, n: i32, d: i32, out: usize): void {
  const stride = <usize>d << 2;
  for (let i = 0; i < n; i++) {
    store<f32>(out + (<usize>i << 2), sqNormRow(x, d));
    x += stride;
  }
}

/** out[i] = ‖q − x_i‖². Four rows at a time share the query's loads (each row's sums in the same order). */
export function l2Many(q: usize, x: usize, n: i32, d: i32, out: usize): void {
  const stride = <usize>d << 2;
  const d4 = d & ~3;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const x1 = x + stride, x2 = x1 + stride, x3 = x2 + stride;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        const qv = v128.load(q + o);
        const t0 = f32x4.sub(qv, v128.load(x + o)), t1 = f32x4.sub(qv, v128.load(x1 + o));
        const t2 = f32x4.sub(qv, v128.load(x2 + o)), t3 = f32x4.sub(qv, v128.load(x3 + o));
        a0 = f32x4.add(a0, f32x4.mul(t0, t0)); a1 = f32x4.add(a1, f32x4.mul(t1, t1));
        a2 = f32x4.add(a2, f32x4.mul(t2, t2)); a3 = f32x4.add(a3, f32x4.mul(t3, t3));
      }
      const op = out + (<usize>i << 2);
      store<f32>(op, l2Finish(a0, q, x, d));
      store<f32>(op, l2Finish(a1, q, x1, d), 4);
      store<f32>(op, l2Finish(a2, q, x2, d), 8);
      store<f32>(op, l2Finish(a3, q, x3, d), 12);
      x = x3 + stride;
    }
  }
  for (; i < n; i++) {
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        const t = f32x4.sub(v128.load(q + o), v128.load(x + o));
        acc = f32x4.add(acc, f32x4.mul(t, t));
      }
      store<f32>(out + (<usize>i << 2), l2Finish(acc, q, x, d));
    } else {
      let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        const a = load<f32>(q + o) - load<f32>(x + o), b = load<f32>(q + o, 4) - load<f32>(x + o, 4);
        const c = load<f32>(q + o, 8) - load<f32>(x + o, 8), e = load<f32>(q + o, 12) - load<f32>(x + o, 12);
        s0 += a * a; s1 += b * b; s2 += c * c; s3 += e * e;
      }
      store<f32>(out + (<usize>i << 2), l2Tail(s0, s1, s2, s3, q, x, d));
    }
    x += stride;
  }
}

/** A row's lane sums, then the last d mod 4 squares (lanes 0, 1, 2), folded. */
// @ts-ignore: decorator
@inline function l2Finish(acc: v128, q: usize, x: usize, d: i32): f32 {
  return l2Tail(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1), f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3), q, x, d);
}

// @ts-ignore: decorator
@inline function l2Tail(s0: f32, s1: f32, s2: f32, s3: f32, q: usize, x: usize, d: i32): f32 {
  const d4 = d & ~3, r = d - d4, o = <usize>d4 << 2;
  if (r > 0) { const a = load<f32>(q + o) - load<f32>(x + o); s0 += a * a; }
  if (r > 1) { const a = load<f32>(q + o, 4) - load<f32>(x + o, 4); s1 += a * a; }
  if (r > 2) { const a = load<f32>(q + o, 8) - load<f32>(x + o, 8); s2 += a * a; }
  return fold4(s0, s1, s2, s3);
}

/** out[i] = q · x_i. Four rows at a time share the query's loads (each row's sums in the same order). */
export function dotMany(q: usize, x: usize, n: i32, d: i32, out: usize): void {
  const stride = <usize>d << 2;
  const d4 = d & ~3;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const x1 = x + stride, x2 = x1 + stride, x3 = x2 + stride;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        const qv = v128.load(q + o);
        a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(x + o))); a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(x1 + o)));
        a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(x2 + o))); a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(x3 + o)));
      }
      const op = out + (<usize>i << 2);
      store<f32>(op, dotFinish(a0, q, x, d));
      store<f32>(op, dotFinish(a1, q, x1, d), 4);
      store<f32>(op, dotFinish(a2, q, x2, d), 8);
      store<f32>(op, dotFinish(a3, q, x3, d), 12);
      x = x3 + stride;
    }
  }
  for (; i < n; i++) {
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        acc = f32x4.add(acc, f32x4.mul(v128.load(q + o), v128.load(x + o)));
      }
      store<f32>(out + (<usize>i << 2), dotFinish(acc, q, x, d));
    } else {
      let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        s0 += load<f32>(q + o) * load<f32>(x + o); s1 += load<f32>(q + o, 4) * load<f32>(x + o, 4);
        s2 += load<f32>(q + o, 8) * load<f32>(x + o, 8); s3 += load<f32>(q + o, 12) * load<f32>(x + o, 12);
      }
      store<f32>(out + (<usize>i << 2), dotTail(s0, s1, s2, s3, q, x, d));
    }
    x += stride;
  }
}

// @ts-ignore: decorator
@inline function dotFinish(acc: v128, q: usize, x: usize, d: i32): f32 {
  return dotTail(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1), f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3), q, x, d);
}

// @ts-ignore: decorator
@inline function dotTail(s0: f32, s1: f32, s2: f32, s3: f32, q: usize, x: usize, d: i32): f32 {
  const d4 = d & ~3, r = d - d4, o = <usize>d4 << 2;
  if (r > 0) s0 += load<f32>(q + o) * load<f32>(x + o);
  if (r > 1) s1 += load<f32>(q + o, 4) * load<f32>(x + o, 4);
  if (r > 2) s2 += load<f32>(q + o, 8) * load<f32>(x + o, 8);
  return fold4(s0, s1, s2, s3);
}
