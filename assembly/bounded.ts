import { assignRows } from './assign';
import { assignQ8WithEstimates, filterScratchBytes, gatherRounded8, roundRow8, tookEight } from './assignq8';
import { biasedReach, biasedUpper, estimate, exactBlock, gatherRounded, quantizeRow, roundRow, tileLoop, upF32 } from './assignq';
import { sqNormRow } from './common';

// Nearest-centroid assignment with exact distance bounds (Yinyang-style groups of packed blocks), l2,
// optionally with a bias ≥ 0 (Lance's balance term) added for the choice. Centroids are packed as
// assign.ts packs them (blocks of 8, [j][8]), in the host's group order; group g holds blocks
// g·gsz .. g·gsz+gsz−1. Per row the host keeps the centroid chosen last time (assign, −1 = none) and,
// per group, lower[i·G+g] = a lower bound on the true Euclidean distance to every real centroid of the
// group other than assign[i], as the centroids were at epoch[i·G+g] (the call that computed it).
// decay[e·G+g] (host) bounds how far any centroid of group g moved since epoch e, so lower − decay bounds
// the distance now. A group is computed for a row unless that bound (and the group's smallest bias)
// proves, with the rounding margin of the f32 kernel arithmetic, that none of its centroids can reach the
// selection value of assign[i]; the bounds of computed groups are renewed at epoch `now`. Computed
// distances are the bits assignRows computes (sequential f32 dot, max(0, (‖x‖² + ‖c‖²) − 2·dot), + bias
// in f32), so the chosen centroid and distance equal brute force.
//
// Steps per block of rows: (1) the distance to the previous centroid and the group tests, giving each
// row that cannot be settled the list of groups it needs; rows that need most groups, and every row of a
// call without bounds, go through assignRows instead (fullRun); (2) per run of RUN remaining rows and per
// group, the rows that need it form 4-row tiles (SIMD: partial sums over column chunks, then lane-wise
// merge into a per-(row, group) state); (3) per row of the run, the choice and the new bounds of the
// computed groups.

const BLOCK: i32 = 8;
const U32: f64 = 5.9604644775390625e-8; // 2^-24
/** Pending rows processed together (their data stays in L2 while the groups are applied; longer lists per group mean fewer padded tile rows). */
const RUN: i32 = 128;
/** Columns per chunk of the dot products (8 centroids × 256 floats = 8 KiB of a block stay in L1). */
const DCHUNK: i32 = 256;

// @ts-ignore: decorator
@inline export function margin(d: i32, xnorm: f64, cmax: f64): f64 {
  const s = xnorm + cmax;
  return 4.0 * <f64>(d + 4) * U32 * s * s * (1 + 1e-6) + <f64>d * 1e-35;
}

/** A lower bound on the true distance from a kernel distance m (squared, f32 arithmetic). */
// @ts-ignore: decorator
@inline export function boundFrom(m: f64, marg: f64): f64 {
  if (m == Infinity) return Infinity;
  if (m != m) return -Infinity;
  const t = m - marg;
  return t > 0 ? Math.sqrt(t) * (1 - 1e-12) : 0;
}

/** Stored form of bound l (rounded down to f32, infinities kept). */
// @ts-ignore: decorator
@inline export function stored(l: f64): f32 {
  if (l == Infinity || l == -Infinity) return <f32>l;
  return <f32>(l * (1 - 2.384185791015625e-7));
}

/**
 * A session's rows, prepared once in one pass (each row read from memory once): ‖x‖² (f32, sqNorms' bits) at xsq and,
 * when qr ≠ 0, the 16-bit rounding (roundRows: i16 rows at qr, f64 × 3 at meta) and, when r8 ≠ 0 (relaxed SIMD
 * builds), the 8-bit one (roundRows8: i8 rows at r8, f64 × 3 at m8, s8 = NaN for a row that cannot be rounded).
 */
export function prepareRows(x: usize, n: i32, d: i32, xsq: usize, qr: usize, meta: usize, r8: usize, m8: usize): void {
  const stride = <usize>d << 2, qstride = <usize>((d + 1) & ~1) << 1, d4 = <usize>((d + 3) & ~3);
  for (let i = 0; i < n; i++) {
    const row = x + <usize>i * stride;
    store<f32>(xsq + (<usize>i << 2), sqNormRow(row, d));
    if (qr != 0) roundRow(row, d, qr + <usize>i * qstride, meta + <usize>i * 24);
    if (ASC_FEATURE_RELAXED_SIMD) {
      if (r8 != 0 && roundRow8(row, d, r8 + <usize>i * d4, m8 + <usize>i * 24) < 0) store<f64>(m8 + <usize>i * 24, NaN);
    }
  }
}

/** Bytes of scratch assignBounded needs for n rows of d values, G groups (of kb blocks, k centroids). */
export function boundedScratchBytes(n: i32, G: i32, kb: i32, k: i32, d: i32): i32 {
  return n * 45 + n * G * 2 + (G + 1) * 4 + RUN * G * 84 + G * 8 + 4 * BLOCK * 4 + RUN * 32 + fullBytes(kb, d) + 192;
}

/** Bytes of the brute-force work area (see fullRun): distances, assignRows scratch, choices, gathered rows,
 *  the filter's scratch and per-row error bounds. */
// @ts-ignore: decorator
@inline function fullBytes(kb: i32, d: i32): i32 {
  return RUN * (kb * BLOCK * 4 + 76) + (RUN + 4) * d * 4 + 64 + filterScratchBytes(RUN, d, kb) + RUN * (8 + ((d + 1) & ~1) * 2 + 32) + 64 +
    RUN * (((d + 3) & ~3) + 24) + 32;
}

/** A pending row that needs at least FULL_NUM / FULL_DEN of the groups takes the brute-force path (with the
 *  16-bit filter when it applies); FULL_TILES_* when its groups would take f32 tiles (qRun = 0), whose cost per
 *  group is higher (A: 1/4 ~4 % faster than 2/5; E, with filtered runs, 4 % slower at 3/10). */
const FULL_NUM: i32 = 2;
const FULL_DEN: i32 = 5;
const FULL_TILES_NUM: i32 = 1;
const FULL_TILES_DEN: i32 = 4;

/**
 * Assigns n rows of x. Packed slot p holds centroid ord[p] (kb·8 values; padding slots hold 0x7fffffff
 * and have cn = +Inf, so they never win); pos[c] is the slot of centroid c. bias (0 = none): per slot, the term
 * added to the distance for the choice (Lance's balance term), as assignRows; the output distance is unbiased. assign (i32 × n),
 * epoch (u8 × n·G) and lower (f32 × n·G) are read and updated; decay (f64 × 256·G) and xnorm (f64 × n, ‖x_i‖
 * in f64) are read; renewed bounds get epoch `now`; cmax ≥ max ‖c‖. outIndex / outDist as assignRows. info receives [rows settled by their bounds, (row, block)
 * distance blocks computed, rows computed in full through the 16-bit filter, of those the rows that needed its exact pass].
 * qc / cnq / qinfo (0 = none): the centroids as packCentroidsQ packs them, for the rows computed in full;
 * with qRun > 0, also every run of pending rows that need at least qRun blocks on average. The rows that need a group are listed per group, so 4-row tiles are made of
 * rows that all need that group. xsq (0 = compute them): f32 × n, each row's ‖x‖² as sqNorms gives it. full ≠ 0: every
 * row is computed in full (as in the first call), whatever its bounds say; all its bounds are renewed. qr / meta
 * (0 = none; with xsq): every row as roundRows rounds it, read in place by the rows that go through the filter
 * in full. cs (0 = none): the centroids unpacked, k × d in slot order (row p holds centroid ord[p]), read for the
 * distances to the previous centroids instead of the packed blocks' strided values. q8 / info8 (0 = none; with qc):
 * packCentroidsQ8's output, for the 8-bit stage of the rows computed in full (assignQ8WithEstimates); info[4]
 * receives the rows that took it. r8 / m8 (0 = none; with qr): every row as roundRows8 rounds it.
 */
