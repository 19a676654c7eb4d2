import { sqNormRow } from './common';
import { DOWN, exactDist, filterTile, hmin, keptSums, P125, P23, packListed, pqExactSecond, pqPick, pushListed } from './pq';

// PQ k-means with group bounds (256 codes per sub-space; Yinyang-style). The codes of a sub-space are
// visited in slot order: slot q holds code perm[q], and group g is slots 16g .. 16g + 15 (the caller puts
// nearby codes together). Per (row, sub-space) pair the caller keeps the code chosen last time (−1: none)
// and 16 bounds: gl[g], a lower bound on the true Euclidean distance from the sub-vector to every code of
// group g other than the kept one, stored as bfloat16 (the f32's upper half, truncated). Before a step,
// gl[g] drops by gd[g] (f32, rounded up: the largest drift of the group's codes) and is rounded down; a
// pair whose kept code a passes the test of assembly/pq.ts with L = min_g gl[g] keeps a. Otherwise every
// group whose bound fails that test against the best sum so far gets the exact sums (the reference's bits,
// ties to the lowest code), starting from a's sum; a group that passes cannot hold a code that beats or
// ties the best, so the result is the brute-force search's, bit for bit. Searched groups get bounds from
// their exact sums, the others keep theirs (a's group takes in a's sum when a loses). Pairs without a code,
// whose kept sum is not finite, or that would search FULL_GROUPS groups or more take the full search: the
// filter of assembly/pq.ts in slot order (4-row tiles straight from the rows when no row of the call has a
// code yet), then bounds per group from the other codes' filter values.

const DOWNF: f32 = 0.9999997615814209; // 1 − 2^-22
const FULL_GROUPS = 7;                      // a pair that needs this many groups takes the full search instead
const P19: f64 = 1.9073486328125e-6; // 2^-19
const P20: f64 = 9.5367431640625e-7; // 2^-20
const P40: f64 = 9.094947017729282e-13; // 2^-40

/** Full search of one sub-vector: code and sum to pIdx/pDist[r], 16 group bounds to pGl + 64·r, pLb[r] ≥ 0
 *  (−1: no code). */
// @ts-ignore: decorator
@inline function fullGrouped(xp: usize, cbs: usize, cbo: usize, perm: usize, ds: i32, buf: usize, bmin: usize, amin: f32, cmax: f32,
  k1: f32, k2: f32, pIdx: usize, pDist: usize, pLb: usize, pGl: usize, r: usize, margin: f64): void {
  const xn = sqNormRow(xp, ds);
  const sum = xn + cmax;
  const gp = pGl + (r << 6);
  if (sum < <f32>1e30 && abs(amin) < <f32>1e30) {
    const bq = pqPick(xp, cbs, perm, ds, buf, bmin, amin + (sum * k1 + k2), pIdx, pDist, r << 2);
    store<f32>(pLb + (r << 2), 0);
    if (bq >= 0) store<f32>(bmin + (<usize>(bq >> 3) << 4) + (<usize>(bq & 3) << 2), load<f32>(buf + (<usize>(bq ^ 4) << 2)));
    // t = a2 + ‖x‖²(1 − γ) − err in f32: err has 2^-19·sum more than assembly/pq.ts lowerFromFilter for the
    // f32 rounding of these three operations; sqrt and ×(1 − 2^-22) then round down.
    const g = <f64>(ds + 4) * P23 * margin;
    const errA = ((<f64>(ds + 4) * P20 * 1.0001 + P40 + P19) * <f64>sum + <f64>(ds + 4) * P125) * margin * (1 + P20);
    const c1 = f32x4.splat(<f32>(<f64>xn * (1 - g))), ev = f32x4.splat(<f32>errA), zero = f32x4.splat(0);
    const down = f32x4.splat(margin > 0 ? DOWNF : 1);
    for (let h: usize = 0; h < 4; h++) {
      const bp = bmin + (h << 7);
      const v0 = f32x4.pmin(v128.load(bp), v128.load(bp, 16)), v1 = f32x4.pmin(v128.load(bp, 32), v128.load(bp, 48));
      const v2 = f32x4.pmin(v128.load(bp, 64), v128.load(bp, 80)), v3 = f32x4.pmin(v128.load(bp, 96), v128.load(bp, 112));
      const s1 = f32x4.pmin(v128.shuffle<f32>(v0, v1, 0, 1, 4, 5), v128.shuffle<f32>(v0, v1, 2, 3, 6, 7));
      const s2 = f32x4.pmin(v128.shuffle<f32>(v2, v3, 0, 1, 4, 5), v128.shuffle<f32>(v2, v3, 2, 3, 6, 7));
      const a2 = f32x4.pmin(v128.shuffle<f32>(s1, s2, 0, 2, 4, 6), v128.shuffle<f32>(s1, s2, 1, 3, 5, 7));
      const t = f32x4.max(f32x4.sub(f32x4.add(a2, c1), ev), zero);
      v128.store(gp + (h << 4), f32x4.mul(f32x4.sqrt(t), down));
    }
  } else {
    pqExactSecond(xp, cbo, 256, ds, pIdx, pDist, pLb, r << 2, margin);
    const l = max<f32>(0, load<f32>(pLb + (r << 2)));
    for (let g: usize = 0; g < 64; g += 4) store<f32>(gp + g, l);
  }
}

