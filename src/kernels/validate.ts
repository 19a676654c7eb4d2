import { expect, expectArray, expectPositiveInt, IvfkitError, rowsOf } from '../util/errors.js';
import { PQ_GROUP_SIZE, PQ_GROUPS, PQ_TOP, type Accumulators, type AssignBounds, type AssignOptions, type PqBounds } from './types.js';

/** Argument checks shared by the reference and the wasm kernels (one message for one mistake). */

export function outF32(out: Float32Array | undefined, len: number, name: string): Float32Array {
  if (out === undefined) return new Float32Array(len);
  expect(out instanceof Float32Array && out.length >= len, 'invalid-argument', `${name} (Float32Array)`, `length ≥ ${len}`, out);
  return out;
}

export function outI32(out: Int32Array | undefined, len: number, name: string): Int32Array {
  if (out === undefined) return new Int32Array(len);
  expect(out instanceof Int32Array && out.length >= len, 'invalid-argument', `${name} (Int32Array)`, `length ≥ ${len}`, out);
  return out;
}

export function outU8(out: Uint8Array | undefined, len: number, name: string): Uint8Array {
  if (out === undefined) return new Uint8Array(len);
  expect(out instanceof Uint8Array && out.length >= len, 'invalid-argument', `${name} (Uint8Array)`, `length ≥ ${len}`, out);
  return out;
}

export function f32(a: unknown, name: string): asserts a is Float32Array {
  expect(a instanceof Float32Array, 'invalid-argument', name, 'a Float32Array', a);
}

/** base is rows of dim, q one or more queries of dim values. Returns the row counts of both. */
export function checkQuery(q: Float32Array, base: Float32Array, dim: number): { n: number; nq: number } {
  f32(q, 'q'); f32(base, 'base');
  const n = rowsOf(base, dim, 'base');
  expect(q.length >= dim && q.length % dim === 0, 'dimension-mismatch', 'q length', `dim ${dim} or a multiple of it`, q.length);
  return { n, nq: q.length / dim };
}

export function checkAssign(data: Float32Array, dim: number, centroids: Float32Array, opts: AssignOptions):
  { n: number; k: number; metric: 'l2' | 'dot' } {
  f32(data, 'data'); f32(centroids, 'centroids');
  const n = rowsOf(data, dim);
  const k = rowsOf(centroids, dim, 'centroids');
  expect(k > 0, 'invalid-argument', 'number of centroids', 'at least 1', k);
  const metric = opts.metric ?? 'l2';
  expect(metric === 'l2' || metric === 'dot', 'invalid-argument', 'metric', "'l2' or 'dot'", metric);
  if (opts.bias !== undefined) {
    f32(opts.bias, 'bias');
    expect(opts.bias.length === k, 'dimension-mismatch', 'bias length', k, opts.bias.length);
  }
  return { n, k, metric };
}

export function checkAccumulate(data: Float32Array, dim: number, index: Int32Array, dist: Float32Array, acc: Accumulators):
  { n: number; k: number } {
  f32(data, 'data'); f32(dist, 'dist');
  const n = rowsOf(data, dim);
  expect(index instanceof Int32Array && index.length >= n, 'invalid-argument', 'index (Int32Array)', `length ≥ ${n}`, index);
  expect(dist.length >= n, 'invalid-argument', 'dist length', `≥ ${n}`, dist.length);
  expect(typeof acc === 'object' && acc !== null && acc.counts instanceof Float64Array, 'invalid-argument', 'acc.counts', 'a Float64Array', acc?.counts);
  const k = acc.counts.length;
  checkAccumulators(acc, k, dim);
  return { n, k };
}