export function assignBounded(x: usize, n: i32, d: i32, packed: usize, kb: i32, cn: usize, bias: usize, ord: usize, pos: usize, k: i32,
  gsz: i32, G: i32, assign: usize, lower: usize, epoch: usize, decay: usize, now: i32, xnorm: usize, cmax: f64, scratch: usize, outIndex: usize, outDist: usize,
  info: usize, qc: usize, cnq: usize, qinfo: usize, qRun: i32, xsq: usize, full: i32, qr: usize, meta: usize, cs: usize, q8: usize, info8: usize, r8: usize, m8: usize): void {
  const stride = <usize>d << 2;
  const blockBytes = <usize>d * BLOCK << 2;
  const nG = <usize>n * <usize>G;
  const hasBias = bias != 0;
  const GB: usize = hasBias ? 80 : 48;                     // bytes of a (row, group) state
  const gmin = (scratch + 15) & ~<usize>15;               // per (row of the run, group): lane state (see mergeBlock)
  const minB = gmin + <usize>RUN * <usize>G * GB;          // f64 × G: the smallest bias of each group
  const xn = minB + (<usize>G << 3);                       // f32 × n
  const ubA = xn + (<usize>n << 2);                        // f32 × n: kernel distance to assign[i] (per pending row)
  const usA = ubA + (<usize>n << 2);                       // f32 × n: its selection value (dist + bias)
  const thr = usA + (<usize>n << 2);                       // f64 × n: ub + margin (per pending row)
  const rowOf = thr + (<usize>n << 3);                     // i32 × n: pending row → row
  const nCnt = rowOf + (<usize>n << 2);                    // i32 × n: number of groups a pending row needs
  const oldIn = nCnt + (<usize>n << 2);                    // u8 × n: the previous centroid's group is among them
  const need = (oldIn + <usize>n + 1) & ~<usize>1;         // u16 × n·G: the groups a pending row needs
  const cntG = (need + (nG << 1) + 3) & ~<usize>3;         // i32 × (G + 1): list offsets of a run
  const list = cntG + (<usize>(G + 1) << 2);               // i32 × RUN·G: the run's rows, by group
  const tile = (list + (<usize>RUN * <usize>G << 2) + 15) & ~<usize>15; // f32 × 4 × 8
  const accBuf = tile + 128;                               // f32 × 32 per tile of a list: partial dot products
  const dots = accBuf + (<usize>(RUN / 4) << 7);           // f32 × n: x_i · c_assign[i] (sequential f32)
  const fullIds = dots + (<usize>n << 2);                  // i32 × n: rows that take the brute-force path
  const fw = (fullIds + (<usize>n << 2) + 15) & ~<usize>15; // the brute-force work area (fullBytes)

  let fresh = true;
  if (full == 0) for (let i = 0; i < n; i++) if (load<i32>(assign + (<usize>i << 2)) >= 0) { fresh = false; break; }
  let qRows = 0, qExact = 0, q8Rows = 0;
  if (fresh) {
    for (let q0 = 0; q0 < n; q0 += RUN) {
      const qe = fullRun(x, min(RUN, n - q0), 0, q0, d, packed, kb, cn, bias, ord, k, gsz, G, assign, lower, epoch, now, xnorm, cmax, fw,
        outIndex, outDist, qc, cnq, qinfo, qr, meta, xsq, q8, info8, r8, m8);
      if (qe >= 0) { qRows += min(RUN, n - q0); qExact += qe; if (tookEight()) q8Rows += min(RUN, n - q0); }
    }
    store<i32>(info, 0);
    store<i32>(info, n * kb, 4);
    store<i32>(info, qRows, 8);
    store<i32>(info, qExact, 12);
    store<i32>(info, q8Rows, 16);
    return;
  }

  prevDots(x, n, d, packed, pos, assign, dots, cs, true);

  for (let g = 0; g < G; g++) {
    let m: f64 = 0;
    if (hasBias) {
      m = Infinity;
      for (let p = g * gsz * BLOCK; p < min(k, (g + 1) * gsz * BLOCK); p++) m = min<f64>(m, <f64>load<f32>(bias + (<usize>p << 2)));
    }
    store<f64>(minB + (<usize>g << 3), m);
  }

  let skipped = 0, blocks = 0, np = 0, nf = 0;
  for (let i = 0; i < n; i++) {
    const xr = x + <usize>i * stride;
    const xni = xsq != 0 ? load<f32>(xsq + (<usize>i << 2)) : sqNormRow(xr, d);
    const a = load<i32>(assign + (<usize>i << 2));
    let t: f64 = Infinity;
    let ub: f32 = NaN, us: f32 = NaN;
    let g0 = 0;                                             // groups before g0 passed the test
    const lo = lower + (<usize>i * <usize>G << 2);
    const eq = epoch + <usize>i * <usize>G;
    if (a >= 0) {
      const sa = load<i32>(pos + (<usize>a << 2));
      const dot = load<f32>(dots + (<usize>i << 2));
      ub = max<f32>((xni + load<f32>(cn + (<usize>sa << 2))) - (dot + dot), 0);
      us = hasBias ? ub + load<f32>(bias + (<usize>sa << 2)) : ub;
      if (us < Infinity) {
        // A group is skipped when e² − margin + its smallest bias > the selection value of a (with bias,
        // enlarged so that the f32 rounding of dist + bias cannot tie or reverse the order).
        t = (hasBias ? <f64>us * (1 + 4.76837158203125e-7) + 1e-37 : <f64>us) + margin(d, load<f64>(xnorm + (<usize>i << 3)), cmax);
        for (; g0 < G; g0++) {
          const e = <f64>load<f32>(lo + (<usize>g0 << 2)) - load<f64>(decay + ((<usize>load<u8>(eq + <usize>g0) * <usize>G + <usize>g0) << 3));
          if (!(e > 0 && e * e * (1 - 1e-12) + load<f64>(minB + (<usize>g0 << 3)) > t)) break;
        }
        if (g0 == G) {
          store<i32>(outIndex + (<usize>i << 2), a);
          store<f32>(outDist + (<usize>i << 2), ub);
          skipped++;
          continue;
        }
      }
    }
    const q = <usize>np;
    store<f32>(xn + (q << 2), xni);
    store<f32>(ubA + (q << 2), ub);
    store<f32>(usA + (q << 2), us);
    store<f64>(thr + (q << 3), t);
    store<i32>(rowOf + (q << 2), i);
    const nq = need + (q * <usize>G << 1);
    const go = a >= 0 ? (load<i32>(pos + (<usize>a << 2)) / BLOCK) / gsz : -1;
    let c = 0, inOld: u8 = 0;
    for (let g = g0; g < G; g++) {
      const e = <f64>load<f32>(lo + (<usize>g << 2)) - load<f64>(decay + ((<usize>load<u8>(eq + <usize>g) * <usize>G + <usize>g) << 3));
      store<u16>(nq + (<usize>c << 1), <u16>g);
      const nd = !(e > 0 && e * e * (1 - 1e-12) + load<f64>(minB + (<usize>g << 3)) > t);
      if (g == go) inOld = u8(nd);
      c += i32(nd);
    }
    if (qRun > 0 ? c * FULL_DEN >= G * FULL_NUM : c * FULL_TILES_DEN >= G * FULL_TILES_NUM) {
      store<i32>(fullIds + (<usize>nf << 2), i);
      nf++;
      continue;
    }
    store<i32>(nCnt + (q << 2), c);
    store<u8>(oldIn + q, inOld);
    np++;
  }
  // Rows that need most groups: the brute-force kernel is cheaper than the group tiles.
  for (let q0 = 0; q0 < nf; q0 += RUN) {
    const qe = fullRun(x, min(RUN, nf - q0), fullIds + (<usize>q0 << 2), 0, d, packed, kb, cn, bias, ord, k, gsz, G, assign, lower, epoch, now,
      xnorm, cmax, fw, outIndex, outDist, qc, cnq, qinfo, qr, meta, xsq, q8, info8, r8, m8);
    if (qe >= 0) { qRows += min(RUN, nf - q0); qExact += qe; if (tookEight()) q8Rows += min(RUN, nf - q0); }
  }
  blocks += nf * kb;
  // Pending rows in runs of RUN (their data stays in cache); per run and group, the rows that need the
  // group form 4-row tiles.
  const gs = <usize>G * GB;
  for (let q0 = 0; q0 < np; q0 += RUN) {
    const q1 = min(np, q0 + RUN);
    for (let g = 0; g <= G; g++) store<i32>(cntG + (<usize>g << 2), 0);
    for (let q = q0; q < q1; q++) {
      const nq = need + (<usize>q * <usize>G << 1), c = load<i32>(nCnt + (<usize>q << 2));
      for (let r = 0; r < c; r++) {
        const p = cntG + (<usize>(load<u16>(nq + (<usize>r << 1)) + 1) << 2);
        store<i32>(p, load<i32>(p) + 1);
      }
    }
    for (let g = 0; g < G; g++) store<i32>(cntG + (<usize>(g + 1) << 2), load<i32>(cntG + (<usize>(g + 1) << 2)) + load<i32>(cntG + (<usize>g << 2)));
    for (let q = q0; q < q1; q++) {
      const nq = need + (<usize>q * <usize>G << 1), c = load<i32>(nCnt + (<usize>q << 2));
      for (let r = 0; r < c; r++) {
        const p = cntG + (<usize>load<u16>(nq + (<usize>r << 1)) << 2);
        const o = load<i32>(p);
        store<i32>(list + (<usize>o << 2), q);
        store<i32>(p, o + 1);
      }
    }
    // cntG[g] is now the end of group g's rows (the start of g + 1's).
    if (ASC_FEATURE_SIMD && qc != 0 && qRun > 0 && load<i32>(cntG + (<usize>G << 2)) * gsz >= qRun * (q1 - q0) &&
      quantizeRun(x, stride, rowOf, xn, q0, q1, d, qinfo, fw, kb)) {
      blocks += estimateRun(d, q0, G, gsz, kb, cntG, list, xn, qc, cnq, fw);
      chooseRun(x, stride, d, q0, q1, G, gsz, kb, k, rowOf, xn, ubA, usA, bias, nCnt, need, oldIn, packed, cn, ord, pos, assign, lower, epoch, decay, now,
        xnorm, cmax, fw, outIndex, outDist);
      continue;
    }
    let start = 0;
    for (let g = 0; g < G; g++) {
      const end = load<i32>(cntG + (<usize>g << 2));
      const len = end - start;
      const lst = list + (<usize>start << 2);
      start = end;
      if (len == 0) continue;
      const g5 = <usize>g * GB;
      for (let b = g * gsz; b < min(kb, (g + 1) * gsz); b++) {
        const first = b == g * gsz;
        const cb = packed + <usize>b * blockBytes;
        const ob = ord + (<usize>(b * BLOCK) << 2);
        const cnb = cn + (<usize>(b * BLOCK) << 2);
        const bb = hasBias ? bias + (<usize>(b * BLOCK) << 2) : 0;
        if (ASC_FEATURE_SIMD) {
          // Dot products over column chunks (a chunk of the block stays in L1 for every tile of the list),
          // partial sums kept per tile in accBuf; each sum is still sequential over j.
          for (let j0 = 0; j0 < d; j0 += DCHUNK) {
            const j1 = min(d, j0 + DCHUNK);
            for (let r = 0; r < len; r += 4) {
              tileAcc(rowPtr(x, rowOf, lst, r, len, stride), rowPtr(x, rowOf, lst, r + 1, len, stride),
                rowPtr(x, rowOf, lst, r + 2, len, stride), rowPtr(x, rowOf, lst, r + 3, len, stride),
                j0, j1, cb, accBuf + (<usize>(r >> 2) << 7));
            }
          }
        }
        for (let r = 0; r < len; r += 4) {
          const qa = load<i32>(lst + (<usize>r << 2));
          const qb = load<i32>(lst + (<usize>min(r + 1, len - 1) << 2));
          const qc = load<i32>(lst + (<usize>min(r + 2, len - 1) << 2));
          const qd = load<i32>(lst + (<usize>min(r + 3, len - 1) << 2));
          blocks += min(4, len - r);
          const na = load<f32>(xn + (<usize>qa << 2)), nb = load<f32>(xn + (<usize>qb << 2));
          const nc = load<f32>(xn + (<usize>qc << 2)), nd = load<f32>(xn + (<usize>qd << 2));
          const ga = gmin + <usize>(qa - q0) * gs + g5, gb = gmin + <usize>(qb - q0) * gs + g5;
          const gc = gmin + <usize>(qc - q0) * gs + g5, gd = gmin + <usize>(qd - q0) * gs + g5;
          if (ASC_FEATURE_SIMD) {
            tileFinish(accBuf + (<usize>(r >> 2) << 7), na, nb, nc, nd, cnb, bb, ob, ga, gb, gc, gd, first);
          } else {
            const xa = x + <usize>load<i32>(rowOf + (<usize>qa << 2)) * stride, xb = x + <usize>load<i32>(rowOf + (<usize>qb << 2)) * stride;
            const xc = x + <usize>load<i32>(rowOf + (<usize>qc << 2)) * stride, xd = x + <usize>load<i32>(rowOf + (<usize>qd << 2)) * stride;
            tileDistances(xa, xb, xc, xd, d, cb, na, nb, nc, nd, cnb, tile);
            mergeScalar(tile, bb, ob, ga, first);
            if (qb != qa) mergeScalar(tile + 32, bb, ob, gb, first);
            if (qc != qb) mergeScalar(tile + 64, bb, ob, gc, first);
            if (qd != qc) mergeScalar(tile + 96, bb, ob, gd, first);
          }
        }
      }
    }
    for (let q = q0; q < q1; q++) {
      const i = load<i32>(rowOf + (<usize>q << 2));
      const a = load<i32>(assign + (<usize>i << 2));
      const ub = load<f32>(ubA + (<usize>q << 2)), us = load<f32>(usA + (<usize>q << 2));
      const nq = need + (<usize>q * <usize>G << 1), nc = load<i32>(nCnt + (<usize>q << 2));
      const so: usize = hasBias ? 48 : 0;                  // selection value, then its distance at so + 16
      const gq = gmin + <usize>(q - q0) * gs;
      let bs: f32 = Infinity, bi: i32 = NONE, bd: f32 = NaN;
      if (ASC_FEATURE_SIMD) {
        let bv = f32x4.splat(Infinity), iv = i32x4.splat(NONE), dv = f32x4.splat(NaN);
        for (let r = 0; r < nc; r++) {
          const gp = gq + <usize>load<u16>(nq + (<usize>r << 1)) * GB;
          const v = v128.load(gp + so), c = v128.load(gp, 32);
          const t = v128.or(f32x4.lt(v, bv), v128.and(f32x4.eq(v, bv), i32x4.lt_s(c, iv)));
          bv = v128.bitselect(v, bv, t);
          iv = v128.bitselect(c, iv, t);
          if (hasBias) dv = v128.bitselect(v128.load(gp, 64), dv, t);
        }
        if (!hasBias) dv = bv;
        for (let l: u8 = 0; l < 4; l++) {
          const v = f32x4.extract_lane(bv, 0), c = i32x4.extract_lane(iv, 0);
          if (v < bs || (v == bs && c < bi)) { bs = v; bi = c; bd = f32x4.extract_lane(dv, 0); }
          bv = v128.shuffle<f32>(bv, bv, 1, 2, 3, 0);
          iv = v128.shuffle<i32>(iv, iv, 1, 2, 3, 0);
          dv = v128.shuffle<f32>(dv, dv, 1, 2, 3, 0);
        }
      } else {
        for (let r = 0; r < nc; r++) {
          const gp = gq + <usize>load<u16>(nq + (<usize>r << 1)) * GB;
          for (let l = 0; l < 4; l++) {
            const v = load<f32>(gp + so + (<usize>l << 2)), c = load<i32>(gp + (<usize>l << 2), 32);
            if (v < bs || (v == bs && c < bi)) { bs = v; bi = c; bd = load<f32>(gp + (hasBias ? 64 : 0) + (<usize>l << 2)); }
          }
        }
      }
      if (a >= 0 && (us < bs || (us == bs && a < bi))) { bs = us; bi = a; bd = ub; }
      if (bi == NONE) bi = -1;
      const xnr = load<f64>(xnorm + (<usize>i << 3));
      if (!publish(i, bi, bd, bs < Infinity && xnr < Infinity && load<f32>(xn + (<usize>q << 2)) < Infinity, outIndex, outDist, assign)) continue;
      const marg = margin(d, xnr, cmax);
      const lo = lower + (<usize>i * <usize>G << 2);
      const eq = epoch + <usize>i * <usize>G;
      const gNew = (load<i32>(pos + (<usize>bi << 2)) / BLOCK) / gsz;
      const gOld = a >= 0 ? (load<i32>(pos + (<usize>a << 2)) / BLOCK) / gsz : -1;
      for (let r = 0; r < nc; r++) {
        const g = <i32>load<u16>(nq + (<usize>r << 1));
        const mm = groupMin(gq + <usize>g * GB, g == gNew, bd);
        store<f32>(lo + (<usize>g << 2), stored(boundFrom(<f64>mm, marg)));
        store<u8>(eq + <usize>g, <u8>now);
      }
      if (gOld >= 0 && bi != a && !load<u8>(oldIn + <usize>q)) oldGroupBound(lo, eq, gOld, ub, marg, decay, G, now);
    }
  }
  store<i32>(info, skipped);
  store<i32>(info, blocks, 4);
  store<i32>(info, qRows, 8);
  store<i32>(info, qExact, 12);
  store<i32>(info, q8Rows, 16);
}

