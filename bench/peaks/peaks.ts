// Register-only throughput loops for the dot-product instructions the kernels could use (bench/peaks.mjs runs them):
// `n` iterations of 8 of the instructions measured, on few registers (V8 keeps 15 vectors in registers on x64).
// Multiply-adds per instruction: i16 pair 8, relaxed i8 dot 16, f32 mul + add 4, relaxed madd 4. Where the product
// is an instruction of its own (i16 dot, f32 mul), an iteration's 8 products all differ and one of their operands
// changes every iteration, so a compiler can neither hoist them out of the loop nor compute one for several chains.
// Every vector comes from the arguments: with `v128.const` operands these loops ran at half the speed under V8 13–15
// (not in general: a mul/add loop with a constant operand ran as fast as with a runtime one).
import { foldF32, foldI32 } from './fold';
import { tilePass } from './tiles';

export function i16Pair(n: i32, seed: i32): i32 {
  // Four chains suffice: an i32 add has one cycle of latency.
  let a0 = i32x4.splat(seed), a1 = i32x4.splat(seed + 1), a2 = i32x4.splat(seed + 2), a3 = i32x4.splat(seed + 3);
  let p = i16x8.splat(<i16>(seed + 3)), u = i16x8.splat(<i16>(seed + 11));
  const q = i16x8.splat(<i16>(seed + 5)), r = i16x8.splat(<i16>(seed + 9)), s = i16x8.splat(<i16>(seed + 13));
  const t = i16x8.splat(<i16>(seed + 17)), one = i16x8.splat(<i16>((seed >>> 30) | 1));
  for (let i = 0; i < n; i++) {
    p = i16x8.add(p, one); u = i16x8.sub(u, one);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(p, q)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(p, r));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(p, s)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(p, t));
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(u, q)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(u, r));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(u, s)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(u, t));
  }
  return foldI32(a0, a1, a2, a3, a0, a1, a2, a3);
}

export function f32MulAdd(n: i32, seed: f32): f32 {
  // Eight chains: an f32 add has four cycles of latency.
  let a0 = f32x4.splat(seed), a1 = f32x4.splat(seed + 1), a2 = f32x4.splat(seed + 2), a3 = f32x4.splat(seed + 3);
  let a4 = f32x4.splat(seed + 4), a5 = f32x4.splat(seed + 5), a6 = f32x4.splat(seed + 6), a7 = f32x4.splat(seed + 7);
  let p = f32x4.splat(seed * 0.5), u = f32x4.splat(seed * 0.75);
  const q = f32x4.splat(seed * 0.25), r = f32x4.splat(seed * 0.125), s = f32x4.splat(seed * 0.375), tiny = f32x4.splat(seed * 1e-7);
  for (let i = 0; i < n; i++) {
    p = f32x4.add(p, tiny); u = f32x4.sub(u, tiny);
    a0 = f32x4.add(a0, f32x4.mul(p, q)); a1 = f32x4.add(a1, f32x4.mul(p, r));
    a2 = f32x4.add(a2, f32x4.mul(p, s)); a3 = f32x4.add(a3, f32x4.mul(p, u));
    a4 = f32x4.add(a4, f32x4.mul(p, p)); a5 = f32x4.add(a5, f32x4.mul(u, q));
    a6 = f32x4.add(a6, f32x4.mul(u, r)); a7 = f32x4.add(a7, f32x4.mul(u, s));
  }
  return foldF32(a0, a1, a2, a3, a4, a5, a6, a7);
}

/** `n` passes of the 16-bit tile over the synthetic problem of tiles.ts. */
export function tile16(n: i32, seed: i32): i32 {
  let s = seed;
  for (let i = 0; i < n; i++) s += tilePass<i16>();
  return s;
}
