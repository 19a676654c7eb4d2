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
  scoreMany(true, q, x, n, d, out);
}

/** out[i] = q · x_i. */
export function dotMany(q: usize, x: usize, n: i32, d: i32, out: usize): void {
  scoreMany(false, q, x, n, d, out);
}

/** One lane step of a row's sums: (q − x)² (l2) or q·x. */
// @ts-ignore: decorator
@inline function term4(l2: bool, qv: v128, xv: v128, acc: v128): v128 {
  if (l2) {
    const t = f32x4.sub(qv, xv);
    return f32x4.add(acc, f32x4.mul(t, t));
  }
  return f32x4.add(acc, f32x4.mul(qv, xv));
}

// @ts-ignore: decorator
@inline function term1(l2: bool, a: f32, b: f32): f32 {
  if (l2) { const t = a - b; return t * t; }
  return a * b;
}

/** Lanes 0–3 of a row's sums plus its last d mod 4 terms (into lanes 0, 1, 2), folded. */
// @ts-ignore: decorator
@inline function finish(l2: bool, s0: f32, s1: f32, s2: f32, s3: f32, q: usize, x: usize, d: i32): f32 {
  const d4 = d & ~3, r = d - d4, o = <usize>d4 << 2;
  if (r > 0) s0 += term1(l2, load<f32>(q + o), load<f32>(x + o));
  if (r > 1) s1 += term1(l2, load<f32>(q + o, 4), load<f32>(x + o, 4));
  if (r > 2) s2 += term1(l2, load<f32>(q + o, 8), load<f32>(x + o, 8));
  return fold4(s0, s1, s2, s3);
}

// @ts-ignore: decorator
@inline function finishV(l2: bool, acc: v128, q: usize, x: usize, d: i32): f32 {
  return finish(l2, f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1), f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3), q, x, d);
}

/** l2Many / dotMany: per row four lane sums over j, then the tail, folded; four rows at a time share the query's
 *  loads (each with its own accumulator, so every row's sums keep their order). */
// @ts-ignore: decorator
@inline function scoreMany(l2: bool, q: usize, x: usize, n: i32, d: i32, out: usize): void {
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
        a0 = term4(l2, qv, v128.load(x + o), a0); a1 = term4(l2, qv, v128.load(x1 + o), a1);
        a2 = term4(l2, qv, v128.load(x2 + o), a2); a3 = term4(l2, qv, v128.load(x3 + o), a3);
      }
      const op = out + (<usize>i << 2);
      store<f32>(op, finishV(l2, a0, q, x, d));
      store<f32>(op, finishV(l2, a1, q, x1, d), 4);
      store<f32>(op, finishV(l2, a2, q, x2, d), 8);
      store<f32>(op, finishV(l2, a3, q, x3, d), 12);
      x = x3 + stride;
    }
  }
  for (; i < n; i++) {
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (let j = 0; j < d4; j += 4) acc = term4(l2, v128.load(q + (<usize>j << 2)), v128.load(x + (<usize>j << 2)), acc);
      store<f32>(out + (<usize>i << 2), finishV(l2, acc, q, x, d));
    } else {
      let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
      for (let j = 0; j < d4; j += 4) {
        const o = <usize>j << 2;
        s0 += term1(l2, load<f32>(q + o), load<f32>(x + o)); s1 += term1(l2, load<f32>(q + o, 4), load<f32>(x + o, 4));
        s2 += term1(l2, load<f32>(q + o, 8), load<f32>(x + o, 8)); s3 += term1(l2, load<f32>(q + o, 12), load<f32>(x + o, 12));
      }
      store<f32>(out + (<usize>i << 2), finish(l2, s0, s1, s2, s3, q, x, d));
    }
    x += stride;
  }
}