const NONE: i32 = 0x7fffffff;

/** A pending row's choice: outputs, and assign (−1 when it or its distances are not finite, ok false). Returns whether it keeps bounds. */
// @ts-ignore: decorator
@inline function publish(i: i32, bi: i32, bd: f32, ok: bool, outIndex: usize, outDist: usize, assign: usize): bool {
  store<i32>(outIndex + (<usize>i << 2), bi);
  store<f32>(outDist + (<usize>i << 2), bi < 0 ? NaN : bd);
  const keep = bi >= 0 && bd < Infinity && ok;
  store<i32>(assign + (<usize>i << 2), keep ? bi : -1);
  return keep;
}

/** The row left its previous centroid's group without computing it: that group's bound becomes the smaller
 *  of its decayed bound and the bound from ub (the distance to the centroid it left), at epoch `now`. */
// @ts-ignore: decorator
@inline function oldGroupBound(lo: usize, eq: usize, gOld: i32, ub: f32, marg: f64, decay: usize, G: i32, now: i32): void {
  const s = stored(boundFrom(<f64>ub, marg));
  const eo = eq + <usize>gOld;
  const cur = stored(<f64>load<f32>(lo + (<usize>gOld << 2)) - load<f64>(decay + ((<usize>load<u8>(eo) * <usize>G + <usize>gOld) << 3)));
  store<f32>(lo + (<usize>gOld << 2), s < cur ? s : cur);
  store<u8>(eo, <u8>now);
}