/** acc holds k clusters of dim (sums k·dim, counts/clusterLoss/radius k) and valid shifts. */
export function checkAccumulators(acc: Accumulators, k: number, dim: number): void {
  expect(typeof acc === 'object' && acc !== null, 'invalid-argument', 'acc', 'Accumulators', acc);
  expectArray(acc.counts, Float64Array, k, 'acc.counts');
  expectArray(acc.sums, BigInt64Array, k * dim, 'acc.sums');
  expectArray(acc.clusterLoss, BigInt64Array, k, 'acc.clusterLoss');
  expectArray(acc.radius, Float32Array, k, 'acc.radius');
  expect(Number.isInteger(acc.shift) && Math.abs(acc.shift) <= 1000, 'invalid-argument', 'acc.shift', 'an integer in [-1000, 1000]', acc.shift);
  expect(Number.isInteger(acc.lossShift) && Math.abs(acc.lossShift) <= 1000, 'invalid-argument', 'acc.lossShift', 'an integer in [-1000, 1000]', acc.lossShift);
}

export function checkPq(data: Float32Array, dim: number, codebook: Float32Array, m: number, ksub: number): { n: number; ds: number } {
  f32(data, 'data'); f32(codebook, 'codebook');
  const n = rowsOf(data, dim);
  expectPositiveInt(m, 'm');
  expect(dim % m === 0, 'dimension-mismatch', `dim ${dim} divided by m`, 'a whole number', dim / m);
  expect(ksub === 16 || ksub === 256, 'invalid-argument', 'ksub', '16 or 256', ksub);
  expect(codebook.length === dim * ksub, 'dimension-mismatch', 'codebook length', `m·ksub·ds = ${dim * ksub}`, codebook.length);
  return { n, ds: dim / m };
}

/** Shape checks of an {@link AssignBounds} for n rows and k centroids. Returns the number of groups. */
export function checkBounds(b: AssignBounds, n: number, k: number): number {
  expect(typeof b === 'object' && b !== null, 'invalid-argument', 'bounds', 'an AssignBounds object', b);
  expect(Number.isInteger(b.groupSize) && b.groupSize > 0 && b.groupSize % 8 === 0, 'invalid-argument', 'bounds.groupSize',
    'a positive multiple of 8', b.groupSize);
  const G = Math.ceil(k / b.groupSize);
  expect(b.assign instanceof Int32Array && b.assign.length === n, 'dimension-mismatch', 'bounds.assign length', n, b.assign?.length);
  expect(b.lower instanceof Float32Array && b.lower.length === n * G, 'dimension-mismatch', 'bounds.lower length', `n·G = ${n * G}`, b.lower?.length);
  checkBoundsPlan(b, k);
  expect(b.epoch instanceof Uint8Array && b.epoch.length === n * G, 'dimension-mismatch', 'bounds.epoch length', `n·G = ${n * G}`, b.epoch?.length);
  expect(b.xnorm instanceof Float64Array && b.xnorm.length === n, 'dimension-mismatch', 'bounds.xnorm length', n, b.xnorm?.length);
  for (let i = 0; i < n; i++) {
    const a = b.assign[i]!;
    if (a < -1 || a >= k) throw new IvfkitError('invalid-argument', `bounds.assign[${i}]: expected −1 .. ${k - 1}, got ${a}`);
  }
  return G;
}

/** `order` is a permutation of 0 .. k − 1 (`what` names it in errors). */
export function checkOrder(order: Int32Array, k: number, what: string): void {
  expect(order instanceof Int32Array && order.length === k, 'dimension-mismatch', `${what} length`, k, order?.length);
  const seen = new Uint8Array(k);
  for (let p = 0; p < k; p++) {
    const c = order[p]!;
    if (!(c >= 0 && c < k) || seen[c]) throw new IvfkitError('invalid-argument', `${what}: expected a permutation of 0 .. ${k - 1}, got ${c} at ${p}`);
    seen[c] = 1;
  }
}

/** Arguments of centroidOrder; returns k. */
export function checkCentroidOrder(centroids: Float32Array, dim: number, groupSize: number): number {
  f32(centroids, 'centroids');
  const k = rowsOf(centroids, dim, 'centroids');
  expect(k > 0, 'invalid-argument', 'number of centroids', 'at least 1', k);
  expect(Number.isSafeInteger(groupSize) && groupSize > 0, 'invalid-argument', 'groupSize', 'a positive integer', groupSize);
  return k;
}

