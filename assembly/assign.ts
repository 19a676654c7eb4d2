import { fmadd, sqNormRow, tileDist } from './common';

// Nearest-centroid assignment in GEMM form. Centroids are packed in blocks of 8: block b holds
// centroids 8b .. 8b+7 as [j][8] (the last real centroid repeated as padding, so padding never wins:
// it ties with a lower index). Per centroid, dot(x, c) is a sequential f32 sum over j, so every
// build computes the same value as the scalar reference; the SIMD build runs 4 rows × 8 centroids
// register tiles. dist = max(0, (‖x‖² + ‖c‖²) − 2·dot) for l2, 1 − dot for dot; selection on
// dist + bias[c]; a candidate wins when it is not NaN and strictly smaller (ties → lowest index).

const BLOCK: i32 = 8;

/** Packs k centroids of d floats into ceil(k/8) blocks [j][8]; cnOut[c] = ‖c‖² (padded, kPad values);
 *  biasOut = bias padded the same way when bias != 0. */
export function packCentroids(c: usize, k: i32, d: i32, packed: usize, cnOut: usize, bias: usize, biasOut: usize): void {
  const kb = (k + BLOCK - 1) / BLOCK;
  for (let b = 0; b < kb; b++) {
    for (let l = 0; l < BLOCK; l++) {
      let src = b * BLOCK + l;
      if (src >= k) src = k - 1;
      const row = c + (<usize>src * <usize>d << 2);
      const dst = packed + ((<usize>b * <usize>d * BLOCK + l) << 2);
      for (let j = 0; j < d; j++) store<f32>(dst + (<usize>j * BLOCK << 2), load<f32>(row + (<usize>j << 2)));
      const o = <usize>(b * BLOCK + l) << 2;
      store<f32>(cnOut + o, sqNormRow(row, d));
      if (bias) store<f32>(biasOut + o, load<f32>(bias + (<usize>src << 2)));
    }
  }
}

/** Rows per super-block of centroids kept hot in cache (bytes of packed centroids). */
const SUPER_BYTES: i32 = 192 * 1024;

/** Rows whose data stays in L1 while a centroid block is applied to all of them (multiple of 4). */
const GROUP: i32 = 32;

/**
 * Assigns n rows (n a multiple of 4; pad rows are ignored by the host) of x to the kb packed blocks.
 * metric 0 = l2, 1 = dot. bias = 0 for none. scratch needs n·68 + 16 bytes (norms + per-row best state).
 * outSecond (0 = none): per row, the smallest selection value (dist + bias) over the k real centroids
 * other than the chosen one (+Inf when there is none, NaN-free); padding centroids never count.
 * outAll (0 = none): per row, the unbiased distance to every centroid (kb·8 values per row, padding included).
 */
export function assignRows(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, bias: usize, metric: i32,
  scratch: usize, outIndex: usize, outDist: usize, k: i32, outSecond: usize, outAll: usize): void {
  const xn = scratch;
  const state = (scratch + (<usize>n << 2) + 15) & ~<usize>15;
  const stride = <usize>d << 2;
  for (let i = 0; i < n; i++) store<f32>(xn + (<usize>i << 2), metric == 0 ? sqNormRow(x + <usize>i * stride, d) : 0);
  if (ASC_FEATURE_SIMD) {
    assignSimd(x, n, d, packed, kb, cn, bias, metric, xn, state, outIndex, outDist, k, outSecond, outAll);
  } else {
    assignScalar(x, n, d, packed, kb, cn, bias, metric, xn, outIndex, outDist, k, outSecond, outAll);
  }
}

// Per-row state: best selection value (f32x4), best unbiased distance (f32x4), best index (i32x4);
// with `sec`, the second-best selection value (f32x4) in a separate array at sp.
// @ts-ignore: decorator
@inline function update(st: usize, dv: v128, bv: v128, hasBias: bool, idx: v128, sec: bool, kv: v128, sp: usize): void {
  const s = hasBias ? f32x4.add(dv, bv) : dv;
  const best = v128.load(st);
  const take = v128.andnot(f32x4.eq(s, s), f32x4.ge(s, best));
  v128.store(st, v128.bitselect(s, best, take));
  v128.store(st, v128.bitselect(idx, v128.load(st, 32), take), 32);
  if (hasBias) v128.store(st, v128.bitselect(dv, v128.load(st, 16), take), 16);
  if (sec) {
    // The value leaving the best slot (taken) or the candidate itself (not taken, real centroids only).
    const cand = v128.bitselect(best, s, take);
    const ok = v128.or(take, i32x4.lt_s(idx, kv));
    const second = v128.load(sp);
    v128.store(sp, v128.bitselect(cand, second, v128.and(ok, f32x4.lt(cand, second))));
  }
}