/**
 * Brute force for m ≤ RUN rows, row r being ids[r] (ids = 0: i0 + r): the rows are gathered (padded to 4)
 * and go through assignRows (the plain kernel) with every distance kept; per row the choice is moved to
 * the lowest centroid index among equal selection values (slots are in group order, brute force breaks
 * ties by index), and every group's bound is made from its smallest distance other than the chosen
 * centroid, at epoch `now`. Used when no row has bounds yet and for rows that need most groups.
 */
function fullRun(x: usize, m: i32, ids: usize, i0: i32, d: i32, packed: usize, kb: i32, cn: usize, bias: usize, ord: usize, k: i32,
  gsz: i32, G: i32, assign: usize, lower: usize, epoch: usize, now: i32, xnorm: usize, cmax: f64, fw: usize,
  outIndex: usize, outDist: usize, qc: usize, cnq: usize, qinfo: usize, qr: usize, meta: usize, xsq: usize, q8: usize, info8: usize, r8: usize, m8: usize): i32 {
  const stride = <usize>d << 2;
  const rowAll = <usize>kb * BLOCK << 2;
  const all = fw;                                           // f32 × RUN × kb·8: the run's distances
  const rs = all + <usize>RUN * rowAll;                     // assignRows scratch (RUN·68 + 16 bytes)
  const ib = rs + <usize>RUN * 68 + 16;                     // i32 × RUN
  const db = ib + (<usize>RUN << 2);                        // f32 × RUN
  const fx = (db + (<usize>RUN << 2) + 15) & ~<usize>15;    // f32 × (RUN + 4) × d: gathered rows
  const hasBias = bias != 0;
  const m4 = (m + 3) & ~3;
  // The session's rows rounded once (qr, meta, xsq) are read in place; otherwise (and for assignRows) gathered.
  const pre = qr != 0 && xsq != 0 && qc != 0;
  let xs = x + <usize>i0 * stride;
  if (!pre && (ids != 0 || m4 > m)) xs = gatherRows(x, stride, m, ids, i0, fx);
  if (qc != 0) {
    const qs = (fx + <usize>(RUN + 4) * stride + 15) & ~<usize>15;
    const eb = (qs + <usize>filterScratchBytes(RUN, d, kb) + 15) & ~<usize>15;
    const qstride = <usize>((d + 1) & ~1) << 1;
    let rq = eb + (<usize>RUN << 3), rm = (rq + <usize>RUN * qstride + 7) & ~<usize>7;
    let rn = rm + <usize>RUN * 24, rp = rn + (<usize>RUN << 2);
    const d4 = <usize>((d + 3) & ~3);
    let rq8 = (rp + (<usize>RUN << 2) + 15) & ~<usize>15, rm8 = (rq8 + <usize>RUN * d4 + 7) & ~<usize>7;
    if (pre && ids == 0 && m4 == m) {
      // Consecutive rows, a multiple of 4: read where they are.
      rq = qr + <usize>i0 * qstride; rm = meta + <usize>i0 * 24; rn = xsq + (<usize>i0 << 2); rp = 0;
      rq8 = r8 + <usize>i0 * d4; rm8 = m8 + <usize>i0 * 24;
    } else if (pre) {
      gatherRounded(x, d, m, ids, i0, qr, meta, xsq, rq, rm, rn, rp, fx);
      if (r8 != 0 && q8 != 0) gatherRounded8(d, m, ids, i0, r8, m8, rq8, rm8);
    }
    const pre8 = pre && r8 != 0 && q8 != 0;
    const np = assignQ8WithEstimates(xs, m4, d, packed, kb, cn, k, qc, cnq, qinfo, q8, info8, qs, ib, db, ord, all, eb,
      pre ? rq : 0, pre ? rm : 0, pre ? rn : 0, pre ? rp : 0, 0, 0, bias, pre8 ? rq8 : 0, pre8 ? rm8 : 0);
    if (np >= 0) {
      fullFromEstimates(m, ids, i0, kb, ord, gsz, G, assign, lower, epoch, now, xnorm, cmax, d, all, ib, db, eb, outIndex, outDist);
      return min(np, m);
    }
    if (pre && (ids != 0 || m4 > m)) xs = gatherRows(x, stride, m, ids, i0, fx);
  }
  assignRows(xs, m4, d, packed, kb, cn, bias, 0, rs, ib, db, k, 0, all);
  for (let r = 0; r < m; r++) {
    const i = ids != 0 ? load<i32>(ids + (<usize>r << 2)) : i0 + r;
    const ws0 = load<i32>(ib + (<usize>r << 2));
    if (ws0 < 0) {
      store<i32>(outIndex + (<usize>i << 2), -1);
      store<f32>(outDist + (<usize>i << 2), NaN);
      store<i32>(assign + (<usize>i << 2), -1);
      continue;
    }
    const ar = all + <usize>r * rowAll;
    let ws = ws0, bd = load<f32>(db + (<usize>r << 2));
    const bs: f32 = hasBias ? bd + load<f32>(bias + (<usize>ws << 2)) : bd;
    let bi = load<i32>(ord + (<usize>ws << 2));
    const lo = lower + (<usize>i * <usize>G << 2);
    for (let g = 0; g < G; g++) {
      let mn: f32 = Infinity;
      for (let b = g * gsz; b < min(kb, (g + 1) * gsz); b++) {
        const o = <usize>b * BLOCK << 2;
        if (ASC_FEATURE_SIMD) {
          const v0 = v128.load(ar + o), v1 = v128.load(ar + o, 16);
          let s0 = v0, s1 = v1;
          if (hasBias) { s0 = f32x4.add(v0, v128.load(bias + o)); s1 = f32x4.add(v1, v128.load(bias + o, 16)); }
          const h = f32x4.min(v0, v1);
          const q = f32x4.min(h, v128.shuffle<f32>(h, h, 2, 3, 0, 1));
          const w = f32x4.extract_lane(f32x4.min(q, v128.shuffle<f32>(q, q, 1, 0, 3, 2)), 0);
          mn = w != w || mn != mn ? NaN : min<f32>(mn, w);
          const bsv = f32x4.splat(bs);
          if (!v128.any_true(v128.or(f32x4.eq(s0, bsv), f32x4.eq(s1, bsv)))) continue;
        }
        for (let l = 0; l < BLOCK; l++) {
          const sl = b * BLOCK + l;
          const v = load<f32>(ar + (<usize>sl << 2));
          if (!ASC_FEATURE_SIMD) mn = v != v || mn != mn ? NaN : min<f32>(mn, v);
          const sv: f32 = hasBias ? v + load<f32>(bias + (<usize>sl << 2)) : v;
          if (sv == bs) {
            const c = load<i32>(ord + (<usize>sl << 2));
            if (c < bi) { bi = c; ws = sl; bd = v; }
          }
        }
      }
      store<f32>(lo + (<usize>g << 2), mn);
    }
    store<i32>(outIndex + (<usize>i << 2), bi);
    store<f32>(outDist + (<usize>i << 2), bd);
    const xnr = load<f64>(xnorm + (<usize>i << 3));
    if (!(bd < Infinity) || !(bs < Infinity) || !(xnr < Infinity) || !(load<f32>(rs + (<usize>r << 2)) < Infinity)) {
      store<i32>(assign + (<usize>i << 2), -1);
      continue;
    }
    store<i32>(assign + (<usize>i << 2), bi);
    const gNew = (ws / BLOCK) / gsz;
    let mw: f32 = Infinity;
    for (let sl = gNew * gsz * BLOCK; sl < min(kb, (gNew + 1) * gsz) * BLOCK; sl++) {
      if (sl == ws) continue;
      const v = load<f32>(ar + (<usize>sl << 2));
      mw = v != v || mw != mw ? NaN : min<f32>(mw, v);
    }
    store<f32>(lo + (<usize>gNew << 2), mw);
    const marg = margin(d, xnr, cmax);
    const eq = epoch + <usize>i * <usize>G;
    for (let g = 0; g < G; g++) {
      store<f32>(lo + (<usize>g << 2), stored(boundFrom(<f64>load<f32>(lo + (<usize>g << 2)), marg)));
      store<u8>(eq + <usize>g, <u8>now);
    }
  }
  return -1;
}

/**
 * fullRun's end after the 16-bit filter: slot ib[r] won with distance db[r] (ties already to the
 * lowest centroid id); every group's bound comes from its smallest estimate other than the winner's slot
 * minus the row's E (eb[r]): the f32 distance is at least that, and margin() covers the rest.
 */