/** Arguments of groupDrift; returns k and the number of groups G. */
export function checkDrift(centroids: Float32Array, previous: readonly Float32Array[], dim: number, groupSize: number,
  order: Int32Array | undefined): { k: number; G: number } {
  f32(centroids, 'centroids');
  const k = rowsOf(centroids, dim, 'centroids');
  expect(k > 0, 'invalid-argument', 'number of centroids', 'at least 1', k);
  expect(Number.isSafeInteger(groupSize) && groupSize > 0, 'invalid-argument', 'groupSize', 'a positive integer', groupSize);
  expect(Array.isArray(previous), 'invalid-argument', 'previous', 'an array of Float32Array', previous);
  previous.forEach((p, e) => expect(p instanceof Float32Array && p.length === centroids.length, 'dimension-mismatch',
    `previous[${e}] length (Float32Array)`, centroids.length, p?.length));
  if (order !== undefined) checkOrder(order, k, 'order');
  return { k, G: Math.ceil(k / groupSize) };
}

/** The per-call fields of bounds (groupSize, order, decay, now, cmax) for k centroids; returns G. */
export function checkBoundsPlan(b: Pick<AssignBounds, 'groupSize' | 'order' | 'decay' | 'now' | 'cmax'>, k: number): number {
  expect(typeof b === 'object' && b !== null, 'invalid-argument', 'bounds', 'an AssignBounds object', b);
  expect(Number.isInteger(b.groupSize) && b.groupSize > 0 && b.groupSize % 8 === 0, 'invalid-argument', 'bounds.groupSize',
    'a positive multiple of 8', b.groupSize);
  const G = Math.ceil(k / b.groupSize);
  expect(b.decay instanceof Float64Array && b.decay.length === 256 * G, 'dimension-mismatch', 'bounds.decay length', `256·G = ${256 * G}`,
    b.decay?.length);
  expect(Number.isInteger(b.now) && b.now >= 0 && b.now < 256, 'invalid-argument', 'bounds.now', 'an integer in 0 .. 255', b.now);
  expect(typeof b.cmax === 'number' && b.cmax >= 0, 'invalid-argument', 'bounds.cmax', 'a number ≥ 0', b.cmax);
  if (b.order !== undefined) checkOrder(b.order, k, 'bounds.order');
  return G;
}