function assignSimd(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, bias: usize, metric: i32,
  xn: usize, state: usize, outIndex: usize, outDist: usize, k: i32, outSecond: usize, outAll: usize): void {
  // Two copies: the plain assignment keeps its inner loop free of the bound outputs' branches.
  if (outSecond == 0 && outAll == 0) assignSimdT(x, n, d, packed, kb, cn, bias, metric, xn, state, outIndex, outDist, k, 0, 0, false);
  else assignSimdT(x, n, d, packed, kb, cn, bias, metric, xn, state, outIndex, outDist, k, outSecond, outAll, true);
}

// @ts-ignore: decorator
@inline function assignSimdT(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, bias: usize, metric: i32,
  xn: usize, state: usize, outIndex: usize, outDist: usize, k: i32, outSecond: usize, outAll: usize, extra: bool): void {
  const sec = extra && outSecond != 0;
  const all = extra && outAll != 0;
  const rowAll = <usize>kb * BLOCK << 2;
  const kv = i32x4.splat(k);
  const inf = f32x4.splat(Infinity);
  const secBase = state + <usize>n * 48;
  const stride = <usize>d << 2;
  const blockBytes = <usize>d * BLOCK << 2;
  const nan = f32x4.splat(NaN);
  const minus1 = i32x4.splat(-1);
  for (let i = 0; i < n; i++) {
    const st = state + (<usize>i * 48);
    v128.store(st, nan); v128.store(st, nan, 16); v128.store(st, minus1, 32);
    if (sec) v128.store(secBase + (<usize>i << 4), inf);
  }
  let superBlocks = SUPER_BYTES / <i32>blockBytes;
  if (superBlocks < 1) superBlocks = 1;
  const hasBias = bias != 0;
  const l2 = metric == 0;
  const lane = i32x4(0, 1, 2, 3);
  for (let sb = 0; sb < kb; sb += superBlocks) {
    const sbEnd = min(sb + superBlocks, kb);
    for (let g = 0; g < n; g += GROUP) {
      const gEnd = min(g + GROUP, n);
      for (let b = sb; b < sbEnd; b++) {
        for (let i = g; i < gEnd; i += 4) {
          const x0 = x + <usize>i * stride;
          const st0 = state + <usize>i * 48;
          const sp0 = secBase + (<usize>i << 4);
          const xn0 = f32x4.splat(load<f32>(xn + (<usize>i << 2)));
          const xn1 = f32x4.splat(load<f32>(xn + (<usize>i << 2), 4));
          const xn2 = f32x4.splat(load<f32>(xn + (<usize>i << 2), 8));
          const xn3 = f32x4.splat(load<f32>(xn + (<usize>i << 2), 12));
          let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
          let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
          let cp = packed + <usize>b * blockBytes;
          let xp = x0;
          const xe = x0 + stride;
          const s2 = stride << 1, s3 = stride * 3;
          while (xp < xe) {
            const c0 = v128.load(cp), c1 = v128.load(cp, 16);
            const v0 = v128.load32_splat(xp);
            a00 = fmadd(v0, c0, a00); a01 = fmadd(v0, c1, a01);
            const v1 = v128.load32_splat(xp + stride);
            a10 = fmadd(v1, c0, a10); a11 = fmadd(v1, c1, a11);
            const v2 = v128.load32_splat(xp + s2);
            a20 = fmadd(v2, c0, a20); a21 = fmadd(v2, c1, a21);
            const v3 = v128.load32_splat(xp + s3);
            a30 = fmadd(v3, c0, a30); a31 = fmadd(v3, c1, a31);
            cp += 32; xp += 4;
          }
          const co = <usize>b * BLOCK << 2;
          const cn0 = v128.load(cn + co), cn1 = v128.load(cn + co, 16);
          let b0 = cn0, b1 = cn1;
          if (hasBias) { b0 = v128.load(bias + co); b1 = v128.load(bias + co, 16); }
          const idx0 = i32x4.add(i32x4.splat(b * BLOCK), lane);
          const idx1 = i32x4.add(idx0, i32x4.splat(4));
          const d00 = tileDist(a00, xn0, cn0, l2), d01 = tileDist(a01, xn0, cn1, l2);
          const d10 = tileDist(a10, xn1, cn0, l2), d11 = tileDist(a11, xn1, cn1, l2);
          const d20 = tileDist(a20, xn2, cn0, l2), d21 = tileDist(a21, xn2, cn1, l2);
          const d30 = tileDist(a30, xn3, cn0, l2), d31 = tileDist(a31, xn3, cn1, l2);
          update(st0, d00, b0, hasBias, idx0, sec, kv, sp0);
          update(st0, d01, b1, hasBias, idx1, sec, kv, sp0);
          update(st0 + 48, d10, b0, hasBias, idx0, sec, kv, sp0 + 16);
          update(st0 + 48, d11, b1, hasBias, idx1, sec, kv, sp0 + 16);
          update(st0 + 96, d20, b0, hasBias, idx0, sec, kv, sp0 + 32);
          update(st0 + 96, d21, b1, hasBias, idx1, sec, kv, sp0 + 32);
          update(st0 + 144, d30, b0, hasBias, idx0, sec, kv, sp0 + 48);
          update(st0 + 144, d31, b1, hasBias, idx1, sec, kv, sp0 + 48);
          if (all) {
            const o = outAll + <usize>i * rowAll + co;
            v128.store(o, d00); v128.store(o, d01, 16);
            v128.store(o + rowAll, d10); v128.store(o + rowAll, d11, 16);
            v128.store(o + 2 * rowAll, d20); v128.store(o + 2 * rowAll, d21, 16);
            v128.store(o + 3 * rowAll, d30); v128.store(o + 3 * rowAll, d31, 16);
          }
        }
      }
    }
  }
  for (let i = 0; i < n; i++) {
    const st = state + <usize>i * 48;
    let bestS: f32 = NaN, bestD: f32 = NaN, bestI: i32 = -1, bestL = -1;
    for (let l = 0; l < 4; l++) {
      const s = load<f32>(st + (<usize>l << 2));
      const ix = load<i32>(st + (<usize>l << 2), 32);
      if (s != s) continue;
      if (bestI < 0 || s < bestS || (s == bestS && ix < bestI)) {
        bestS = s; bestI = ix; bestL = l;
        bestD = hasBias ? load<f32>(st + (<usize>l << 2), 16) : s;
      }
    }
    store<i32>(outIndex + (<usize>i << 2), bestI);
    store<f32>(outDist + (<usize>i << 2), bestD);
    if (sec) {
      // Other lanes offer their best (when a real centroid), every lane its second.
      let second: f32 = Infinity;
      for (let l = 0; l < 4; l++) {
        const o = <usize>l << 2;
        const s2 = load<f32>(secBase + (<usize>i << 4) + o);
        if (s2 < second) second = s2;
        if (l != bestL && load<i32>(st + o, 32) < k) {
          const s = load<f32>(st + o);
          if (s < second) second = s;
        }
      }
      store<f32>(outSecond + (<usize>i << 2), second);
    }
  }
}