function fullFromEstimates(m: i32, ids: usize, i0: i32, kb: i32, ord: usize, gsz: i32, G: i32, assign: usize, lower: usize,
  epoch: usize, now: i32, xnorm: usize, cmax: f64, d: i32, est: usize, ib: usize, db: usize, eb: usize, outIndex: usize, outDist: usize): void {
  const rowAll = <usize>kb * BLOCK << 2;
  for (let r = 0; r < m; r++) {
    const i = ids != 0 ? load<i32>(ids + (<usize>r << 2)) : i0 + r;
    const ws = load<i32>(ib + (<usize>r << 2));
    const bd = load<f32>(db + (<usize>r << 2));
    const bi = load<i32>(ord + (<usize>ws << 2));
    store<i32>(outIndex + (<usize>i << 2), bi);
    store<f32>(outDist + (<usize>i << 2), bd);
    const xnr = load<f64>(xnorm + (<usize>i << 3));
    if (!(bd < Infinity) || !(xnr < Infinity)) {
      store<i32>(assign + (<usize>i << 2), -1);
      continue;
    }
    store<i32>(assign + (<usize>i << 2), bi);
    const ar = est + <usize>r * rowAll;
    const e = load<f64>(eb + (<usize>r << 3));
    const marg = margin(d, xnr, cmax);
    const lo = lower + (<usize>i * <usize>G << 2);
    const eq = epoch + <usize>i * <usize>G;
    const gNew = (ws / BLOCK) / gsz;
    let g0 = 0;
    if (ASC_FEATURE_SIMD) {
      // Four whole groups at a time: lane minima over each group's blocks, then bound = √max(0, min − E − margin)
      // rounded down.
      const c = f64x2.splat(e + marg), z = f64x2.splat(0), f = f64x2.splat((1 - 1e-12) * (1 - 2.384185791015625e-7));
      const gb = <usize>gsz << 5;
      for (; (g0 + 4) * gsz <= kb; g0 += 4) {
        const p = ar + <usize>g0 * gb;
        const m0 = groupLanes(p, gsz), m1 = groupLanes(p + gb, gsz), m2 = groupLanes(p + 2 * gb, gsz), m3 = groupLanes(p + 3 * gb, gsz);
        const a = f32x4.pmin(v128.shuffle<f32>(m0, m1, 0, 1, 4, 5), v128.shuffle<f32>(m0, m1, 2, 3, 6, 7));
        const b = f32x4.pmin(v128.shuffle<f32>(m2, m3, 0, 1, 4, 5), v128.shuffle<f32>(m2, m3, 2, 3, 6, 7));
        const r4 = f32x4.pmin(v128.shuffle<f32>(a, b, 0, 2, 4, 6), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
        const l0 = f64x2.mul(f64x2.sqrt(f64x2.max(f64x2.sub(f64x2.promote_low_f32x4(r4), c), z)), f);
        const l1 = f64x2.mul(f64x2.sqrt(f64x2.max(f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(r4, r4, 2, 3, 0, 1)), c), z)), f);
        v128.store(lo + (<usize>g0 << 2), v128.shuffle<f32>(f32x4.demote_f64x2_zero(l0), f32x4.demote_f64x2_zero(l1), 0, 1, 4, 5));
      }
    }
    for (let g = g0; g < G; g++) {
      let mn: f32 = Infinity;
      const s0 = g * gsz * BLOCK, s1 = min(kb, (g + 1) * gsz) * BLOCK;
      for (let sl = s0; sl < s1; sl++) mn = min<f32>(mn, load<f32>(ar + (<usize>sl << 2)));
      store<f32>(lo + (<usize>g << 2), stored(boundFrom(<f64>mn - e, marg)));
    }
    let mw: f32 = Infinity;
    for (let sl = gNew * gsz * BLOCK; sl < min(kb, (gNew + 1) * gsz) * BLOCK; sl++) if (sl != ws) mw = min<f32>(mw, load<f32>(ar + (<usize>sl << 2)));
    store<f32>(lo + (<usize>gNew << 2), stored(boundFrom(<f64>mw - e, marg)));
    memory.fill(eq, <u8>now, <usize>G);
  }
}

/** Lane-wise minima of the gsz blocks (8 slots each) at p. */
// @ts-ignore: decorator
@inline function groupLanes(p: usize, gsz: i32): v128 {
  let m = f32x4.pmin(v128.load(p), v128.load(p, 16));
  for (let b = 1; b < gsz; b++) m = f32x4.pmin(m, f32x4.pmin(v128.load(p + (<usize>b << 5)), v128.load(p + (<usize>b << 5), 16)));
  return m;
}

// A run of pending rows through the 16-bit filter (SIMD), in the brute-force work area fw: the
// run's estimates where fullRun keeps its distances, then the rows rounded to i16 (qstride bytes each),
// 2·s·sc (f32) and E (f64) per row.

// @ts-ignore: decorator
@inline function runQx(fw: usize, kb: i32): usize {
  return (fw + <usize>RUN * (<usize>kb << 5) + 15) & ~<usize>15;
}

/** Rounds the run's rows; false (nothing to undo) when one of them cannot take the filter. */
function quantizeRun(x: usize, stride: usize, rowOf: usize, xn: usize, q0: i32, q1: i32, d: i32, qinfo: usize, fw: usize, kb: i32): bool {
  const qstride = <usize>((d + 1) & ~1) << 1;
  const qx = runQx(fw, kb), two = qx + <usize>RUN * qstride, err = (two + (<usize>RUN << 2) + 7) & ~<usize>7;
  for (let q = q0; q < q1; q++) {
    const r = <usize>(q - q0);
    const row = x + <usize>load<i32>(rowOf + (<usize>q << 2)) * stride;
    const e = quantizeRow(row, d, load<f32>(xn + (<usize>q << 2)), qinfo, qx + r * qstride, two + (r << 2));
    if (e < 0) return false;
    store<f64>(err + (r << 3), e);
  }
  return true;
}

/** Estimates of every (row, block) the run's group lists ask for, 4 listed rows per i16 tile; returns their number. */
function estimateRun(d: i32, q0: i32, G: i32, gsz: i32, kb: i32, cntG: usize, list: usize, xn: usize, qc: usize, cnq: usize, fw: usize): i32 {
  const qstride = <usize>((d + 1) & ~1) << 1, qBlock = qstride << 3, rowAll = <usize>kb << 5;
  const qx = runQx(fw, kb), two = qx + <usize>RUN * qstride;
  const acc = memory.data(128, 16);
  let start = 0, count = 0;
  for (let g = 0; g < G; g++) {
    const end = load<i32>(cntG + (<usize>g << 2));
    const len = end - start;
    const lst = list + (<usize>start << 2);
    start = end;
    for (let b = g * gsz; len > 0 && b < min(kb, (g + 1) * gsz); b++) {
      count += len;
      const cb = qc + <usize>b * qBlock;
      const cn0 = v128.load(cnq + (<usize>b << 5)), cn1 = v128.load(cnq + (<usize>b << 5), 16);
      for (let r = 0; r < len; r += 4) {
        const ra = load<i32>(lst + (<usize>r << 2)) - q0, rb = load<i32>(lst + (<usize>min(r + 1, len - 1) << 2)) - q0;
        const rc = load<i32>(lst + (<usize>min(r + 2, len - 1) << 2)) - q0, rd = load<i32>(lst + (<usize>min(r + 3, len - 1) << 2)) - q0;
        tileLoop(qx + <usize>ra * qstride, qx + <usize>rb * qstride, qx + <usize>rc * qstride, qx + <usize>rd * qstride, qstride, cb, acc);
        for (let t = 0; t < 4 && r + t < len; t++) {
          const rr = t == 0 ? ra : t == 1 ? rb : t == 2 ? rc : rd;
          const q = <usize>(rr + q0);
          const nx = load<f32>(xn + (q << 2)), tw = load<f32>(two + (<usize>rr << 2));
          const ep = fw + <usize>rr * rowAll + (<usize>b << 5);
          v128.store(ep, estimate(v128.load(acc + (<usize>t << 5)), nx, tw, cn0));
          v128.store(ep, estimate(v128.load(acc + (<usize>t << 5), 16), nx, tw, cn1), 16);
        }
      }
    }
  }
  return count;
}

/**
 * Per row of the run: the exact winner among the previous centroid and every centroid of its open groups
 * whose estimate could reach it (estimate ≤ min(max(b1 + 2E, E), ub + E), b1 the best estimate; with a bias,
 * biased estimates within assignq's biased window of the smaller of the best one's upper bound and the previous
 * centroid's selection value), ties to the lowest centroid id; then the open groups' bounds from their
 * (unbiased) estimates (other than the winner's slot) − E, and the previous group's as in assignBounded.
 */