/** An f32 τ with lg > τ ⇒ (lg²·(1 − γ) − ε)·slack > bs for every f32 lg (a group whose bound exceeds τ cannot
 *  hold a code that beats or ties sum bs); k1 = 1 / (slack·(1 − γ)), k2 = ε / (1 − γ). */
// @ts-ignore: decorator
@inline function groupThreshold(bs: f32, k1: f64, k2: f64): f32 {
  const t = sqrt(<f64>bs * k1 + k2) * (1 + P40);
  let f = <f32>t;
  if (<f64>f < t) f = reinterpret<f32>(reinterpret<u32>(f) + 1);
  return f;
}

/** Smallest lane, NaN when a lane is NaN. */
// @ts-ignore: decorator
@inline function hminNaN(v: v128): f32 {
  const m1 = f32x4.min(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.min(m1, v128.shuffle<f32>(m1, m1, 1, 0, 3, 2)), 0);
}

/** L from an exact sum v as assembly/pq.ts lowerFromExact, with rg = 1 / (1 + γ) and down = 1 − 2^-22 (the
 *  product's rounding stays inside the 2^-22). */
// @ts-ignore: decorator
@inline function lowerGroup(v: f32, rg: f64, e: f64, down: f64): f32 {
  if (!(v < Infinity)) return 0;
  const t = (<f64>v - e) * rg;
  if (!(t > 0)) return 0;
  return <f32>(sqrt(t) * down);
}

/** Sums of the 16 codes of group g (slots 16g ..) from cbs [q][j] to sums (64 bytes); their minimum, NaN if one is NaN. */
// @ts-ignore: decorator
@inline function groupSums(xp: usize, cbs: usize, ds: i32, g: i32, sums: usize): f32 {
  const cbytes = <usize>ds << 2;
  let mn: f32 = Infinity;
  for (let l = 0; l < 16; l++) {
    const v = exactDist(xp, cbs + <usize>(16 * g + l) * cbytes, ds);
    store<f32>(sums + (<usize>l << 2), v);
    mn = v != v || mn != mn ? NaN : min(mn, v);
  }
  return mn;
}

/** 16 non-negative f32 bounds at src → their upper halves (bfloat16, truncated: rounded down) at dst. */
// @ts-ignore: decorator
@inline function encode16(src: usize, dst: usize): void {
  if (ASC_FEATURE_SIMD) {
    v128.store(dst, i16x8.narrow_i32x4_u(i32x4.shr_u(v128.load(src), 16), i32x4.shr_u(v128.load(src, 16), 16)));
    v128.store(dst, i16x8.narrow_i32x4_u(i32x4.shr_u(v128.load(src, 32), 16), i32x4.shr_u(v128.load(src, 48), 16)), 16);
  } else {
    for (let h: usize = 0; h < 16; h++) store<u16>(dst + (h << 1), <u16>(load<u32>(src + (h << 2)) >> 16));
  }
}

/** Bit g set when bound g (f32 at gp) ≤ τ. */
// @ts-ignore: decorator
@inline function needMask(gp: usize, tau: f32): u32 {
  if (ASC_FEATURE_SIMD) {
    const tv = f32x4.splat(tau);
    return <u32>(i32x4.bitmask(f32x4.le(v128.load(gp), tv)) | (i32x4.bitmask(f32x4.le(v128.load(gp, 16), tv)) << 4) |
      (i32x4.bitmask(f32x4.le(v128.load(gp, 32), tv)) << 8) | (i32x4.bitmask(f32x4.le(v128.load(gp, 48), tv)) << 12));
  } else {
    let need: u32 = 0;
    for (let g = 0; g < 16; g++) if (load<f32>(gp + (<usize>g << 2)) <= tau) need |= 1 << g;
    return need;
  }
}