function assignScalar(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, bias: usize, metric: i32,
  xn: usize, outIndex: usize, outDist: usize, k: i32, outSecond: usize, outAll: usize): void {
  const stride = <usize>d << 2;
  const blockBytes = <usize>d * BLOCK << 2;
  for (let i = 0; i < n; i++) {
    const xr = x + <usize>i * stride;
    const xni = load<f32>(xn + (<usize>i << 2));
    let bestS: f32 = NaN, bestD: f32 = NaN, bestI: i32 = -1, second: f32 = Infinity;
    for (let b = 0; b < kb; b++) {
      let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0, a4: f32 = 0, a5: f32 = 0, a6: f32 = 0, a7: f32 = 0;
      let cp = packed + <usize>b * blockBytes;
      for (let j = 0; j < d; j++) {
        const v = load<f32>(xr + (<usize>j << 2));
        a0 += v * load<f32>(cp); a1 += v * load<f32>(cp, 4); a2 += v * load<f32>(cp, 8); a3 += v * load<f32>(cp, 12);
        a4 += v * load<f32>(cp, 16); a5 += v * load<f32>(cp, 20); a6 += v * load<f32>(cp, 24); a7 += v * load<f32>(cp, 28);
        cp += 32;
      }
      for (let l = 0; l < BLOCK; l++) {
        const a = l == 0 ? a0 : l == 1 ? a1 : l == 2 ? a2 : l == 3 ? a3 : l == 4 ? a4 : l == 5 ? a5 : l == 6 ? a6 : a7;
        const o = <usize>(b * BLOCK + l) << 2;
        let dd: f32;
        if (metric == 0) {
          dd = (xni + load<f32>(cn + o)) - (a + a);
          dd = max<f32>(dd, 0);
        } else {
          dd = <f32>1 - a;
        }
        if (outAll) store<f32>(outAll + (<usize>i * <usize>kb * BLOCK << 2) + o, dd);
        const s: f32 = bias ? dd + load<f32>(bias + o) : dd;
        if (s == s && !(s >= bestS)) {
          if (bestS < second) second = bestS;
          bestS = s; bestD = dd; bestI = b * BLOCK + l;
        } else if (b * BLOCK + l < k && s < second) {
          second = s;
        }
      }
    }
    store<i32>(outIndex + (<usize>i << 2), bestI);
    store<f32>(outDist + (<usize>i << 2), bestD);
    if (outSecond) store<f32>(outSecond + (<usize>i << 2), second);
  }
}