function chooseRun(x: usize, stride: usize, d: i32, q0: i32, q1: i32, G: i32, gsz: i32, kb: i32, k: i32, rowOf: usize, xn: usize,
  ubA: usize, usA: usize, bias: usize, nCnt: usize, need: usize, oldIn: usize, packed: usize, cn: usize, ord: usize, pos: usize, assign: usize, lower: usize,
  epoch: usize, decay: usize, now: i32, xnorm: usize, cmax: f64, fw: usize, outIndex: usize, outDist: usize): void {
  const qstride = <usize>((d + 1) & ~1) << 1, rowAll = <usize>kb << 5;
  const two = runQx(fw, kb) + <usize>RUN * qstride, err = (two + (<usize>RUN << 2) + 7) & ~<usize>7;
  const exact = memory.data(32, 16);
  for (let q = q0; q < q1; q++) {
    const r = <usize>(q - q0);
    const i = load<i32>(rowOf + (<usize>q << 2));
    const a = load<i32>(assign + (<usize>i << 2));
    const ub = load<f32>(ubA + (<usize>q << 2)), us = load<f32>(usA + (<usize>q << 2));
    const nx = load<f32>(xn + (<usize>q << 2));
    const e = load<f64>(err + (r << 3));
    const nq = need + (<usize>q * <usize>G << 1), nc = load<i32>(nCnt + (<usize>q << 2));
    const er = fw + r * rowAll;
    let tf: f64;
    if (bias == 0) {
      let bv = f32x4.splat(Infinity);
      for (let t = 0; t < nc; t++) {
        const g = <i32>load<u16>(nq + (<usize>t << 1));
        for (let sl = g * gsz * BLOCK; sl < min(kb, (g + 1) * gsz) * BLOCK; sl += 4) bv = f32x4.pmin(bv, v128.load(er + (<usize>sl << 2)));
      }
      const b1 = <f64>min<f32>(min<f32>(f32x4.extract_lane(bv, 0), f32x4.extract_lane(bv, 1)), min<f32>(f32x4.extract_lane(bv, 2), f32x4.extract_lane(bv, 3)));
      tf = max<f64>(b1 + 2 * e, e);
      if (a >= 0 && ub < Infinity) tf = min<f64>(tf, <f64>ub + e);
    } else {
      // The best biased estimate per lane, with its slot's bias.
      let bv = f32x4.splat(Infinity), bb = f32x4.splat(0);
      for (let t = 0; t < nc; t++) {
        const g = <i32>load<u16>(nq + (<usize>t << 1));
        for (let sl = g * gsz * BLOCK; sl < min(kb, (g + 1) * gsz) * BLOCK; sl += 4) {
          const bs4 = v128.load(bias + (<usize>sl << 2));
          const v = f32x4.add(v128.load(er + (<usize>sl << 2)), bs4);
          const lt = f32x4.lt(v, bv);
          bv = v128.bitselect(v, bv, lt);
          bb = v128.bitselect(bs4, bb, lt);
        }
      }
      let u: f64 = Infinity;
      for (let l = 0; l < 4; l++) {
        u = min<f64>(u, biasedUpper(<f64>f32x4.extract_lane(bv, 0), <f64>f32x4.extract_lane(bb, 0), e));
        bv = v128.shuffle<f32>(bv, bv, 1, 2, 3, 0);
        bb = v128.shuffle<f32>(bb, bb, 1, 2, 3, 0);
      }
      if (a >= 0 && us < Infinity) u = min<f64>(u, <f64>us);
      tf = biasedReach(u, e);
    }
    const tv = f32x4.splat(upF32(tf));
    const row = x + <usize>i * stride;
    let bd: f32 = Infinity, bs: f32 = Infinity, bi: i32 = NONE;
    for (let t = 0; t < nc; t++) {
      const g = <i32>load<u16>(nq + (<usize>t << 1));
      for (let b = g * gsz; b < min(kb, (g + 1) * gsz); b++) {
        let e0 = v128.load(er + (<usize>b << 5)), e1 = v128.load(er + (<usize>b << 5), 16);
        if (bias != 0) { e0 = f32x4.add(e0, v128.load(bias + (<usize>b << 5))); e1 = f32x4.add(e1, v128.load(bias + (<usize>b << 5), 16)); }
        const m0 = f32x4.le(e0, tv), m1 = f32x4.le(e1, tv);
        if (!v128.any_true(v128.or(m0, m1))) continue;
        const bits = i32x4.bitmask(m0) | (i32x4.bitmask(m1) << 4);
        exactBlock(row, d, packed, b, nx, cn, exact);
        for (let l = 0; l < BLOCK; l++) {
          const sl = b * BLOCK + l;
          if (!(bits & (1 << l)) || sl >= k) continue;
          const v = load<f32>(exact + (<usize>l << 2)), c = load<i32>(ord + (<usize>sl << 2));
          const s = bias != 0 ? v + load<f32>(bias + (<usize>sl << 2)) : v;
          if (s < bs || (s == bs && c < bi)) { bs = s; bd = v; bi = c; }
        }
      }
    }
    if (a >= 0 && (us < bs || (us == bs && a < bi))) { bs = us; bd = ub; bi = a; }
    if (bi == NONE) bi = -1;
    const xnr = load<f64>(xnorm + (<usize>i << 3));
    if (!publish(i, bi, bd, xnr < Infinity && nx < Infinity, outIndex, outDist, assign)) continue;
    const marg = margin(d, xnr, cmax);
    const lo = lower + (<usize>i * <usize>G << 2);
    const eq = epoch + <usize>i * <usize>G;
    const ws = load<i32>(pos + (<usize>bi << 2));
    for (let t = 0; t < nc; t++) {
      const g = <i32>load<u16>(nq + (<usize>t << 1));
      let mn: f32 = Infinity;
      for (let sl = g * gsz * BLOCK; sl < min(kb, (g + 1) * gsz) * BLOCK; sl++) if (sl != ws) mn = min<f32>(mn, load<f32>(er + (<usize>sl << 2)));
      store<f32>(lo + (<usize>g << 2), stored(boundFrom(<f64>mn - e, marg)));
      store<u8>(eq + <usize>g, <u8>now);
    }
    const gOld = a >= 0 ? (load<i32>(pos + (<usize>a << 2)) / BLOCK) / gsz : -1;
    if (gOld >= 0 && bi != a && !load<u8>(oldIn + <usize>q)) oldGroupBound(lo, eq, gOld, ub, marg, decay, G, now);
  }
}

/** Address of row i's previous centroid in the packed layout (slot 0 when it has none). */
/** dots[i] = x_i · c_assign[i] (sequential f32, the bits of assignRows' dot), four rows at a time as independent chains
 *  (SIMD: a lane per row; four products of each row at once, transposed so that each lane adds its own in order);
 *  a row with assign[i] < 0 gets the dot with centroid 0 (unused). The centroids are read from raw (k × d, contiguous;
 *  centroid c at row c, or at row pos[c] when bySlot) when raw ≠ 0, else from the packed blocks (slot pos[c], a value
 *  every 32 bytes). */
export function prevDots(x: usize, n: i32, d: i32, packed: usize, pos: usize, assign: usize, dots: usize, raw: usize, bySlot: bool): void {
  const stride = <usize>d << 2;
  const blockBytes = <usize>d * BLOCK << 2;
  const step: usize = raw != 0 ? 4 : BLOCK << 2;
  let i4 = 0;
  for (; i4 + 4 <= n; i4 += 4) {
    const x0 = x + <usize>i4 * stride, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
    let c0 = centroidPtr(packed, pos, assign, i4, blockBytes, raw, stride, bySlot), c1 = centroidPtr(packed, pos, assign, i4 + 1, blockBytes, raw, stride, bySlot);
    let c2 = centroidPtr(packed, pos, assign, i4 + 2, blockBytes, raw, stride, bySlot), c3 = centroidPtr(packed, pos, assign, i4 + 3, blockBytes, raw, stride, bySlot);
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      let s = f32x4.splat(0);
      for (; j + 4 <= d; j += 4) {
        const o = <usize>j << 2;
        const p0 = f32x4.mul(v128.load(x0 + o), fourOf(c0, step)), p1 = f32x4.mul(v128.load(x1 + o), fourOf(c1, step));
        const p2 = f32x4.mul(v128.load(x2 + o), fourOf(c2, step)), p3 = f32x4.mul(v128.load(x3 + o), fourOf(c3, step));
        const lo01 = v128.shuffle<f32>(p0, p1, 0, 4, 1, 5), lo23 = v128.shuffle<f32>(p2, p3, 0, 4, 1, 5);
        const hi01 = v128.shuffle<f32>(p0, p1, 2, 6, 3, 7), hi23 = v128.shuffle<f32>(p2, p3, 2, 6, 3, 7);
        s = f32x4.add(s, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5));
        s = f32x4.add(s, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7));
        s = f32x4.add(s, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5));
        s = f32x4.add(s, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7));
        c0 += step << 2; c1 += step << 2; c2 += step << 2; c3 += step << 2;
      }
      s0 = f32x4.extract_lane(s, 0); s1 = f32x4.extract_lane(s, 1); s2 = f32x4.extract_lane(s, 2); s3 = f32x4.extract_lane(s, 3);
    }
    for (; j < d; j++) {
      const o = <usize>j << 2;
      s0 += load<f32>(x0 + o) * load<f32>(c0); s1 += load<f32>(x1 + o) * load<f32>(c1);
      s2 += load<f32>(x2 + o) * load<f32>(c2); s3 += load<f32>(x3 + o) * load<f32>(c3);
      c0 += step; c1 += step; c2 += step; c3 += step;
    }
    store<f32>(dots + (<usize>i4 << 2), s0); store<f32>(dots + (<usize>i4 << 2), s1, 4);
    store<f32>(dots + (<usize>i4 << 2), s2, 8); store<f32>(dots + (<usize>i4 << 2), s3, 12);
  }
  for (; i4 < n; i4++) {
    const xr = x + <usize>i4 * stride;
    let cp = centroidPtr(packed, pos, assign, i4, blockBytes, raw, stride, bySlot);
    let s0: f32 = 0;
    for (let j = 0; j < d; j++) { s0 += load<f32>(xr + (<usize>j << 2)) * load<f32>(cp); cp += step; }
    store<f32>(dots + (<usize>i4 << 2), s0);
  }
}