/**
 * The search of a pair that failed the bound test (see above): the kept code a with sum dv, bounds at gp
 * (already lowered; updated here), τ of dv and the groups whose bounds are ≤ τ (need). Codes in slot order: ts [j][q] (SIMD) or cbs [q][j]. gs: 256 bytes.
 */
function groupSearch(xp: usize, ts: usize, cbs: usize, perm: usize, inv: usize, ds: i32, a: i32, dv: f32, gp: usize, gs: usize,
  tau: f32, need: u32, k1: f64, k2: f64, rg: f64, e: f64, down: f64, outIndex: usize, outDist: usize, sAssign: usize, p: usize): void {
  let bs = dv, bc = a, bq = load<i32>(inv + (<usize>a << 2));
  const ga = bq >> 4;
  let bg = -1;                                              // the group whose sums are kept at win (holds the best code)
  const sums = gs, win = gs + 64, m1s = gs + 128;
  let searched: u32 = 0;
  while (need != 0) {
    const g = ctz(need);
    need &= need - 1;
    if (load<f32>(gp + (<usize>g << 2)) > tau) continue;
    searched |= 1 << g;
    if (ASC_FEATURE_SIMD) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let tp = ts + (<usize>g << 6);
      for (let j = 0; j < ds; j++) {
        const u = v128.load32_splat(xp + (<usize>j << 2));
        const e0 = f32x4.sub(u, v128.load(tp)), e1 = f32x4.sub(u, v128.load(tp, 16));
        const e2 = f32x4.sub(u, v128.load(tp, 32)), e3 = f32x4.sub(u, v128.load(tp, 48));
        a0 = f32x4.add(a0, f32x4.mul(e0, e0)); a1 = f32x4.add(a1, f32x4.mul(e1, e1));
        a2 = f32x4.add(a2, f32x4.mul(e2, e2)); a3 = f32x4.add(a3, f32x4.mul(e3, e3));
        tp += 1024;
      }
      const mn = hminNaN(f32x4.min(f32x4.min(a0, a1), f32x4.min(a2, a3)));
      store<f32>(m1s + (<usize>g << 2), mn);
      if (mn > bs) continue;
      if (mn == mn) {
        const mv = f32x4.splat(mn);
        let ties = i32x4.bitmask(f32x4.eq(a0, mv)) | (i32x4.bitmask(f32x4.eq(a1, mv)) << 4) |
          (i32x4.bitmask(f32x4.eq(a2, mv)) << 8) | (i32x4.bitmask(f32x4.eq(a3, mv)) << 12);
        let q1 = 16 * g + ctz(ties), c1 = load<i32>(perm + (<usize>q1 << 2));
        ties &= ties - 1;
        while (ties != 0) {
          const q = 16 * g + ctz(ties);
          ties &= ties - 1;
          const c = load<i32>(perm + (<usize>q << 2));
          if (c < c1) { c1 = c; q1 = q; }
        }
        if (mn < bs || c1 < bc) {
          bs = mn; bq = q1; bc = c1; bg = g;
          tau = groupThreshold(bs, k1, k2);
          v128.store(win, a0); v128.store(win, a1, 16); v128.store(win, a2, 32); v128.store(win, a3, 48);
        } else if (g == ga && bc == a) {
          bg = g;
          v128.store(win, a0); v128.store(win, a1, 16); v128.store(win, a2, 32); v128.store(win, a3, 48);
        }
        continue;
      }
      v128.store(sums, a0); v128.store(sums, a1, 16); v128.store(sums, a2, 32); v128.store(sums, a3, 48);
    } else {
      const mn = groupSums(xp, cbs, ds, g, sums);
      store<f32>(m1s + (<usize>g << 2), mn);
      if (mn > bs) continue;
    }
    {
      // Scan the lanes: the lowest code of the minimum (NaN sums never count).
      let q1: i32 = -1, c1: i32 = i32.MAX_VALUE, m1: f32 = Infinity;
      for (let l = 0; l < 16; l++) {
        const v = load<f32>(sums + (<usize>l << 2));
        const c = load<i32>(perm + (<usize>(16 * g + l) << 2));
        if (v < m1 || (v == m1 && c < c1)) { m1 = v; q1 = 16 * g + l; c1 = c; }
      }
      if (q1 >= 0 && (m1 < bs || (m1 == bs && c1 < bc))) {
        bs = m1; bq = q1; bc = c1; bg = g;
        memory.copy(win, sums, 64);
        tau = groupThreshold(bs, k1, k2);
      } else if (g == ga && bc == a) {
        bg = g;
        memory.copy(win, sums, 64);
      }
      store<f32>(m1s + (<usize>g << 2), m1);
    }
  }
  let aSearched = false;
  while (searched != 0) {
    const g = ctz(searched);
    searched &= searched - 1;
    const o = <usize>g << 2;
    let v = load<f32>(m1s + o);
    if (g == bg) {
      store<f32>(win + (<usize>(bq - 16 * g) << 2), Infinity);
      if (ASC_FEATURE_SIMD) {
        v = hminNaN(f32x4.min(f32x4.min(v128.load(win), v128.load(win, 16)), f32x4.min(v128.load(win, 32), v128.load(win, 48))));
      } else {
        v = Infinity;
        for (let l = 0; l < 16; l++) v = min(v, load<f32>(win + (<usize>l << 2)));
      }
    }
    store<f32>(gp + o, lowerGroup(v, rg, e, down));
    if (g == ga) aSearched = true;
  }
  if (!aSearched && bc != a) {
    const o = <usize>ga << 2;
    store<f32>(gp + o, min(load<f32>(gp + o), lowerGroup(dv, rg, e, down)));
  }
  store<i32>(outIndex + p, bc);
  store<f32>(outDist + p, bs);
  store<i32>(sAssign + p, bc);
}

