// The filter's tile, as the kernels run it (loads included), once with the 16-bit pair and once with relaxed SIMD's
// 8-bit dot-add: 4 rows × 8 centroids, d = 768 values, k = 256 centroids, 16 rows, all in this module's memory (zeros:
// integer instructions take the same time whatever the values). One pass = 16 · 256 · 768 multiply-adds.
const D = 768, K = 256, ROWS_N = 16;
const ROWS: usize = 0x10000, BLOCKS: usize = 0x20000, OUT: usize = 0xf0000;

/**
 * One pass. T = i16: rows i16, blocks [d/2][8 centroids][2 × i16] (32 bytes per 2 values, as the 16-bit filter packs
 * them), `i32x4.dot_i16x8_s` + `i32x4.add`. T = i8: rows i8, blocks [d/4][8 centroids][4 bytes] (the second operand
 * 7-bit), `i32x4.relaxed_dot_i8x16_i7x16_add_s` — compiled only into the module that enables relaxed SIMD.
 */
// @ts-ignore: decorator
@inline export function tilePass<T>(): i32 {
  const stride = <usize>D * sizeof<T>(), blockBytes = stride << 3;
  for (let r = 0; r < ROWS_N; r += 4) {
    const r0 = ROWS + <usize>r * stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride;
    for (let b = 0; b < K / 8; b++) {
      let cp = BLOCKS + <usize>b * blockBytes;
      let a00 = i32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
      for (let o: usize = 0; o < stride; o += 4) {
        const c0 = v128.load(cp), c1 = v128.load(cp, 16);
        const v0 = v128.load32_splat(r0 + o), v1 = v128.load32_splat(r1 + o), v2 = v128.load32_splat(r2 + o), v3 = v128.load32_splat(r3 + o);
        if (sizeof<T>() == 2) {
          a00 = i32x4.add(a00, i32x4.dot_i16x8_s(v0, c0)); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(v0, c1));
          a10 = i32x4.add(a10, i32x4.dot_i16x8_s(v1, c0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(v1, c1));
          a20 = i32x4.add(a20, i32x4.dot_i16x8_s(v2, c0)); a21 = i32x4.add(a21, i32x4.dot_i16x8_s(v2, c1));
          a30 = i32x4.add(a30, i32x4.dot_i16x8_s(v3, c0)); a31 = i32x4.add(a31, i32x4.dot_i16x8_s(v3, c1));
        } else {
          a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, c0, a00); a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, c1, a01);
          a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, c0, a10); a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, c1, a11);
          a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, c0, a20); a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, c1, a21);
          a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, c0, a30); a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, c1, a31);
        }
        cp += 32;
      }
      const out = OUT + (<usize>b << 7);
      v128.store(out, a00); v128.store(out, a01, 16); v128.store(out, a10, 32); v128.store(out, a11, 48);
      v128.store(out, a20, 64); v128.store(out, a21, 80); v128.store(out, a30, 96); v128.store(out, a31, 112);
    }
  }
  return load<i32>(OUT);
}