/** Four consecutive values of a centroid: contiguous (step 4) or a value every `step` bytes (packed blocks). */
// @ts-ignore: decorator
@inline function fourOf(c: usize, step: usize): v128 {
  if (step == 4) return v128.load(c);
  let v = f32x4.splat(load<f32>(c));
  v = f32x4.replace_lane(v, 1, load<f32>(c + step));
  v = f32x4.replace_lane(v, 2, load<f32>(c + (step << 1)));
  return f32x4.replace_lane(v, 3, load<f32>(c + step * 3));
}

// @ts-ignore: decorator
@inline function centroidPtr(packed: usize, pos: usize, assign: usize, i: i32, blockBytes: usize, raw: usize, stride: usize, bySlot: bool): usize {
  if (raw != 0) {
    const c = max(load<i32>(assign + (<usize>i << 2)), 0);
    return raw + <usize>(bySlot ? load<i32>(pos + (<usize>c << 2)) : c) * stride;
  }
  return slotPtr(packed, pos, assign, i, blockBytes);
}

/** Copies m rows (ids[r], or i0 + r) to fx, zero rows up to m rounded up to 4; returns fx. */
export function gatherRows(x: usize, stride: usize, m: i32, ids: usize, i0: i32, fx: usize): usize {
  for (let r = 0; r < m; r++) {
    const i = ids != 0 ? load<i32>(ids + (<usize>r << 2)) : i0 + r;
    memory.copy(fx + <usize>r * stride, x + <usize>i * stride, stride);
  }
  const m4 = (m + 3) & ~3;
  if (m4 > m) memory.fill(fx + <usize>m * stride, 0, <usize>(m4 - m) * stride);
  return fx;
}

// @ts-ignore: decorator
@inline function slotPtr(packed: usize, pos: usize, assign: usize, i: i32, blockBytes: usize): usize {
  const a = load<i32>(assign + (<usize>i << 2));
  const sa = a >= 0 ? load<i32>(pos + (<usize>a << 2)) : 0;
  return packed + <usize>(sa / BLOCK) * blockBytes + (<usize>(sa % BLOCK) << 2);
}

/** From a group's lane state: the smallest distance over its centroids other than the winner (when the
 *  group holds it, `win` is its distance): the second smallest if the winner is a smallest, else the
 *  smallest. NaN when a NaN was seen. */
// @ts-ignore: decorator
@inline function groupMin(gp: usize, hasWinner: bool, win: f32): f32 {
  if (ASC_FEATURE_SIMD) {
    const lo = v128.load(gp), hi = v128.load(gp, 16);
    const p = v128.shuffle<f32>(lo, lo, 1, 0, 3, 2);
    const mn = f32x4.min(lo, p), mx = f32x4.max(lo, p);
    const q = v128.shuffle<f32>(mn, mn, 2, 3, 0, 1), r = v128.shuffle<f32>(mx, mx, 2, 3, 0, 1);
    const h1 = f32x4.min(hi, v128.shuffle<f32>(hi, hi, 2, 3, 0, 1));
    const h = f32x4.min(h1, v128.shuffle<f32>(h1, h1, 1, 0, 3, 2));
    const m1 = f32x4.extract_lane(f32x4.min(f32x4.min(mn, q), h), 0);
    if (hasWinner && win <= m1) return f32x4.extract_lane(f32x4.min(f32x4.min(f32x4.max(mn, q), f32x4.min(mx, r)), h), 0);
    return m1;
  }
  let m1: f32 = Infinity, s1: f32 = Infinity, m2: f32 = Infinity, nan = false;
  for (let l = 0; l < 4; l++) {
    const v = load<f32>(gp + (<usize>l << 2)), h = load<f32>(gp + (<usize>l << 2), 16);
    if (v != v || h != h) nan = true;
    if (v < m1) { s1 = m1; m1 = v; } else if (v < s1) { s1 = v; }
    if (h < m2) m2 = h;
  }
  return nan ? NaN : hasWinner && win <= m1 ? min<f32>(s1, m2) : m1;
}

/**
 * Per (row, group) the kernel keeps, by lane l (slots l and l + 4 of each block): lo = the lane's selected
 * distance (strictly smaller wins, equal → lower centroid index, NaN never), idx = its centroid, and hi = the
 * lane's second smallest distance, NaN once the lane saw a NaN. One block's values (v0: slots 0–3, v1:
 * slots 4–7) are stored (`first`), or merged into what earlier blocks of the group left.
 */
// @ts-ignore: decorator
@inline function mergeBlock(v0: v128, v1: v128, i0: v128, i1: v128, gp: usize, first: bool): void {
  const t = v128.or(v128.or(f32x4.lt(v1, v0), v128.and(f32x4.eq(v1, v0), i32x4.lt_s(i1, i0))),
    v128.andnot(f32x4.eq(v1, v1), f32x4.eq(v0, v0)));
  let lo = v128.bitselect(v1, v0, t), idx = v128.bitselect(i1, i0, t);
  let hi = f32x4.max(v0, v1);
  if (!first) {
    const plo = v128.load(gp), phi = v128.load(gp, 16), pidx = v128.load(gp, 32);
    const u = v128.or(v128.or(f32x4.lt(plo, lo), v128.and(f32x4.eq(plo, lo), i32x4.lt_s(pidx, idx))),
      v128.andnot(f32x4.eq(plo, plo), f32x4.eq(lo, lo)));
    hi = f32x4.min(f32x4.max(lo, plo), f32x4.min(hi, phi));
    lo = v128.bitselect(plo, lo, u);
    idx = v128.bitselect(pidx, idx, u);
  }
  v128.store(gp, lo); v128.store(gp, hi, 16); v128.store(gp, idx, 32);
}

/**
 * With a bias, the (row, group) state is 80 bytes by lane: dlo = the smallest distance and dhi = the second
 * smallest (both NaN once a NaN was seen), idx, sel = the selected dist + bias (rule of mergeBlock), dsel =
 * the distance of the selected centroid.
 */
// @ts-ignore: decorator
@inline function mergeBias(v0: v128, v1: v128, b0: v128, b1: v128, i0: v128, i1: v128, gp: usize, first: bool): void {
  const s0 = f32x4.add(v0, b0), s1 = f32x4.add(v1, b1);
  const t = v128.or(v128.or(f32x4.lt(s1, s0), v128.and(f32x4.eq(s1, s0), i32x4.lt_s(i1, i0))),
    v128.andnot(f32x4.eq(s1, s1), f32x4.eq(s0, s0)));
  let sel = v128.bitselect(s1, s0, t), idx = v128.bitselect(i1, i0, t), ds = v128.bitselect(v1, v0, t);
  let lo = f32x4.min(v0, v1), hi = f32x4.max(v0, v1);
  if (!first) {
    const psel = v128.load(gp, 48), pidx = v128.load(gp, 32);
    const u = v128.or(v128.or(f32x4.lt(psel, sel), v128.and(f32x4.eq(psel, sel), i32x4.lt_s(pidx, idx))),
      v128.andnot(f32x4.eq(psel, psel), f32x4.eq(sel, sel)));
    sel = v128.bitselect(psel, sel, u);
    idx = v128.bitselect(pidx, idx, u);
    ds = v128.bitselect(v128.load(gp, 64), ds, u);
    const plo = v128.load(gp), phi = v128.load(gp, 16);
    hi = f32x4.min(f32x4.max(lo, plo), f32x4.min(hi, phi));
    lo = f32x4.min(lo, plo);
  }
  v128.store(gp, lo); v128.store(gp, hi, 16); v128.store(gp, idx, 32); v128.store(gp, sel, 48); v128.store(gp, ds, 64);
}

// @ts-ignore: decorator
@inline function nanMin(a: f32, b: f32): f32 { return a != a || b != b ? NaN : min<f32>(a, b); }
// @ts-ignore: decorator
@inline function nanMax(a: f32, b: f32): f32 { return a != a || b != b ? NaN : max<f32>(a, b); }

/** Scalar twin of {@link mergeBlock} / {@link mergeBias} over one row of the tile (tr: 8 distances, bb: their
 *  biases or 0, ob: their centroids). */