/**
 * pqAssign (256 codes) with group bounds (see above) for n rows of d = m·ds: outIndex/outDist[i·m + s] as
 * pqAssign, bit for bit. cb: codebook [m][c][j]; in slot order: cbq [m][q][j], ts [m][j][q] (pqTranspose of
 * cbq), t2 / cn / cnmax (pqPrepare of cbq); perm / inv (i32 [m][256]): slot → code, code → slot. sAssign (i32
 * [n·m]) and gl (u16 [n·m][16], bfloat16) are read and updated; gd: f32 [m][16] group drifts. Work areas: scratch
 * (max(6208, 4·m) + 320 bytes), lists (m·n i32), cnt (m i32), packed ((n + 4)·ds f32), pIdx / pDist / pLb
 * ((n + 4) values each), pGl ((n + 4)·16 f32). margin: 1 (0 = test hook that drops every rounding margin).
 * Returns the number of pairs that kept their code without a search.
 */
export function pqAssignGrouped(x: usize, n: i32, d: i32, m: i32, cb: usize, cbq: usize, ts: usize, t2: usize, cn: usize, cnmax: usize,
  perm: usize, inv: usize, scratch: usize, outIndex: usize, outDist: usize, sAssign: usize, gl: usize, gd: usize,
  lists: usize, cnt: usize, packed: usize, pIdx: usize, pDist: usize, pLb: usize, pGl: usize, margin: f64): i32 {
  const ds = d / m;
  const stride = <usize>d << 2;
  const sb = <usize>ds << 2;
  const tsBytes = <usize>256 * sb;
  const g = <f64>(ds + 4) * P23 * margin, e = <f64>(ds + 4) * P125 * margin, slack = 1 - 1e-12 * margin;
  const g1 = 1 - g;
  const df: f32 = margin > 0 ? DOWNF : 1;
  const k1 = 1 / (slack * g1), k2 = e / g1, rg = 1 / (1 + g), down = 1 - (1 - DOWN) * margin;
  const gs = scratch + ((<usize>max(6208, m << 2) + 15) & ~15), gw = gs + 256;
  for (let s = 0; s < m; s++) store<i32>(cnt + (<usize>s << 2), 0);
  const f1 = <f32>(ds + 4) * <f32>1.9073486328125e-6; // 2^-19
  const f2 = <f32>(ds + 4) * <f32>1.1754943508222875e-38; // 2^-126
  let first = 0;
  if (ASC_FEATURE_SIMD) {
    // A block without any code (the first step): 4-row tiles straight from the rows, 64 rows per sub-space pass.
    let fresh = true;
    for (let p = 0, e2 = n * m; p < e2; p++) if (load<i32>(sAssign + (<usize>p << 2)) >= 0) { fresh = false; break; }
    if (fresh) {
      first = n & ~3;
      const mp = scratch + 6144;
      for (let i0 = 0; i0 < first; i0 += 64) {
        const i1 = min(i0 + 64, first);
        for (let s = 0; s < m; s++) {
          const cbs = cbq + <usize>s * tsBytes, cbo = cb + <usize>s * tsBytes, ps = perm + (<usize>s << 10);
          const t2s = t2 + <usize>s * tsBytes, cns = cn + (<usize>s << 10), cmax = load<f32>(cnmax + (<usize>s << 2));
          for (let i = i0; i < i1; i += 4) {
            const x0 = x + <usize>i * stride + <usize>s * sb, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
            filterTile(x0, x1, x2, x3, t2s, cns, ds, scratch);
            fullGrouped(x0, cbs, cbo, ps, ds, scratch, scratch + 4096, hmin(v128.load(mp, 0)), cmax, f1, f2, pIdx, pDist, pLb, pGl, 0, margin);
            fullGrouped(x1, cbs, cbo, ps, ds, scratch + 1024, scratch + 4608, hmin(v128.load(mp, 16)), cmax, f1, f2, pIdx, pDist, pLb, pGl, 1, margin);
            fullGrouped(x2, cbs, cbo, ps, ds, scratch + 2048, scratch + 5120, hmin(v128.load(mp, 32)), cmax, f1, f2, pIdx, pDist, pLb, pGl, 2, margin);
            fullGrouped(x3, cbs, cbo, ps, ds, scratch + 3072, scratch + 5632, hmin(v128.load(mp, 48)), cmax, f1, f2, pIdx, pDist, pLb, pGl, 3, margin);
            for (let q: usize = 0; q < 4; q++) {
              const p = ((<usize>i + q) * <usize>m + <usize>s) << 2;
              const bi = load<i32>(pIdx + (q << 2));
              store<i32>(outIndex + p, bi);
              store<f32>(outDist + p, load<f32>(pDist + (q << 2)));
              store<i32>(sAssign + p, bi >= 0 && load<f32>(pLb + (q << 2)) >= 0 ? bi : -1);
              encode16(pGl + (q << 6), gl + (p << 3));
            }
          }
        }
      }
    }
  }
  let skipped = 0;
  const dvs = scratch;
  for (let i = first; i < n; i++) {
    const xr = x + <usize>i * stride;
    const ap = sAssign + (<usize>i * <usize>m << 2);
    let anyKept = false;
    for (let s = 0; s < m; s++) if (load<i32>(ap + (<usize>s << 2)) >= 0) { anyKept = true; break; }
    if (!anyKept) {
      // A row without codes (first step, NaN rows): every pair takes the full search.
      for (let s = 0; s < m; s++) pushListed(lists, cnt, n, s, i);
      continue;
    }
    keptSums(xr, i, m, ds, 256, sAssign, cb, dvs);
    for (let s = 0; s < m; s++) {
      const p = (<usize>i * <usize>m + <usize>s) << 2;
      const a = load<i32>(sAssign + p);
      const dv = load<f32>(dvs + (<usize>s << 2));
      if (a >= 0 && dv < Infinity) {
        const gq = gl + (p << 3), dp = gd + (<usize>s << 6);
        let lo: f32;
        if (ASC_FEATURE_SIMD) {
          const down = f32x4.splat(df), zero = f32x4.splat(0);
          const h0 = v128.load(gq), h1 = v128.load(gq, 16);
          const l0 = f32x4.max(f32x4.mul(f32x4.sub(i32x4.shl(i32x4.extend_low_i16x8_u(h0), 16), v128.load(dp)), down), zero);
          const l1 = f32x4.max(f32x4.mul(f32x4.sub(i32x4.shl(i32x4.extend_high_i16x8_u(h0), 16), v128.load(dp, 16)), down), zero);
          const l2 = f32x4.max(f32x4.mul(f32x4.sub(i32x4.shl(i32x4.extend_low_i16x8_u(h1), 16), v128.load(dp, 32)), down), zero);
          const l3 = f32x4.max(f32x4.mul(f32x4.sub(i32x4.shl(i32x4.extend_high_i16x8_u(h1), 16), v128.load(dp, 48)), down), zero);
          v128.store(gw, l0); v128.store(gw, l1, 16); v128.store(gw, l2, 32); v128.store(gw, l3, 48);
          lo = hmin(f32x4.min(f32x4.min(l0, l1), f32x4.min(l2, l3)));
        } else {
          lo = Infinity;
          for (let h: usize = 0; h < 16; h++) {
            const l = max<f32>((reinterpret<f32>(<u32>load<u16>(gq + (h << 1)) << 16) - load<f32>(dp + (h << 2))) * df, 0);
            store<f32>(gw + (h << 2), l);
            lo = min(lo, l);
          }
        }
        const l = <f64>lo;
        if (l > 0 && (l * l * g1 - e) * slack > <f64>dv) {
          store<i32>(outIndex + p, a);
          store<f32>(outDist + p, dv);
          encode16(gw, gq);
          skipped++;
          continue;
        }
        const tau = groupThreshold(dv, k1, k2), need = needMask(gw, tau);
        if (!ASC_FEATURE_SIMD || <i32>popcnt(need) < FULL_GROUPS) {
          groupSearch(xr + <usize>s * sb, ts + <usize>s * tsBytes, cbq + <usize>s * tsBytes, perm + (<usize>s << 10), inv + (<usize>s << 10), ds,
            a, dv, gw, gs, tau, need, k1, k2, rg, e, down, outIndex, outDist, sAssign, p);
          encode16(gw, gq);
          continue;
        }
      }
      pushListed(lists, cnt, n, s, i);
    }
  }
  for (let s = 0; s < m; s++) {
    const ls = lists + (<usize>s * <usize>n << 2);
    const cbs = cbq + <usize>s * tsBytes, cbo = cb + <usize>s * tsBytes;
    const ps = perm + (<usize>s << 10), is = inv + (<usize>s << 10);
    const xs = x + <usize>s * sb;
    const c = load<i32>(cnt + (<usize>s << 2));
    if (c > 0) {
      if (ASC_FEATURE_SIMD) {
        packListed(xs, ls, c, stride, ds, packed);
        const c4 = (c + 3) & ~3;
        if (c4 > c) memory.fill(packed + <usize>c * sb, 0, <usize>(c4 - c) * sb);
        const t2s = t2 + <usize>s * tsBytes, cns = cn + (<usize>s << 10), cmax = load<f32>(cnmax + (<usize>s << 2));
        const mp = scratch + 6144;
        for (let r = 0; r < c4; r += 4) {
          const x0 = packed + <usize>r * sb, x1 = x0 + sb, x2 = x1 + sb, x3 = x2 + sb;
          filterTile(x0, x1, x2, x3, t2s, cns, ds, scratch);
          const ru = <usize>r;
          fullGrouped(x0, cbs, cbo, ps, ds, scratch, scratch + 4096, hmin(v128.load(mp, 0)), cmax, f1, f2, pIdx, pDist, pLb, pGl, ru, margin);
          fullGrouped(x1, cbs, cbo, ps, ds, scratch + 1024, scratch + 4608, hmin(v128.load(mp, 16)), cmax, f1, f2, pIdx, pDist, pLb, pGl, ru + 1, margin);
          fullGrouped(x2, cbs, cbo, ps, ds, scratch + 2048, scratch + 5120, hmin(v128.load(mp, 32)), cmax, f1, f2, pIdx, pDist, pLb, pGl, ru + 2, margin);
          fullGrouped(x3, cbs, cbo, ps, ds, scratch + 3072, scratch + 5632, hmin(v128.load(mp, 48)), cmax, f1, f2, pIdx, pDist, pLb, pGl, ru + 3, margin);
        }
      } else {
        for (let r = 0; r < c; r++) {
          const ru = <usize>r;
          pqExactSecond(xs + <usize>load<i32>(ls + (ru << 2)) * stride, cbo, 256, ds, pIdx, pDist, pLb, ru << 2, margin);
          const l = max<f32>(0, load<f32>(pLb + (ru << 2)));
          for (let h: usize = 0; h < 64; h += 4) store<f32>(pGl + (ru << 6) + h, l);
        }
      }
      for (let r = 0; r < c; r++) {
        const i = load<i32>(ls + (<usize>r << 2));
        const p = (<usize>i * <usize>m + <usize>s) << 2;
        const q = <usize>r << 2;
        const bi = load<i32>(pIdx + q);
        store<i32>(outIndex + p, bi);
        store<f32>(outDist + p, load<f32>(pDist + q));
        const ok = bi >= 0 && load<f32>(pLb + q) >= 0;
        store<i32>(sAssign + p, ok ? bi : -1);
        encode16(pGl + (q << 4), gl + (p << 3));
      }
    }
  }
  return skipped;
}
