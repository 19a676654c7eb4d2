// The filter's tile, as the kernels run it (loads included), once with the 16-bit pair and once with relaxed SIMD's
// 8-bit dot-add: 4 rows × 8 centroids, d = 768 values, k = 256 centroids, 16 rows, all in this module's memory (zeros:
// integer instructions take the same time whatever the values). One iteration = 16 · 256 · 768 multiply-adds.
export const TILE_D = 768, TILE_K = 256, TILE_ROWS = 16;
const ROWS: usize = 0x10000, BLOCKS: usize = 0x20000, OUT: usize = 0xf0000;

/** The 16-bit tile: rows i16, blocks [d/2][8 centroids][2 × i16] (32 bytes per 2 values), as the 16-bit filter packs them. */
// @ts-ignore: decorator
@inline export function tile16Pass(): i32 {
  const d = TILE_D, stride = <usize>d << 1, blockBytes = <usize>d << 4;
  for (let r = 0; r < TILE_ROWS; r += 4) {
    const r0 = ROWS + <usize>r * stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride;
    for (let b = 0; b < TILE_K / 8; b++) {
      let cp = BLOCKS + <usize>b * blockBytes;
      let a00 = i32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
      for (let o: usize = 0; o < stride; o += 4) {
        const c0 = v128.load(cp), c1 = v128.load(cp, 16);
        const v0 = v128.load32_splat(r0 + o), v1 = v128.load32_splat(r1 + o), v2 = v128.load32_splat(r2 + o), v3 = v128.load32_splat(r3 + o);
        a00 = i32x4.add(a00, i32x4.dot_i16x8_s(v0, c0)); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(v0, c1));
        a10 = i32x4.add(a10, i32x4.dot_i16x8_s(v1, c0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(v1, c1));
        a20 = i32x4.add(a20, i32x4.dot_i16x8_s(v2, c0)); a21 = i32x4.add(a21, i32x4.dot_i16x8_s(v2, c1));
        a30 = i32x4.add(a30, i32x4.dot_i16x8_s(v3, c0)); a31 = i32x4.add(a31, i32x4.dot_i16x8_s(v3, c1));
        cp += 32;
      }
      store8(OUT + (<usize>b << 7), a00, a01, a10, a11, a20, a21, a30, a31);
    }
  }
  return load<i32>(OUT);
}

/** The same tile with 8-bit values: rows i8, blocks [d/4][8 centroids][4 bytes] (second operand 7-bit). */
// @ts-ignore: decorator
@inline export function tile8Pass(): i32 {
  const d = TILE_D, stride = <usize>d, blockBytes = <usize>d << 3;
  for (let r = 0; r < TILE_ROWS; r += 4) {
    const r0 = ROWS + <usize>r * stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride;
    for (let b = 0; b < TILE_K / 8; b++) {
      let cp = BLOCKS + <usize>b * blockBytes;
      let a00 = i32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
      for (let o: usize = 0; o < stride; o += 4) {
        const c0 = v128.load(cp), c1 = v128.load(cp, 16);
        const v0 = v128.load32_splat(r0 + o), v1 = v128.load32_splat(r1 + o), v2 = v128.load32_splat(r2 + o), v3 = v128.load32_splat(r3 + o);
        a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, c0, a00); a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, c1, a01);
        a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, c0, a10); a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, c1, a11);
        a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, c0, a20); a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, c1, a21);
        a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, c0, a30); a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, c1, a31);
        cp += 32;
      }
      store8(OUT + (<usize>b << 7), a00, a01, a10, a11, a20, a21, a30, a31);
    }
  }
  return load<i32>(OUT);
}

// @ts-ignore: decorator
@inline function store8(o: usize, a: v128, b: v128, c: v128, d: v128, e: v128, f: v128, g: v128, h: v128): void {
  v128.store(o, a); v128.store(o, b, 16); v128.store(o, c, 32); v128.store(o, d, 48);
  v128.store(o, e, 64); v128.store(o, f, 80); v128.store(o, g, 96); v128.store(o, h, 112);
}