// @ts-ignore: decorator
@inline function mergeScalar(tr: usize, bb: usize, ob: usize, gp: usize, first: bool): void {
  if (bb) {
    for (let l = 0; l < 4; l++) {
      const o = <usize>l << 2;
      const v0 = load<f32>(tr + o), v1 = load<f32>(tr + o, 16);
      const s0: f32 = v0 + load<f32>(bb + o), s1: f32 = v1 + load<f32>(bb + o, 16);
      const i0 = load<i32>(ob + o), i1 = load<i32>(ob + o, 16);
      const t = s1 < s0 || (s1 == s0 && i1 < i0) || (s0 != s0 && s1 == s1);
      let sel = t ? s1 : s0, idx = t ? i1 : i0, ds = t ? v1 : v0;
      let lo = nanMin(v0, v1), hi = nanMax(v0, v1);
      if (!first) {
        const psel = load<f32>(gp + o, 48), pidx = load<i32>(gp + o, 32);
        const u = psel < sel || (psel == sel && pidx < idx) || (sel != sel && psel == psel);
        if (u) { sel = psel; idx = pidx; ds = load<f32>(gp + o, 64); }
        const plo = load<f32>(gp + o), phi = load<f32>(gp + o, 16);
        hi = nanMin(nanMax(lo, plo), nanMin(hi, phi));
        lo = nanMin(lo, plo);
      }
      store<f32>(gp + o, lo); store<f32>(gp + o, hi, 16); store<i32>(gp + o, idx, 32); store<f32>(gp + o, sel, 48); store<f32>(gp + o, ds, 64);
    }
    return;
  }
  for (let l = 0; l < 4; l++) {
    const o = <usize>l << 2;
    const v0 = load<f32>(tr + o), v1 = load<f32>(tr + o, 16);
    const i0 = load<i32>(ob + o), i1 = load<i32>(ob + o, 16);
    const t = v1 < v0 || (v1 == v0 && i1 < i0) || (v0 != v0 && v1 == v1);
    let lo = t ? v1 : v0, idx = t ? i1 : i0;
    let hi: f32 = v0 != v0 || v1 != v1 ? NaN : max<f32>(v0, v1);
    if (!first) {
      const plo = load<f32>(gp + o), phi = load<f32>(gp + o, 16), pidx = load<i32>(gp + o, 32);
      const u = plo < lo || (plo == lo && pidx < idx) || (lo != lo && plo == plo);
      const mx: f32 = lo != lo || plo != plo ? NaN : max<f32>(lo, plo);
      hi = mx != mx || phi != phi || hi != hi ? NaN : min<f32>(mx, min<f32>(hi, phi));
      if (u) { lo = plo; idx = pidx; }
    }
    store<f32>(gp + o, lo); store<f32>(gp + o, hi, 16); store<i32>(gp + o, idx, 32);
  }
}

/** Pointer to row r of a list (the last one again past its end). */
// @ts-ignore: decorator
@inline function rowPtr(x: usize, rowOf: usize, lst: usize, r: i32, len: i32, stride: usize): usize {
  return x + <usize>load<i32>(rowOf + (<usize>load<i32>(lst + (<usize>min(r, len - 1) << 2)) << 2)) * stride;
}

/** SIMD tile, columns j0 ≤ j < j1: adds x_r[j]·c[j] for 4 rows × one block's 8 centroids to the partial sums
 *  at acc (8 vectors, rows × halves; zero when j0 = 0), in j order. */
function tileAcc(x0: usize, x1: usize, x2: usize, x3: usize, j0: i32, j1: i32, cb: usize, acc: usize): void {
  const z = f32x4.splat(0);
  let a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
  if (j0 > 0) {
    a00 = v128.load(acc); a01 = v128.load(acc, 16); a10 = v128.load(acc, 32); a11 = v128.load(acc, 48);
    a20 = v128.load(acc, 64); a21 = v128.load(acc, 80); a30 = v128.load(acc, 96); a31 = v128.load(acc, 112);
  }
  let cp = cb + (<usize>j0 << 5);
  for (let j = j0; j < j1; j++) {
    const o = <usize>j << 2;
    const c0 = v128.load(cp), c1 = v128.load(cp, 16);
    const v0 = v128.load32_splat(x0 + o);
    a00 = f32x4.add(a00, f32x4.mul(v0, c0)); a01 = f32x4.add(a01, f32x4.mul(v0, c1));
    const v1 = v128.load32_splat(x1 + o);
    a10 = f32x4.add(a10, f32x4.mul(v1, c0)); a11 = f32x4.add(a11, f32x4.mul(v1, c1));
    const v2 = v128.load32_splat(x2 + o);
    a20 = f32x4.add(a20, f32x4.mul(v2, c0)); a21 = f32x4.add(a21, f32x4.mul(v2, c1));
    const v3 = v128.load32_splat(x3 + o);
    a30 = f32x4.add(a30, f32x4.mul(v3, c0)); a31 = f32x4.add(a31, f32x4.mul(v3, c1));
    cp += 32;
  }
  v128.store(acc, a00); v128.store(acc, a01, 16); v128.store(acc, a10, 32); v128.store(acc, a11, 48);
  v128.store(acc, a20, 64); v128.store(acc, a21, 80); v128.store(acc, a30, 96); v128.store(acc, a31, 112);
}

/** SIMD tile finish: distances from the sums at acc, merged into each row's group state (gp0..gp3; a row
 *  repeated to pad the tile is merged once). */
function tileFinish(acc: usize, n0: f32, n1: f32, n2: f32, n3: f32, cn: usize, bb: usize, ob: usize,
  gp0: usize, gp1: usize, gp2: usize, gp3: usize, first: bool): void {
  const cn0 = v128.load(cn), cn1 = v128.load(cn, 16);
  const i0 = v128.load(ob), i1 = v128.load(ob, 16);
  const d00 = dist4(v128.load(acc), n0, cn0), d01 = dist4(v128.load(acc, 16), n0, cn1);
  const d10 = dist4(v128.load(acc, 32), n1, cn0), d11 = dist4(v128.load(acc, 48), n1, cn1);
  const d20 = dist4(v128.load(acc, 64), n2, cn0), d21 = dist4(v128.load(acc, 80), n2, cn1);
  const d30 = dist4(v128.load(acc, 96), n3, cn0), d31 = dist4(v128.load(acc, 112), n3, cn1);
  if (bb) {
    const b0 = v128.load(bb), b1 = v128.load(bb, 16);
    mergeBias(d00, d01, b0, b1, i0, i1, gp0, first);
    if (gp1 != gp0) mergeBias(d10, d11, b0, b1, i0, i1, gp1, first);
    if (gp2 != gp1) mergeBias(d20, d21, b0, b1, i0, i1, gp2, first);
    if (gp3 != gp2) mergeBias(d30, d31, b0, b1, i0, i1, gp3, first);
    return;
  }
  mergeBlock(d00, d01, i0, i1, gp0, first);
  if (gp1 != gp0) mergeBlock(d10, d11, i0, i1, gp1, first);
  if (gp2 != gp1) mergeBlock(d20, d21, i0, i1, gp2, first);
  if (gp3 != gp2) mergeBlock(d30, d31, i0, i1, gp3, first);
}

/** Scalar build: distances of 4 rows to the 8 centroids of one packed block into out[4][8] (the assignRows bits). */
// @ts-ignore: decorator
@inline function tileDistances(x0: usize, x1: usize, x2: usize, x3: usize, d: i32, cb: usize,
  n0: f32, n1: f32, n2: f32, n3: f32, cn: usize, out: usize): void {
  rowScalar(x0, d, cb, n0, cn, out);
  rowScalar(x1, d, cb, n1, cn, out + 32);
  rowScalar(x2, d, cb, n2, cn, out + 64);
  rowScalar(x3, d, cb, n3, cn, out + 96);
}

// @ts-ignore: decorator
@inline function dist4(acc: v128, xn: f32, cnv: v128): v128 {
  return f32x4.pmax(f32x4.sub(f32x4.add(f32x4.splat(xn), cnv), f32x4.add(acc, acc)), f32x4.splat(0));
}

// @ts-ignore: decorator
@inline function rowScalar(xr: usize, d: i32, cb: usize, xn: f32, cn: usize, out: usize): void {
  let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0, a4: f32 = 0, a5: f32 = 0, a6: f32 = 0, a7: f32 = 0;
  let cp = cb;
  for (let j = 0; j < d; j++) {
    const v = load<f32>(xr + (<usize>j << 2));
    a0 += v * load<f32>(cp); a1 += v * load<f32>(cp, 4); a2 += v * load<f32>(cp, 8); a3 += v * load<f32>(cp, 12);
    a4 += v * load<f32>(cp, 16); a5 += v * load<f32>(cp, 20); a6 += v * load<f32>(cp, 24); a7 += v * load<f32>(cp, 28);
    cp += 32;
  }
  store<f32>(out, max<f32>((xn + load<f32>(cn)) - (a0 + a0), 0));
  store<f32>(out, max<f32>((xn + load<f32>(cn, 4)) - (a1 + a1), 0), 4);
  store<f32>(out, max<f32>((xn + load<f32>(cn, 8)) - (a2 + a2), 0), 8);
  store<f32>(out, max<f32>((xn + load<f32>(cn, 12)) - (a3 + a3), 0), 12);
  store<f32>(out, max<f32>((xn + load<f32>(cn, 16)) - (a4 + a4), 0), 16);
  store<f32>(out, max<f32>((xn + load<f32>(cn, 20)) - (a5 + a5), 0), 20);
  store<f32>(out, max<f32>((xn + load<f32>(cn, 24)) - (a6 + a6), 0), 24);
  store<f32>(out, max<f32>((xn + load<f32>(cn, 28)) - (a7 + a7), 0), 28);
}
