import { IvfkitError } from './errors.js';

/**
 * Exact fixed-point accumulation. k-means sums are kept as 64-bit integers, value · 2^shift
 * rounded, so adding partial sums in any order, over any split into shards or threads, gives the
 * same bits. Shifts are computed once per run from global facts (max |x|, total rows).
 */

/** Largest integer s with n · maxAbs · 2^s ≤ 2^62, clamped to [-1000, 1000]. */
export function sumShift(maxAbs: number, n: number): number {
  const m = Math.max(maxAbs, Number.MIN_VALUE) * Math.max(n, 1);
  if (!Number.isFinite(m)) throw new RangeError(`sumShift: non-finite bound ${maxAbs} × ${n}`);
  let s = Math.floor(62 - Math.log2(m));
  while (s > -1000 && m * 2 ** s > 2 ** 62) s--;
  while (s < 1000 && m * 2 ** (s + 1) <= 2 ** 62) s++;
  return Math.max(-1000, Math.min(1000, s));
}

/** Shift for loss sums: bounds a single distance for data with |x| ≤ maxAbs (l2: dim·(2·maxAbs)², 1 % over for the f32
 *  kernels' rounding, scaled with the data so that tiny values keep their resolution; dot: |1 − x·c| ≤ 1 + dim·maxAbs²). */
export function lossShift(metric: 'l2' | 'dot', dim: number, maxAbs: number, n: number): number {
  // (All-zero data: bound dim, for the ±1/1024 centroids a split of an all-zero centroid makes.)
  const bound = metric === 'l2' ? (maxAbs > 0 ? dim * (2 * maxAbs) ** 2 * 1.01 : dim) : dim * maxAbs * maxAbs * 1.01 + 1;
  return sumShift(bound, n);
}

/** v · 2^shift rounded to nearest, ties to even (wasm's f64.nearest), as an integer. */
export function toFixed(v: number, shift: number): bigint {
  return BigInt(roundHalfEven(v * 2 ** shift));
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function fromFixed(v: bigint, shift: number): number {
  return Number(v) * 2 ** -shift;
}

/** max |x| over finite values (non-finite values ignored). */
export function maxAbs(data: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]!);
    if (a > m && a !== Infinity) m = a;
  }
  return m;
}

/** `v` with 3 significant digits, or with all of them when those would read as `limit`'s. */
function shortest(v: number, limit: number): string {
  return v.toPrecision(3) === limit.toPrecision(3) ? String(v) : v.toPrecision(3);
}

/**
 * The kernels compute f32 distances as ‖x‖² + ‖c‖² − 2x·c (dot: from x·c): with values up to `bound` in vectors of `dim`
 * values those terms reach 2·dim·bound², which must stay below f32's largest value, or the vectors whose distances
 * overflow would silently drop out (k-means steps) or tie at +∞ (searches). Throws `IvfkitError('out-of-range')`
 * beyond that; `what` names the vectors.
 */
export function expectF32Range(bound: number, dim: number, what: string): void {
  // (dim + 4)·2^-24: the f32 rounding of the norm sums, so that values at the limit cannot round past f32's largest value.
  const limit = Math.sqrt(3.4028234663852886e38 / (2 * dim * (1 + (dim + 4) * 2 ** -24)));
  if (bound > limit) {
    throw new IvfkitError('out-of-range', `largest |value| of the ${dim}-value ${what}: expected at most ${limit.toPrecision(3)} ` +
      `(beyond it squared norms overflow f32 distances; scale the vectors down), got ${shortest(bound, limit)}`);
  }
}

/** Smallest largest-|value| of data that k-means takes: below it squares (and squared differences) underflow f32. */
export const F32_SMALLEST_BOUND = 2 ** -60;

/**
 * The other end of {@link expectF32Range}: data whose largest |value| is below 2^-60 (≈ 8.67e-19) but not 0 would have
 * squared distances under f32's normal range — they round to 0, and k-means would stop at once with loss 0. Throws
 * `IvfkitError('out-of-range')` for such data; `what` names the vectors.
 */
export function expectF32Resolution(bound: number, what: string): void {
  if (bound > 0 && bound < F32_SMALLEST_BOUND) {
    throw new IvfkitError('out-of-range', `largest |value| of the ${what}: expected 0 or at least ${F32_SMALLEST_BOUND.toPrecision(3)} ` +
      `(below it squared distances underflow f32; scale the vectors up), got ${bound.toPrecision(3)}`);
  }
}