/** bounds holds n·m codes (−1 ≤ code < ksub) and bounds and m·3 drifts. */
export function checkPqBounds(bounds: PqBounds, n: number, m: number, ksub: number): void {
  expect(typeof bounds === 'object' && bounds !== null, 'invalid-argument', 'bounds', 'a PqBounds object', bounds);
  expect(bounds.assign instanceof Int32Array && bounds.assign.length === n * m, 'dimension-mismatch', 'bounds.assign length (Int32Array)',
    `n·m = ${n * m}`, bounds.assign?.length);
  expect(bounds.lower instanceof Float32Array && bounds.lower.length === n * m, 'dimension-mismatch', 'bounds.lower length (Float32Array)',
    `n·m = ${n * m}`, bounds.lower?.length);
  expect(bounds.drift instanceof Float64Array && bounds.drift.length === 3 * m, 'dimension-mismatch', 'bounds.drift length (Float64Array)',
    `3·m = ${3 * m}`, bounds.drift?.length);
  for (let s = 0; s < m; s++) {
    const c = bounds.drift[3 * s + 2]!;
    expect(Number.isInteger(c) && c >= -1 && c < ksub, 'invalid-argument', `bounds.drift[${3 * s + 2}] (code of the largest drift)`,
      `an integer in [-1, ${ksub})`, c);
  }
  const a = bounds.assign;
  let bad = -1;
  for (let p = 0; p < a.length; p++) if ((a[p]! + 1) >>> 0 > ksub) { bad = p; break; }
  if (bad >= 0) expect(false, 'invalid-argument', `bounds.assign[${bad}]`, `an integer in [-1, ${ksub})`, a[bad]);
  const gr = bounds.groups;
  if (gr !== undefined) {
    expect(ksub === PQ_GROUP_SIZE * PQ_GROUPS, 'invalid-argument', 'ksub with bounds.groups', PQ_GROUP_SIZE * PQ_GROUPS, ksub);
    expect(typeof gr === 'object' && gr !== null, 'invalid-argument', 'bounds.groups', 'a PqGroupBounds object', gr);
    expect(gr.lower instanceof Uint16Array && gr.lower.length === n * m * PQ_GROUPS, 'dimension-mismatch',
      'bounds.groups.lower length (Uint16Array)', `n·m·16 = ${n * m * PQ_GROUPS}`, gr.lower?.length);
    expect(gr.drift instanceof Float64Array && gr.drift.length === m * PQ_GROUPS, 'dimension-mismatch',
      'bounds.groups.drift length (Float64Array)', `m·16 = ${m * PQ_GROUPS}`, gr.drift?.length);
    checkGroupPerm(gr.perm, m, ksub);
    return;
  }
  if (bounds.top === undefined && bounds.restDrift === undefined) return;
  expect(bounds.top instanceof Int32Array && bounds.top.length === PQ_TOP * m, 'dimension-mismatch', 'bounds.top length (Int32Array)',
    `${PQ_TOP}·m = ${PQ_TOP * m}`, bounds.top?.length);
  expect(bounds.restDrift instanceof Float64Array && bounds.restDrift.length === m, 'dimension-mismatch',
    'bounds.restDrift length (Float64Array)', `m = ${m}`, bounds.restDrift?.length);
  for (let p = 0; p < PQ_TOP * m; p++) {
    const c = bounds.top[p]!;
    if (c < -1 || c >= ksub) expect(false, 'invalid-argument', `bounds.top[${p}]`, `an integer in [-1, ${ksub})`, c);
  }
}

/** `bounds.groups.perm`: per sub-space (m of them) a permutation of 0 .. ksub − 1. */
export function checkGroupPerm(perm: Int32Array, m: number, ksub: number): void {
  expect(perm instanceof Int32Array && perm.length === m * ksub, 'dimension-mismatch', 'bounds.groups.perm length (Int32Array)',
    `m·256 = ${m * ksub}`, perm?.length);
  const seen = new Uint8Array(ksub);
  for (let s = 0; s < m; s++) {
    seen.fill(0);
    for (let q = 0; q < ksub; q++) {
      const c = perm[s * ksub + q]!;
      if (!(c >= 0 && c < ksub) || seen[c]) {
        expect(false, 'invalid-argument', `bounds.groups.perm[${s * ksub + q}]`, `a permutation of 0..${ksub - 1} per sub-space`, c);
      }
      seen[c] = 1;
    }
  }
}

/** Bounded assignment supports only biases ≥ 0 (Lance's balance term is a non-negative multiple of the counts). */
export function checkBoundsBias(bias: Float32Array | undefined): void {
  if (!bias) return;
  for (let c = 0; c < bias.length; c++) {
    const b = bias[c]!;
    if (!(b >= 0 && b < Infinity)) throw new IvfkitError('invalid-argument', `bias[${c}] with bounds: expected a finite number ≥ 0, got ${b}`);
  }
}

/** √ of a kernels' f32 ‖v‖² (dim rounded squares summed: within dim·2^-24 relative of the true sum) times this is
 *  an upper bound on the true ‖v‖, which is all the bounds' rounding margins need. */
export function normUp(dim: number): number {
  return 1 + (dim + 2) * 2 ** -24;
}

const up32 = new Float32Array(1), up32Bits = new Uint32Array(up32.buffer);

/** The smallest f32 ≥ v (+Inf for NaN): drifts handed to f32 kernels must not shrink. */
export function roundUp32(v: number): number {
  if (v !== v) return Infinity;
  const f = Math.fround(v);
  if (f >= v) return f;
  if (f === 0) return 1.401298464324817e-45;
  up32[0] = f;
  if (f > 0) up32Bits[0]!++; else up32Bits[0]!--;
  return up32[0]!;
}
