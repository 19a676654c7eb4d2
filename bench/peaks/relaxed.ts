// The relaxed-SIMD loops of bench/peaks.mjs (a module of their own: it only validates where relaxed SIMD is on). The
// instructions are fused (product and add), each into its own chain, so no two compute the same value; one operand
// changes every iteration. Eight chains: the fused forms have several cycles of latency. As in peaks.ts, every vector
// comes from the arguments.
import { foldF32, foldI32 } from './fold';
import { tilePass } from './tiles';

export function i8Relaxed(n: i32, seed: i32): i32 {
  let a0 = i32x4.splat(seed), a1 = i32x4.splat(seed + 1), a2 = i32x4.splat(seed + 2), a3 = i32x4.splat(seed + 3);
  let a4 = i32x4.splat(seed + 4), a5 = i32x4.splat(seed + 5), a6 = i32x4.splat(seed + 6), a7 = i32x4.splat(seed + 7);
  // The second operand (i7) keeps its top bit clear, so every engine computes the same sums.
  let p = i8x16.splat(<i8>(seed + 3));
  const q = i8x16.splat(<i8>((seed + 5) & 63)), r = i8x16.splat(<i8>((seed + 9) & 63)), one = i8x16.splat(<i8>((seed >>> 30) | 1));
  for (let i = 0; i < n; i++) {
    p = i8x16.add(p, one);
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, q, a0); a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, r, a1);
    a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, q, a2); a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, r, a3);
    a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, q, a4); a5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, r, a5);
    a6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, q, a6); a7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, r, a7);
  }
  return foldI32(a0, a1, a2, a3, a4, a5, a6, a7);
}

export function f32RelaxedMadd(n: i32, seed: f32): f32 {
  let a0 = f32x4.splat(seed), a1 = f32x4.splat(seed + 1), a2 = f32x4.splat(seed + 2), a3 = f32x4.splat(seed + 3);
  let a4 = f32x4.splat(seed + 4), a5 = f32x4.splat(seed + 5), a6 = f32x4.splat(seed + 6), a7 = f32x4.splat(seed + 7);
  let p = f32x4.splat(seed * 0.5);
  const q = f32x4.splat(seed * 0.25), r = f32x4.splat(seed * 0.125), tiny = f32x4.splat(seed * 1e-7);
  for (let i = 0; i < n; i++) {
    p = f32x4.add(p, tiny);
    a0 = f32x4.relaxed_madd(p, q, a0); a1 = f32x4.relaxed_madd(p, r, a1);
    a2 = f32x4.relaxed_madd(p, q, a2); a3 = f32x4.relaxed_madd(p, r, a3);
    a4 = f32x4.relaxed_madd(p, q, a4); a5 = f32x4.relaxed_madd(p, r, a5);
    a6 = f32x4.relaxed_madd(p, q, a6); a7 = f32x4.relaxed_madd(p, r, a7);
  }
  return foldF32(a0, a1, a2, a3, a4, a5, a6, a7);
}

/** `n` passes of the 8-bit tile over the synthetic problem of tiles.ts. */
export function tile8(n: i32, seed: i32): i32 {
  let s = seed;
  for (let i = 0; i < n; i++) s += tilePass<i8>();
  return s;
}
