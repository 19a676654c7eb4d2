// Register-only throughput loops for the dot-product instructions the kernels could use (bench/peaks.mjs runs them).
// Each loop keeps 8 independent accumulator chains, so it measures issue throughput, not latency; `n` iterations
// of 8 instructions. Multiply-adds per instruction: i16 pair 8, relaxed i8 dot 16, f32 mul + add 4, relaxed madd 4.
// One operand changes every iteration (one add more per 8 instructions), so no compiler can hoist the products.

export function i16Pair(n: i32, seed: i32): i32 {
  let a0 = i32x4.splat(seed), a1 = i32x4.splat(seed + 1), a2 = i32x4.splat(seed + 2), a3 = i32x4.splat(seed + 3);
  let a4 = i32x4.splat(seed + 4), a5 = i32x4.splat(seed + 5), a6 = i32x4.splat(seed + 6), a7 = i32x4.splat(seed + 7);
  let p = i16x8.splat(<i16>(seed + 3));
  const q = i16x8.splat(<i16>(seed + 5)), r = i16x8.splat(<i16>(seed + 9)), one = i16x8.splat(1);
  for (let i = 0; i < n; i++) {
    p = i16x8.add(p, one);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(p, q)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(p, r));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(p, q)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(p, q));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(p, p)); a5 = i32x4.add(a5, i32x4.dot_i16x8_s(p, r));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(p, r)); a7 = i32x4.add(a7, i32x4.dot_i16x8_s(p, p));
  }
  return fold(a0, a1, a2, a3, a4, a5, a6, a7);
}

export function f32MulAdd(n: i32, seed: i32): f32 {
  let a0 = f32x4.splat(<f32>seed), a1 = f32x4.splat(<f32>seed + 1), a2 = f32x4.splat(<f32>seed + 2), a3 = f32x4.splat(<f32>seed + 3);
  let a4 = f32x4.splat(<f32>seed + 4), a5 = f32x4.splat(<f32>seed + 5), a6 = f32x4.splat(<f32>seed + 6), a7 = f32x4.splat(<f32>seed + 7);
  let p = f32x4.splat(0.5);
  const q = f32x4.splat(0.25), r = f32x4.splat(0.125), tiny = f32x4.splat(1e-7);
  for (let i = 0; i < n; i++) {
    p = f32x4.add(p, tiny);
    a0 = f32x4.add(a0, f32x4.mul(p, q)); a1 = f32x4.add(a1, f32x4.mul(p, r));
    a2 = f32x4.add(a2, f32x4.mul(p, q)); a3 = f32x4.add(a3, f32x4.mul(p, q));
    a4 = f32x4.add(a4, f32x4.mul(p, p)); a5 = f32x4.add(a5, f32x4.mul(p, r));
    a6 = f32x4.add(a6, f32x4.mul(p, r)); a7 = f32x4.add(a7, f32x4.mul(p, p));
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0);
}

// @ts-ignore: decorator
@inline function fold(a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, a6: v128, a7: v128): i32 {
  const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 3);
}
