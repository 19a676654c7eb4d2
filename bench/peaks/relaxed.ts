// The relaxed-SIMD loops of bench/peaks.mjs (a module of their own: it only validates where relaxed SIMD is on).

export function i8Relaxed(n: i32, seed: i32): i32 {
  let a0 = i32x4.splat(seed), a1 = i32x4.splat(seed + 1), a2 = i32x4.splat(seed + 2), a3 = i32x4.splat(seed + 3);
  let a4 = i32x4.splat(seed + 4), a5 = i32x4.splat(seed + 5), a6 = i32x4.splat(seed + 6), a7 = i32x4.splat(seed + 7);
  let p = i8x16.splat(<i8>(seed + 3));
  const q = i8x16.splat(<i8>(seed + 5)), r = i8x16.splat(<i8>(seed + 9)), one = i8x16.splat(1);
  for (let i = 0; i < n; i++) {
    p = i8x16.add(p, one);
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, q, a0); a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, r, a1);
    a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, q, a2); a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, q, a3);
    a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, p, a4); a5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, r, a5);
    a6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, r, a6); a7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(p, p, a7);
  }
  const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 3);
}

export function f32RelaxedMadd(n: i32, seed: f32): f32 {
  let a0 = f32x4.splat(seed), a1 = f32x4.splat(seed + 1), a2 = f32x4.splat(seed + 2), a3 = f32x4.splat(seed + 3);
  let a4 = f32x4.splat(seed + 4), a5 = f32x4.splat(seed + 5), a6 = f32x4.splat(seed + 6), a7 = f32x4.splat(seed + 7);
  let p = f32x4.splat(0.5);
  const q = f32x4.splat(0.25), r = f32x4.splat(0.125), tiny = f32x4.splat(1e-7);
  for (let i = 0; i < n; i++) {
    p = f32x4.add(p, tiny);
    a0 = f32x4.relaxed_madd(p, q, a0); a1 = f32x4.relaxed_madd(p, r, a1);
    a2 = f32x4.relaxed_madd(p, q, a2); a3 = f32x4.relaxed_madd(p, q, a3);
    a4 = f32x4.relaxed_madd(p, p, a4); a5 = f32x4.relaxed_madd(p, r, a5);
    a6 = f32x4.relaxed_madd(p, r, a6); a7 = f32x4.relaxed_madd(p, p, a7);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0);
}
