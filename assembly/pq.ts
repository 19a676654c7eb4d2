// Product quantization: for every row and every one of M sub-spaces, the nearest of ksub codes
// (16 or 256) by Σ_j (x_j − c_j)², summed sequentially over j in f32 (as the reference). The
// codebook is transposed once per call to [m][j][c] so that 16 codes fill four f32x4 lanes.

/** codebook [m][c][j] → out [m][j][c]. */
export function pqTranspose(cb: usize, m: i32, ksub: i32, ds: i32, out: usize): void {
  for (let s = 0; s < m; s++) {
    const src = cb + (<usize>s * <usize>ksub * <usize>ds << 2);
    const dst = out + (<usize>s * <usize>ksub * <usize>ds << 2);
    for (let c = 0; c < ksub; c++) {
      for (let j = 0; j < ds; j++) {
        store<f32>(dst + (<usize>(j * ksub + c) << 2), load<f32>(src + (<usize>(c * ds + j) << 2)));
      }
    }
  }
}

// @ts-ignore: decorator
@inline function sqdiff(x: v128, c: v128, acc: v128): v128 {
  const t = f32x4.sub(x, c);
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(t, t, acc);
  else return f32x4.add(acc, f32x4.mul(t, t));
}

// @ts-ignore: decorator
@inline function take(s: v128, best: v128): v128 {
  return v128.andnot(f32x4.eq(s, s), f32x4.ge(s, best));
}

/** outIndex/outDist[i·m + s] for n rows of d = m·ds floats; t = transposed codebook. */
export function pqAssign(x: usize, n: i32, d: i32, m: i32, ksub: i32, t: usize, outIndex: usize, outDist: usize): void {
  const ds = d / m;
  const stride = <usize>d << 2;
  const subBytes = <usize>ds << 2;
  const tsBytes = <usize>ksub * <usize>ds << 2;
  const rowBytes = <usize>ksub << 2;
  for (let s = 0; s < m; s++) {
    const ts = t + <usize>s * tsBytes;
    let xp = x + <usize>s * subBytes;
    for (let i = 0; i < n; i++) {
      const o = (<usize>i * <usize>m + <usize>s) << 2;
      if (ASC_FEATURE_SIMD) {
        let best = f32x4.splat(NaN);
        let bestI = i32x4.splat(-1);
        let idx = i32x4(0, 1, 2, 3);
        const four = i32x4.splat(4);
        for (let c = 0; c < ksub; c += 16) {
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
          let tp = ts + (<usize>c << 2);
          for (let j = 0; j < ds; j++) {
            const v = v128.load32_splat(xp + (<usize>j << 2));
            a0 = sqdiff(v, v128.load(tp), a0);
            a1 = sqdiff(v, v128.load(tp, 16), a1);
            a2 = sqdiff(v, v128.load(tp, 32), a2);
            a3 = sqdiff(v, v128.load(tp, 48), a3);
            tp += rowBytes;
          }
          let k = take(a0, best); best = v128.bitselect(a0, best, k); bestI = v128.bitselect(idx, bestI, k); idx = i32x4.add(idx, four);
          k = take(a1, best); best = v128.bitselect(a1, best, k); bestI = v128.bitselect(idx, bestI, k); idx = i32x4.add(idx, four);
          k = take(a2, best); best = v128.bitselect(a2, best, k); bestI = v128.bitselect(idx, bestI, k); idx = i32x4.add(idx, four);
          k = take(a3, best); best = v128.bitselect(a3, best, k); bestI = v128.bitselect(idx, bestI, k); idx = i32x4.add(idx, four);
        }
        let bs: f32 = NaN, bi: i32 = -1;
        for (let l = 0; l < 4; l++) {
          const sv = l == 0 ? f32x4.extract_lane(best, 0) : l == 1 ? f32x4.extract_lane(best, 1) : l == 2 ? f32x4.extract_lane(best, 2) : f32x4.extract_lane(best, 3);
          const iv = l == 0 ? i32x4.extract_lane(bestI, 0) : l == 1 ? i32x4.extract_lane(bestI, 1) : l == 2 ? i32x4.extract_lane(bestI, 2) : i32x4.extract_lane(bestI, 3);
          if (sv != sv) continue;
          if (bi < 0 || sv < bs || (sv == bs && iv < bi)) { bs = sv; bi = iv; }
        }
        store<i32>(outIndex + o, bi);
        store<f32>(outDist + o, bs);
      } else {
        let bs: f32 = NaN, bi: i32 = -1;
        for (let c = 0; c < ksub; c++) {
          let acc: f32 = 0;
          let tp = ts + (<usize>c << 2);
          for (let j = 0; j < ds; j++) {
            const e = load<f32>(xp + (<usize>j << 2)) - load<f32>(tp);
            acc += e * e;
            tp += rowBytes;
          }
          if (acc == acc && !(acc >= bs)) { bs = acc; bi = c; }
        }
        store<i32>(outIndex + o, bi);
        store<f32>(outDist + o, bs);
      }
      xp += stride;
    }
  }
}

/** 8-bit codes: out[p] = max(idx[p], 0). */
export function pqCodes8(idx: usize, len: i32, out: usize): void {
  for (let p = 0; p < len; p++) {
    const c = load<i32>(idx + (<usize>p << 2));
    store<u8>(out + p, <u8>(c < 0 ? 0 : c));
  }
}

/** 4-bit codes, two a byte, even position in the low nibble (len even). */
export function pqCodes4(idx: usize, len: i32, out: usize): void {
  for (let p = 0; p < len; p += 2) {
    let a = load<i32>(idx + (<usize>p << 2)), b = load<i32>(idx + (<usize>p << 2), 4);
    if (a < 0) a = 0;
    if (b < 0) b = 0;
    store<u8>(out + (p >> 1), <u8>(a | (b << 4)));
  }
}
