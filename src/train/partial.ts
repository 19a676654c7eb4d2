import { PQ_GROUP_SIZE, PQ_GROUPS, PQ_TOP, type Accumulators, type AssignBounds, type BoundedSession, type Kernels, type PqBounds, type PqGroupSession } from '../kernels/types.js';
import { normUp } from '../kernels/validate.js';
import { expect, expectArray, IvfkitError, rowsOf } from '../util/errors.js';
import { fromFixed, lossShift, sumShift } from '../util/fixed.js';
import { Hasher } from '../util/hash.js';
import { createRng, mix32, STREAM } from '../util/rng.js';

/**
 * What one map step needs besides the centroids. Built once per iteration by the Lloyd loop and sent
 * unchanged to every shard, so every shard uses the same fixed-point shifts.
 */
export interface StatsContext {
  /** 1-based Lloyd iteration (part of the fingerprint). */
  iteration: number;
  /** Coordinate sums are stored as round(x · 2^shift). */
  shift: number;
  /** Distance sums are stored as round(dist · 2^lossShift). */
  lossShift: number;
  /** 'l2' (squared Euclidean) or 'dot' (1 − x·c). */
  metric: 'l2' | 'dot';
  /** Lance's balance term: added to centroid j's distance when choosing the nearest (k values). */
  bias?: Float32Array;
  /** PQ lock step: `centroids` is the flat `[m][c][j]` codebook; row i's sub-vector s joins cluster s·ksub + code. */
  pq?: { m: number; ksub: number };
  /** true: distance bounds let rows whose centroid provably cannot change skip the full assignment
   *  (l2, with or without a bias ≥ 0; needs a per-shard scratch). Results are bit-identical either way.
   *  Default false: on the reference workload the bookkeeping still costs more than it saves. */
  bounds?: boolean;
  /** With `bounds` off: bounds may come on in a later step. Kernels with bounded sessions then compute every row in
   *  full through the session (about the cost of a plain step) and keep its bounds, so the first bounded step
   *  already has them instead of computing everything once more. Same bits either way. */
  boundsSoon?: boolean;
  /** A balance term (`bias`) comes with later steps: bounds keep the form that takes one (group bounds, not
   *  {@link BoundsStart.pairs}), so no step has to start them afresh. */
  balanced?: boolean;
}

/**
 * Per-cluster sufficient statistics of one k-means assignment over some rows. Integer (fixed-point)
 * sums make merging exact and order-free. For PQ, `k = M · ksub` and `dim = dim / M`. `radius` is
 * −Infinity for empty clusters.
 */
export interface PartialStats extends Accumulators {
  k: number;
  /** Dimension of a centroid (the sub-vector dimension for PQ). */
  dim: number;
  iteration: number;
  /** 16 hex digits: hash of the centroid bits, iteration, shifts, metric, bias and PQ shape. */
  fingerprint: string;
}

/** Options of {@link finalizeCentroids}. */
export interface FinalizeOptions {
  /** Seed of the run (the split stream derives from it). Default 0. */
  seed?: number;
  /** Which redo of the run (split stream). Default 0. */
  redo?: number;
  /** Repair empty clusters by splitting a large one (faiss / Lance). Default true. */
  splitEmpty?: boolean;
  /** PQ: the clusters form `m` groups of `ksub`; each group is its own k-means (own split stream). */
  pq?: { m: number; ksub: number };
  /** Groups (PQ sub-spaces) whose centroids stay as in `prev`. */
  frozen?: ArrayLike<boolean | number>;
}

/** Result of {@link finalizeCentroids}. */
export interface FinalizeResult {
  centroids: Float32Array;
  /** Σ cluster losses (sum of unbiased distances of the assigned rows). */
  loss: number;
  /** Clusters that had no row (before any split). */
  empty: number;
  /** Per group (PQ sub-space) loss; one entry for flat k-means. */
  groupLoss: number[];
  /** Per group number of empty clusters. */
  groupEmpty: number[];
  /** Per group: every cluster that rows chose has its previous centroid as its mean (−0 = 0), before any empty-cluster
   *  split moved a donor — true when the rows sit on their centroids. */
  groupKept: boolean[];
  /**
   * Cluster sizes after the split: the counts, with each split donor's size halved and the other half given to the
   * cluster it refilled (Lance's `split_clusters` updates the sizes its next balance term reads the same way).
   */
  sizes: Float64Array;
}

/** Relative perturbation of a split centroid (faiss, Lance). */
export const SPLIT_EPS = 1 / 1024;

/** The 32-bit seed of PQ sub-space `m`: sub-space m of `trainPq` runs as `kmeans` would with this seed. */
export function pqSubspaceSeed(seed: number, m: number): number {
  return mix32(seed, 0x5051, m);
}

/** Fingerprint of one map step: what a shard's stats must agree on to be merged. */
export function statsFingerprint(centroids: Float32Array, ctx: StatsContext): string {
  const h = new Hasher(0x6b6d);
  h.num(ctx.iteration).num(ctx.shift).num(ctx.lossShift).word(ctx.metric === 'dot' ? 2 : 1);
  h.num(ctx.pq ? ctx.pq.m : 0).num(ctx.pq ? ctx.pq.ksub : 0);
  h.bytes(centroids);
  if (ctx.bias) h.word(0xb1a5).bytes(ctx.bias);
  return h.hex();
}

/** The sums buffer of stats handed back to an executor (`KmeansExecutor.release`), unless it is not a live ArrayBuffer. */
export function releasedSums(stats: PartialStats): ArrayBuffer | undefined {
  const b = stats?.sums?.buffer;
  return b instanceof ArrayBuffer && b.byteLength > 0 ? b : undefined;
}

/** Zeroed stats for k clusters of dimension dim (sums in `scratch.spare` when it has their size). */
export function emptyStats(k: number, dim: number, fingerprint: string, ctx: StatsContext, scratch?: StatsScratch): PartialStats {
  let sums: BigInt64Array;
  const spare = scratch?.spare;
  if (spare && spare.byteLength === k * dim * 8) {
    scratch!.spare = undefined;
    new Int32Array(spare).fill(0);
    sums = new BigInt64Array(spare);
  } else sums = new BigInt64Array(k * dim);
  return {
    k, dim, iteration: ctx.iteration, fingerprint, shift: ctx.shift, lossShift: ctx.lossShift,
    sums, counts: new Float64Array(k), clusterLoss: new BigInt64Array(k), radius: new Float32Array(k).fill(-Infinity),
  };
}

/** Per-shard state of {@link kmeansPartialStats} kept by the caller across iterations (one object per
 *  shard; a new object, or a different shard array, starts over). Holds the distance bounds. */
export interface StatsScratch {
  /** Bounds state (internal). */
  bounds?: BoundsState;
  /** Rows of the last call that skipped the full assignment (diagnostics). */
  skipped?: number;
  /** (row, 8-centroid block) distance blocks the last call computed (diagnostics; brute force: rows · ⌈k/8⌉). */
  blocks?: number;
  /** Rows of the last call. */
  rows?: number;
  /** A buffer the caller hands back (the `sums` of an earlier result it no longer reads): the next call whose
   *  sums have its size uses it (zeroed) instead of a new one, and clears this field. Fresh buffers of a few
   *  hundred KiB cost ~1.5 ms per step in first-touch page faults on the shared bench host. */
  spare?: ArrayBuffer;
}

/** Bounds of one shard against the centroids of earlier calls (Yinyang-style groups, one epoch per call). */
export interface BoundsState {
  shard: Float32Array;
  dim: number;
  k: number;
  /** The centroids of the last few epochs, newest last (the decay of older epochs is chained). */
  kept: { epoch: number; centroids: Float32Array }[];
  /** Per epoch e: the largest movement of each group's centroids from epoch e to e + 1 (rounded up). */
  steps: Float64Array[];
  /** What the kernel reads and updates. */
  kernel: AssignBounds;
  /** The rows and the kernel's per-row state in wasm memory ({@link Kernels.boundedSession}) when the kernels have sessions
   *  (`kernel`'s per-row arrays are then empty). */
  session?: BoundedSession;
}

/** Epochs a bounds state lives before it is rebuilt (one row of the decay table each). */
const MAX_EPOCHS = 256;
/** Centroid sets kept per shard for measuring net drift: at most this many, and at most ~32 MiB. */
const KEEP_EPOCHS = 16;
/**
 * The map step: assigns every row of `shard` to its nearest centroid (with `ctx.bias` for the choice)
 * and accumulates per-cluster fixed-point sums, counts, distance sums and radii. Rows whose distances
 * are all NaN take no part. For `ctx.pq`, `centroids` is the codebook and every sub-vector is assigned
 * within its sub-space.
 */
export function kmeansPartialStats(shard: Float32Array, dim: number, centroids: Float32Array, ctx: StatsContext,
  kernels: Kernels, scratch?: StatsScratch): PartialStats {
  checkContext(ctx);
  const n = rowsOf(shard, dim, 'shard');
  const fingerprint = statsFingerprint(centroids, ctx);
  if (ctx.pq) {
    const { m, ksub } = ctx.pq;
    expect(dim % m === 0, 'dimension-mismatch', `dim ${dim} / pq.m ${m}`, 'a whole number', dim / m);
    const ds = dim / m;
    expect(centroids.length === m * ksub * ds, 'dimension-mismatch', 'codebook length', `m·ksub·ds = ${m * ksub * ds}`, centroids.length);
    expect(ctx.bias === undefined, 'invalid-argument', 'bias with pq', 'undefined', 'a bias');
    const stats = emptyStats(m * ksub, ds, fingerprint, ctx, scratch);
    if (n === 0) return stats;
    if (scratch && ctx.bounds === true && kernels.build !== 'relaxed') {
      pqBoundedStep(shard, dim, n, m, ksub, centroids, kernels, stats, scratch);
      return stats;
    }
    if (scratch) { dropPqBounds(scratch); scratch.skipped = 0; scratch.rows = n * m; }
    kernels.pqAssignAccumulate(shard, dim, centroids, m, ksub, stats);
    return stats;
  }
  const k = rowsOf(centroids, dim, 'centroids');
  const stats = emptyStats(k, dim, fingerprint, ctx, scratch);
  if (n === 0) return stats;
  const boundsFit = ctx.metric === 'l2' && kernels.build !== 'relaxed' && (!ctx.bias || ctx.bias.every((b) => b >= 0 && b < Infinity));
  if (scratch && boundsFit && (ctx.bounds === true || (ctx.boundsSoon === true && kernels.boundedSession))) {
    if (boundedStep(shard, dim, n, k, centroids, kernels, stats, scratch, ctx.bias, undefined, ctx.bounds !== true, ctx.balanced !== true)) return stats;
  }
  if (scratch) { dropBounds(scratch); scratch.skipped = 0; scratch.blocks = n * Math.ceil(k / 8); scratch.rows = n; }
  kernels.assignAccumulate(shard, dim, centroids, stats, { metric: ctx.metric, ...(ctx.bias ? { bias: ctx.bias } : {}) });
  return stats;
}

/**
 * The nearest centroid (squared L2, ties → lowest index, −1 for a row with no finite distance) of every
 * row of `shard`: {@link Kernels.assign}'s indices. When `scratch` holds distance bounds of this shard (from
 * the last map steps) they are used and moved on to `centroids`, so after a k-means run the final
 * assignment computes only the distances the bounds cannot rule out. `shardMaxAbs`: max |x| of the shard
 * when the caller knows it.
 */
export function nearestCentroids(shard: Float32Array, dim: number, centroids: Float32Array, kernels: Kernels, scratch?: StatsScratch,
  shardMaxAbs?: number): Int32Array {
  const n = rowsOf(shard, dim, 'shard');
  const k = rowsOf(centroids, dim, 'centroids');
  const st = scratch?.bounds;
  if (!scratch || !st || st.shard !== shard || st.dim !== dim || st.k !== k || kernels.build === 'relaxed' || n === 0) {
    return kernels.assign(shard, dim, centroids, { metric: 'l2' }).index.slice(0, n);
  }
  const m = Math.max(shardMaxAbs ?? kernels.maxAbs(shard), kernels.maxAbs(centroids));
  const stats = emptyStats(k, dim, '', { iteration: 0, shift: sumShift(m, n), lossShift: lossShift('l2', dim, m, n), metric: 'l2' });
  const index = new Int32Array(n);
  boundedStep(shard, dim, n, k, centroids, kernels, stats, scratch, undefined, index);
  return index;
}

/** x − c_nearest (squared L2) for every row; rows with no nearest centroid become NaN. `index`: the rows'
 *  nearest centroids when known (as `kernels.assign` finds them); `out`: where the residuals go (may be `data`). */
export function residualRows(data: Float32Array, dim: number, centroids: Float32Array, kernels: Kernels,
  index = kernels.assign(data, dim, centroids, { metric: 'l2' }).index, out: Float32Array = new Float32Array(data.length)): Float32Array {
  return subtractRows(data, dim, centroids, index, out);
}

/** `out[i] = data[i] − centroids[index[i]]` row by row (a NaN row where `index[i]` < 0); `out` may be `data`. */
export function subtractRows(data: Float32Array, dim: number, centroids: Float32Array, index: Int32Array, out: Float32Array): Float32Array {
  const n = rowsOf(data, dim);
  expect(index.length >= n && out.length === data.length, 'dimension-mismatch', 'index / output length', `≥ ${n} / ${data.length}`,
    `${index.length} / ${out.length}`);
  for (let i = 0; i < n; i++) {
    const c = index[i]!, o = i * dim;
    if (c < 0) { out.fill(NaN, o, o + dim); continue; }
    const co = c * dim;
    for (let j = 0; j < dim; j++) out[o + j] = data[o + j]! - centroids[co + j]!;
  }
  return out;
}

/** Test hooks (never change in production): `zeroMargin` drops the rounding margin (a mutation check
 *  that some test must catch); `maxEntries` caps n·G (larger groups of centroids when n·k is large). */
export const boundsDebug = { zeroMargin: false, maxEntries: 1 << 24 };

/** A k-means bounded session holds a second copy of the shard (and its per-row bounds) in wasm memory: used only
 *  while that takes at most `sessionBytes` (1 GiB); larger shards copy 4 MiB blocks per call instead. Steps
 *  without bias, with at least `pairMinK` centroids, over rows of at least `pairMinDim` values that take the 16-bit
 *  filter keep one bound per (row, centroid) ({@link BoundsStart.pairs}) while n·k ≤ `pairEntries` (64 MiB of u16
 *  bounds). Measured: workload E (k 1024, 768 values, centroids far apart and moving much) computes 15–60 % fewer
 *  distance blocks per step than with group bounds and runs 15 % faster on one thread, 22 % on two; Fashion-MNIST
 *  k-means (k 256) computes 2–6× more (a row's rivals are nearby centroids, which the movement order scatters) and
 *  A (k 256, 128 values) runs 10–20 % slower, hence the bars on k and dim — thresholds between those measurements,
 *  not a model. */
export const boundsSessionPolicy = { sessionBytes: 2 ** 30, pairEntries: 2 ** 25, pairMinDim: 256, pairMinK: 512 };

/**
 * The map step with bounds (l2, optional bias ≥ 0): {@link Kernels.assignAccumulateBounded} over the shard, with
 * the per-row state kept in `scratch`. Here: the groups (8 centroids each, larger when n·k exceeds
 * `boundsDebug.maxEntries`), one epoch per call with the decay table of {@link nextDecay}, ‖x‖ once
 * per shard and ‖c‖ per call. Non-finite centroids drop the state; so does epoch 256 (it is rebuilt).
 * `outIndex` (optional) receives the chosen centroids. `full`: every row computed in full through a bounded
 * session, keeping the bounds for later steps; false (nothing done) when the kernels give no session.
 */
function boundedStep(shard: Float32Array, dim: number, n: number, k: number, centroids: Float32Array, kernels: Kernels,
  stats: PartialStats, scratch: StatsScratch, bias: Float32Array | undefined, outIndex?: Int32Array, full = false, pairsFit = true): boolean {
  // max ‖c‖ from the kernels' f32 ‖c‖² (within dim·2^-24 relative, as ‖x‖ below); a non-finite centroid drops the state.
  const csq = kernels.sqNorms(centroids, dim);
  let cmax = 0, finite = true;
  for (let c = 0; c < k; c++) {
    const s = csq[c]!;
    if (!(s < Infinity)) finite = false;
    else if (s > cmax) cmax = s;
  }
  cmax = Math.sqrt(cmax) * normUp(dim);
  let st = scratch.bounds;
  scratch.bounds = undefined;
  if (st?.session?.pairs && bias) {                         // a pairs session takes no bias: group bounds from here
    st.session.close();
    st = undefined;
  }
  // A pairs session measures its own movement: no epochs to run out of.
  if (finite && st && st.shard === shard && st.dim === dim && st.k === k && (st.session?.pairs || st.kernel.now + 1 < MAX_EPOCHS)) {
    if (!st.session?.pairs) {
      st.kernel.decay = nextDecay(st, centroids, kernels);
      st.kernel.now++;
    }
  } else {
    st?.session?.close();                                   // before the new session opens: it takes the memory
    const kb = Math.ceil(k / 8);
    const gs = 8 * Math.max(1, Math.ceil((kb * n) / boundsDebug.maxEntries));
    const G = Math.ceil(k / gs);
    // A session keeps the rows, the per-row state and ‖x‖ (from its f32 ‖x‖²) in wasm memory; without one, the arrays live here.
    const { pairMinDim, pairMinK, pairEntries } = boundsSessionPolicy;
    const pairs = pairsFit && !bias && finite && dim >= pairMinDim && k >= pairMinK && n * k <= pairEntries && kernels.filtersPlain(dim, k);
    const fits = n * (dim * 4 + (pairs ? k * 2 : G * 5) + dim * 2 + 24 + 32) <= boundsSessionPolicy.sessionBytes;
    const session = fits ? kernels.boundedSession?.(shard, dim, k, { groupSize: gs, ...(pairs ? { pairs } : {}),
      ...(boundsDebug.zeroMargin ? { xnorm: new Float64Array(n) } : {}) }) : undefined;
    if (full && !session) return false;
    const order = finite && !session?.pairs ? kernels.centroidOrder(centroids, dim, gs) : undefined;
    const plan = { groupSize: gs, ...(order ? { order } : {}), decay: new Float64Array(256 * G).fill(Infinity).fill(0, 0, G), now: 0, cmax: 0 };
    const rows = session ? { assign: new Int32Array(0), lower: new Float32Array(0), epoch: new Uint8Array(0), xnorm: new Float64Array(0) }
      : rowState(shard, dim, n, G, kernels);
    st = { shard, dim, k, kept: [], steps: [], kernel: { ...plan, ...rows } };
    if (session) st.session = session;
  }
  if (full && !st.session) return false;
  st.kernel.cmax = boundsDebug.zeroMargin ? 0 : cmax * (1 + 1e-9);
  const o = { ...(bias ? { bias } : {}), ...(outIndex ? { outIndex } : {}), ...(full ? { full } : {}) };
  const info = st.session ? st.session.step(centroids, stats, st.kernel, o) : kernels.assignAccumulateBounded(shard, dim, centroids, stats, st.kernel, o);
  if (!st.session?.pairs) {
    const keep = Math.max(2, Math.min(KEEP_EPOCHS, Math.floor(2 ** 25 / (4 * centroids.length))));
    // The oldest kept set's buffer takes the new copy once the list is full (no fresh k·dim buffer per step).
    const reuse = st.kept.length >= keep ? st.kept.shift()!.centroids : undefined;
    while (st.kept.length >= keep) st.kept.shift();
    const copy = reuse && reuse.length === centroids.length ? reuse : new Float32Array(centroids.length);
    copy.set(centroids);
    st.kept.push({ epoch: st.kernel.now, centroids: copy });
  }
  if (finite) scratch.bounds = st;
  else st.session?.close();
  scratch.skipped = info.skipped;
  scratch.blocks = info.blocks;
  scratch.rows = n;
  return true;
}

/** Per-row state of a bounds start without a session: no bounds yet, and ‖x‖ from the kernels' f32 ‖x‖² ({@link normUp}). */
function rowState(shard: Float32Array, dim: number, n: number, G: number, kernels: Kernels): Pick<AssignBounds, 'assign' | 'lower' | 'epoch' | 'xnorm'> {
  const xnorm = new Float64Array(n);
  if (!boundsDebug.zeroMargin) {
    const sq = kernels.sqNorms(shard, dim);
    const up = normUp(dim);
    for (let i = 0; i < n; i++) xnorm[i] = Math.sqrt(sq[i]!) * up;
  }
  return { assign: new Int32Array(n).fill(-1), lower: new Float32Array(n * G), epoch: new Uint8Array(n * G), xnorm };
}

/**
 * The decay table for the next epoch: per earlier epoch e and group g, the smallest of the largest
 * ‖c_now − c_e‖ over the group (when epoch e's centroids are kept), the old decay plus the last step, and
 * decay[e + 1] plus the step from e to e + 1; each rounded up, so every entry is at least the true largest
 * movement (triangle inequality). Epochs after the next hold +Inf.
 */
function nextDecay(st: BoundsState, centroids: Float32Array, kernels: Kernels): Float64Array {
  const { groupSize: gs, order, decay: old, now } = st.kernel;
  const { k, dim, kept, steps } = st;
  const G = Math.ceil(k / gs);
  // Net movement from every kept epoch (the newest is the last step): √ of the kernels' f64 sums, rounded up.
  const net = kernels.groupDrift(centroids, kept.map((s) => s.centroids), dim, gs, order);
  for (let i = 0; i < net.length; i++) net[i] = Math.sqrt(net[i]!) * (1 + 1e-9);
  const measured = (s: number): Float64Array => net.subarray(s * G, (s + 1) * G);
  const decay = new Float64Array(256 * G).fill(Infinity);
  decay.fill(0, (now + 1) * G, (now + 2) * G);
  const step = decay.subarray(now * G, (now + 1) * G);
  step.set(measured(kept.length - 1));
  const up = (a: number, b: number): number => (a + b) * (1 + 1e-15);
  for (let e = now - 1; e >= 0; e--) {
    const o = e * G;
    const s = steps[e]!;
    for (let g = 0; g < G; g++) decay[o + g] = Math.min(up(old[o + g]!, step[g]!), up(decay[o + G + g]!, s[g]!));
    const at = kept.findIndex((s) => s.epoch === e);
    if (at < 0) continue;
    const m = measured(at);
    for (let g = 0; g < G; g++) decay[o + g] = Math.min(decay[o + g]!, m[g]!);
  }
  steps.push(step.slice());
  return decay;
}

/** The centroid order of the bounds in plain TS (the kernels' `centroidOrder`; also for tests). */
export { spatialOrder } from '../kernels/order.js';

function checkContext(ctx: StatsContext): void {
  expect(typeof ctx === 'object' && ctx !== null, 'invalid-argument', 'ctx', 'a StatsContext', ctx);
  expect(Number.isInteger(ctx.iteration), 'invalid-argument', 'ctx.iteration', 'an integer', ctx.iteration);
  expect(Number.isInteger(ctx.shift) && Math.abs(ctx.shift) <= 1000, 'invalid-argument', 'ctx.shift', 'an integer in [-1000, 1000]', ctx.shift);
  expect(Number.isInteger(ctx.lossShift) && Math.abs(ctx.lossShift) <= 1000, 'invalid-argument', 'ctx.lossShift', 'an integer in [-1000, 1000]', ctx.lossShift);
  expect(ctx.metric === 'l2' || ctx.metric === 'dot', 'invalid-argument', 'ctx.metric', "'l2' or 'dot'", ctx.metric);
  expect(ctx.balanced === undefined || typeof ctx.balanced === 'boolean', 'invalid-argument', 'ctx.balanced', 'a boolean', ctx.balanced);
  if (ctx.pq) {
    expect(Number.isInteger(ctx.pq.m) && ctx.pq.m > 0, 'invalid-argument', 'ctx.pq.m', 'a positive integer', ctx.pq.m);
    expect(ctx.pq.ksub === 16 || ctx.pq.ksub === 256, 'invalid-argument', 'ctx.pq.ksub', '16 or 256', ctx.pq.ksub);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** dst += src element-wise, wrapping like i64 (exact while the true sums fit, which the shifts ensure). */
export function addI64(dst: BigInt64Array, src: BigInt64Array): void {
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < dst.length; i++) dst[i] = BigInt.asIntN(64, dst[i]! + src[i]!);
    return;
  }
  // Int32 halves, int32 arithmetic and a branch-free carry (the carry bit of sums is random: a branch on it
  // mispredicts half the time): 3–5× faster than unsigned halves with a compare.
  const d = new Int32Array(dst.buffer, dst.byteOffset, dst.length * 2);
  const s = new Int32Array(src.buffer, src.byteOffset, src.length * 2);
  for (let i = 0; i < d.length; i += 2) {
    const a = d[i]!, b = s[i]!;
    const lo = (a + b) | 0;
    d[i] = lo;
    d[i + 1] = (d[i + 1]! + s[i + 1]! + (((a & b) | ((a | b) & ~lo)) >>> 31)) | 0;
  }
}

/** Each i64 as the nearest double (as `Number(bigint)`), into out. */
export function i64ToF64(src: BigInt64Array, out = new Float64Array(src.length)): Float64Array {
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
    return out;
  }
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length * 2);
  const h = new Int32Array(src.buffer, src.byteOffset, src.length * 2);
  for (let i = 0; i < src.length; i++) out[i] = h[2 * i + 1]! * 4294967296 + u[2 * i]!;
  return out;
}

/**
 * The reduce step: sums stats of the same map step (same fingerprint, shape and shifts) from any
 * number of shards, in any order, to the same bits. Returns a new object; inputs are not modified.
 */
export function mergePartialStats(...stats: PartialStats[]): PartialStats {
  if (stats.length === 1 && Array.isArray(stats[0])) stats = stats[0] as unknown as PartialStats[];
  return mergeInto(stats);
}

/** {@link mergePartialStats}, the merged sums in `spare` when it has their size (a buffer the caller owns and
 *  no longer reads). `spare` may be the buffer of `stats[0].sums` itself: the others are then added to it in place. */
export function mergeInto(stats: PartialStats[], spare?: ArrayBuffer): PartialStats {
  expect(stats.length > 0, 'invalid-argument', 'partial stats to merge', 'at least one', 0);
  const a = stats[0]!;
  checkStats(a, 'stats[0]');
  let sums: BigInt64Array;
  if (spare && spare === a.sums.buffer && a.sums.byteOffset === 0 && a.sums.byteLength === spare.byteLength) sums = a.sums;
  else if (spare && spare.byteLength === a.sums.byteLength) {
    sums = new BigInt64Array(spare);
    sums.set(a.sums);
  } else sums = a.sums.slice();
  const out: PartialStats = {
    k: a.k, dim: a.dim, iteration: a.iteration, fingerprint: a.fingerprint, shift: a.shift, lossShift: a.lossShift,
    sums, counts: a.counts.slice(), clusterLoss: a.clusterLoss.slice(), radius: a.radius.slice(),
  };
  for (let s = 1; s < stats.length; s++) {
    const b = stats[s]!;
    checkStats(b, `stats[${s}]`);
    const what = `stats[${s}]`;
    if (b.fingerprint !== a.fingerprint) {
      throw new IvfkitError('fingerprint-mismatch',
        `${what} fingerprint: expected ${a.fingerprint} (iteration ${a.iteration}), got ${b.fingerprint} (iteration ${b.iteration}); stats of different centroids or iterations cannot be merged`);
    }
    expect(b.k === a.k && b.dim === a.dim, 'dimension-mismatch', `${what} shape (k × dim)`, `${a.k} × ${a.dim}`, `${b.k} × ${b.dim}`);
    expect(b.shift === a.shift && b.lossShift === a.lossShift, 'invalid-argument', `${what} shifts (shift, lossShift)`,
      `${a.shift}, ${a.lossShift}`, `${b.shift}, ${b.lossShift}`);
    expect(b.iteration === a.iteration, 'invalid-argument', `${what} iteration`, a.iteration, b.iteration);
    addI64(out.sums, b.sums);
    addI64(out.clusterLoss, b.clusterLoss);
    for (let c = 0; c < a.k; c++) {
      out.counts[c] = out.counts[c]! + b.counts[c]!;
      if (b.radius[c]! > out.radius[c]!) out.radius[c] = b.radius[c]!;
    }
  }
  return out;
}

function checkStats(s: PartialStats, what: string): void {
  expect(typeof s === 'object' && s !== null, 'invalid-argument', what, 'PartialStats', s);
  expect(Number.isInteger(s.k) && s.k > 0 && Number.isInteger(s.dim) && s.dim > 0, 'invalid-argument', `${what} k, dim`,
    'positive integers', `${s.k}, ${s.dim}`);
  expectArray(s.sums, BigInt64Array, s.k * s.dim, `${what}.sums`);
  expectArray(s.counts, Float64Array, s.k, `${what}.counts`);
  expectArray(s.clusterLoss, BigInt64Array, s.k, `${what}.clusterLoss`);
  expectArray(s.radius, Float32Array, s.k, `${what}.radius`);
}

/**
 * From merged stats to the next centroids: the mean of each cluster (sums · 2^−shift / count in f64,
 * stored as f32). A cluster with no row keeps its previous centroid, then (with `splitEmpty`) is
 * repaired as faiss and Lance do: a donor cluster j is chosen by scanning clusters cyclically from 0 and
 * accepting j with probability (size_j − 1) / (n − k); both centroids become copies of j's, perturbed
 * by ±1/1024 (even dims: new ×(1+ε), donor ×(1−ε); odd dims the other way; zero coordinates by ±ε times
 * the centroid's largest |value|, so the two never coincide), and the donor's size is halved (`sizes`). The
 * random stream is `(seed of the group, SPLIT, redo, iteration)`. PQ groups are finalized one by one.
 */
export function finalizeCentroids(stats: PartialStats, prev: Float32Array, opts: FinalizeOptions = {}): FinalizeResult {
  checkStats(stats, 'stats');
  const { k, dim } = stats;
  expect(prev instanceof Float32Array, 'invalid-argument', 'prev centroids', `a Float32Array of k·dim = ${k * dim} values`, prev);
  expect(prev.length === k * dim, 'dimension-mismatch', 'prev centroids length', `k·dim = ${k * dim}`, prev.length);
  const groups = opts.pq ? opts.pq.m : 1;
  const gk = opts.pq ? opts.pq.ksub : k;
  expect(groups * gk === k, 'dimension-mismatch', 'k of stats', `pq.m · pq.ksub = ${groups * gk}`, k);
  const seed = opts.seed ?? 0, redo = opts.redo ?? 0, split = opts.splitEmpty ?? true;
  const centroids = prev.slice();
  const sizes = stats.counts.slice();
  // Each i64 sum as the nearest double (as i64ToF64), read in place: no k·dim temporary per step.
  const sums = LITTLE_ENDIAN ? undefined : i64ToF64(stats.sums);
  const lo32 = new Uint32Array(stats.sums.buffer, stats.sums.byteOffset, stats.sums.length * 2);
  const hi32 = new Int32Array(stats.sums.buffer, stats.sums.byteOffset, stats.sums.length * 2);
  const scale = 2 ** -stats.shift;
  const groupLoss: number[] = [], groupEmpty: number[] = [], groupKept: boolean[] = [];
  let empty = 0, loss = 0;
  for (let g = 0; g < groups; g++) {
    const c0 = g * gk;
    let lossFixed = 0n;
    for (let c = c0; c < c0 + gk; c++) lossFixed += stats.clusterLoss[c]!;
    const gl = fromFixed(lossFixed, stats.lossShift);
    const ge = countEmpty(stats.counts, c0, c0 + gk);
    groupLoss.push(gl); groupEmpty.push(ge);
    loss += gl; empty += ge;
    if (opts.frozen?.[g]) { groupKept.push(true); continue; }
    for (let c = c0; c < c0 + gk; c++) {
      const cnt = stats.counts[c]!;
      if (cnt === 0) continue;
      const f = scale / cnt;
      if (sums) for (let j = c * dim, e = j + dim; j < e; j++) centroids[j] = sums[j]! * f;
      else for (let j = c * dim, e = j + dim; j < e; j++) centroids[j] = (hi32[2 * j + 1]! * 4294967296 + lo32[2 * j]!) * f;
    }
    let kept = true;
    for (let c = c0; c < c0 + gk && kept; c++) {
      if (stats.counts[c] === 0) continue;
      for (let j = c * dim, e = j + dim; j < e; j++) if (centroids[j] !== prev[j]) { kept = false; break; }
    }
    groupKept.push(kept);
    if (split && ge > 0) {
      const rng = createRng(opts.pq ? pqSubspaceSeed(seed, g) : seed, STREAM.SPLIT, redo, stats.iteration);
      splitEmpty(centroids, sizes.subarray(c0, c0 + gk), c0, gk, dim, rng);
    }
  }
  return { centroids, loss, empty, groupLoss, groupEmpty, groupKept, sizes };
}

/** Clusters from..to−1 that no row chose. */
export function countEmpty(counts: ArrayLike<number>, from: number, to: number): number {
  let e = 0;
  for (let c = from; c < to; c++) if (counts[c] === 0) e++;
  return e;
}

function splitEmpty(centroids: Float32Array, size: Float64Array, c0: number, k: number, dim: number,
  rng: { next(): number }): void {
  let n = 0, donors = 0;
  for (let c = 0; c < k; c++) { n += size[c]!; if (size[c]! >= 2) donors++; }
  const denom = Math.max(1, n - k);
  for (let ci = 0; ci < k; ci++) {
    if (size[ci] !== 0) continue;
    if (donors === 0) return;
    let cj = 0;
    for (;;) {
      const r = rng.next();
      if (size[cj]! >= 2 && r < (size[cj]! - 1) / denom) break;
      cj = (cj + 1) % k;
    }
    const a = (c0 + ci) * dim, b = (c0 + cj) * dim;
    let big = 0;
    for (let j = 0; j < dim; j++) big = Math.max(big, Math.abs(centroids[b + j]!));
    // A zero donor takes the group's largest |value| (within the data's range, which the run's fixed-point loss is sized
    // for; a fixed 1 overflowed it for data of small values), 1 when every centroid is 0.
    if (big === 0) for (let j = c0 * dim, e = (c0 + k) * dim; j < e; j++) big = Math.max(big, Math.abs(centroids[j]!));
    for (let j = 0; j < dim; j++) {
      const v = centroids[b + j]!;
      const delta = (v !== 0 ? v : big || 1) * SPLIT_EPS;
      const sign = j % 2 === 0 ? 1 : -1;
      centroids[a + j] = v + sign * delta;
      centroids[b + j] = v - sign * delta;
    }
    size[ci] = Math.floor(size[cj]! / 2);
    size[cj] = size[cj]! - size[ci]!;
    if (size[cj]! < 2) donors--;
    if (size[ci]! >= 2) donors++;
  }
}

/** PQ bounds of one shard: valid for the codebook of its last bounded step. */
interface PqShardBounds {
  shard: Float32Array;
  dim: number;
  m: number;
  ksub: number;
  codebook: Float32Array;
  bounds: PqBounds;
  /** Group bounds kept in wasm memory (`Kernels.pqGroupSession`), with the group order and drifts. */
  session?: { run: PqGroupSession; perm: Int32Array; drift: Float64Array };
}

/** PQ bound state per scratch object (a shard's scratch lives where the shard lives: this thread or a worker). */
const pqBoundsOf = new WeakMap<StatsScratch, PqShardBounds>();

/** Drops `scratch`'s k-means bounds and closes their session (its wasm memory goes to the next session opened). */
function dropBounds(scratch: StatsScratch): void {
  const st = scratch.bounds;
  scratch.bounds = undefined;
  st?.session?.close();
}

function dropPqBounds(scratch: StatsScratch): void {
  const st = pqBoundsOf.get(scratch);
  pqBoundsOf.delete(scratch);
  st?.session?.run.close();
}

/**
 * Closes and drops every session `scratch` holds (k-means and PQ bounds), for a caller done with its shard: the next
 * session opened, by any scratch of the same kernels' module, then reuses their memory instead of mapping new pages.
 */
export function releaseScratch(scratch: StatsScratch): void {
  dropBounds(scratch);
  dropPqBounds(scratch);
}

/** Test hook (never change in production): `zeroMargin` drops the PQ kernels' rounding margins, a mutation
 *  check that some test must catch. */
export const pqBoundsDebug = { zeroMargin: false };

/**
 * The PQ map step with per-(row, sub-space) bounds (`Kernels.pqAssignAccumulateBounded`): the state of
 * `scratch` is kept across iterations, each sub-space's bounds move by its codes' largest drift since the
 * last step, and a new shard (or shape) starts over with every pair searched. `scratch.skipped` /
 * `scratch.rows` count (row, sub-space) pairs.
 */
function pqBoundedStep(shard: Float32Array, dim: number, n: number, m: number, ksub: number, codebook: Float32Array,
  kernels: Kernels, stats: PartialStats, scratch: StatsScratch): void {
  const ds = dim / m;
  let st = pqBoundsOf.get(scratch);
  dropBounds(scratch);
  if (!st || st.shard !== shard || st.dim !== dim || st.m !== m || st.ksub !== ksub || (st.session ? st.session.run.n !== n : st.bounds.assign.length !== n * m)) {
    st?.session?.run.close();
    const perm = pqGroupsFit(n, m, ksub) ? pqGroupPerm(codebook, m, ksub, ds) : undefined;
    const run = perm && n * (dim + 20 * m) * 4 <= pqGroupPolicy.sessionBytes ? kernels.pqGroupSession?.(shard, dim, m, perm) : undefined;
    const per = run ? 0 : n * m;
    const drift = new Float64Array(3 * m);
    for (let s = 0; s < m; s++) drift[3 * s + 2] = -1;
    st = {
      shard, dim, m, ksub, codebook,
      bounds: { assign: new Int32Array(per).fill(-1), lower: new Float32Array(per), drift, top: new Int32Array(PQ_TOP * m).fill(-1),
        restDrift: new Float64Array(m).fill(Infinity) },
    };
    if (run) st.session = { run, perm: perm!, drift: new Float64Array(m * PQ_GROUPS) };
    else if (perm) st.bounds.groups = { perm, lower: new Uint16Array(n * m * PQ_GROUPS), drift: new Float64Array(m * PQ_GROUPS) };
    pqBoundsOf.set(scratch, st);
  } else if (st.session) {
    pqGroupDrift(st.codebook, codebook, m, ds, st.session.perm, st.session.drift);
  } else if (st.bounds.groups) {
    pqGroupDrift(st.codebook, codebook, m, ds, st.bounds.groups.perm, st.bounds.groups.drift);
  } else {
    pqDrift(st.codebook, codebook, m, ksub, ds, st.bounds);
  }
  const opts = pqBoundsDebug.zeroMargin ? { margin: 0 as const } : {};
  const skipped = st.session ? st.session.run.step(codebook, stats, st.session.drift, opts)
    : kernels.pqAssignAccumulateBounded(shard, dim, codebook, m, ksub, stats, st.bounds, opts);
  st.codebook = codebook.slice();
  scratch.skipped = skipped;
  scratch.rows = n * m;
}

/**
 * Group bounds for 256 codes (`PqBounds.groups`): used when a shard's n·m·16 bounds (2 bytes each) fit in
 * `maxBytes` (32 MiB for Lance's default PQ sample of 65,536 rows and 16 sub-vectors); larger shards keep one
 * bound per pair. Kept in wasm memory (`Kernels.pqGroupSession`: the shard, codes and bounds stay there between
 * steps) when that takes at most `sessionBytes`; 0 turns sessions off.
 */
export const pqGroupPolicy = { maxBytes: 256 * 2 ** 20, sessionBytes: 2 ** 30 };

/** Whether PQ with ksub codes over n rows × m sub-spaces uses group bounds (`pqGroupPolicy.maxBytes`). */
export function pqGroupsFit(n: number, m: number, ksub: number): boolean {
  return ksub === PQ_GROUPS * PQ_GROUP_SIZE && n * m * PQ_GROUPS * 2 <= pqGroupPolicy.maxBytes;
}

/** Per sub-space, the 256 codes in 16 groups of 16 nearby codes: halves split at the median of the coordinate
 *  of largest spread (non-finite values sort last), four times. Returns m × 256 slot → code. */
export function pqGroupPerm(codebook: Float32Array, m: number, ksub: number, ds: number): Int32Array {
  const perm = new Int32Array(m * ksub);
  const col = new Float64Array(ksub * ds);
  const keys = new Float64Array(ksub);
  for (let s = 0; s < m; s++) {
    for (let p = 0; p < ksub * ds; p++) {
      const v = codebook[s * ksub * ds + p]!;
      col[(p % ds) * ksub + Math.floor(p / ds)] = Number.isFinite(v) ? v : Infinity;
    }
    const codes = perm.subarray(s * ksub, (s + 1) * ksub);
    for (let c = 0; c < ksub; c++) codes[c] = c;
    const split = (lo: number, hi: number): void => {
      if (hi - lo <= PQ_GROUP_SIZE) return;
      let bj = 0, bv = -1;
      for (let j = 0; j < ds; j++) {
        let a = 0, q = 0, cnt = 0;
        for (let r = lo; r < hi; r++) { const v = col[j * ksub + codes[r]!]!; if (v < Infinity) { a += v; q += v * v; cnt++; } }
        const spread = cnt > 0 ? q - (a * a) / cnt : 0;
        if (spread > bv) { bv = spread; bj = j; }
      }
      for (let c = 0; c < ksub; c++) keys[c] = col[bj * ksub + c]!;
      codes.subarray(lo, hi).sort((x, y) => keys[x]! - keys[y]! || x - y);
      const mid = (lo + hi) >> 1;
      split(lo, mid);
      split(mid, hi);
    };
    split(0, ksub);
  }
  return perm;
}

/** Per group: the largest code drift ‖c_new − c_old‖ (f64, rounded up; +Inf when a code is not finite). */
function pqGroupDrift(prev: Float32Array, next: Float32Array, m: number, ds: number, perm: Int32Array, out: Float64Array): void {
  const ksub = PQ_GROUPS * PQ_GROUP_SIZE;
  for (let s = 0; s < m; s++) {
    for (let g = 0; g < PQ_GROUPS; g++) {
      let big = 0;
      for (let h = 0; h < PQ_GROUP_SIZE; h++) {
        const o = (s * ksub + perm[s * ksub + g * PQ_GROUP_SIZE + h]!) * ds;
        let q = 0;
        for (let j = o; j < o + ds; j++) { const v = next[j]! - prev[j]!; q += v * v; }
        const d = Math.sqrt(q) * (1 + 1e-9);
        big = d < Infinity ? Math.max(big, d) : Infinity;
      }
      out[s * PQ_GROUPS + g] = big;
    }
  }
}

/** Per sub-space: largest code drift ‖c_new − c_old‖ (f64, rounded up), the code with it, the largest of
 *  the others; the PQ_TOP codes with the largest drifts and the largest drift of the rest; +Inf when a code is
 *  not finite (the sub-space's pairs then search again). */
function pqDrift(prev: Float32Array, next: Float32Array, m: number, ksub: number, ds: number, b: PqBounds): void {
  const out = b.drift, dr = new Float64Array(ksub), idx = new Int32Array(ksub);
  for (let s = 0; s < m; s++) {
    let m1 = 0, m2 = 0, arg = -1, finite = true;
    for (let c = 0; c < ksub; c++) {
      const o = (s * ksub + c) * ds;
      let q = 0;
      for (let j = o; j < o + ds; j++) { const v = next[j]! - prev[j]!; q += v * v; }
      const d = Math.sqrt(q) * (1 + 1e-9);
      dr[c] = d; idx[c] = c;
      if (!(d < Infinity)) { finite = false; break; }
      if (d > m1) { m2 = m1; m1 = d; arg = c; } else if (d > m2) m2 = d;
    }
    out[3 * s] = finite ? m1 : Infinity;
    out[3 * s + 1] = finite ? m2 : Infinity;
    out[3 * s + 2] = finite ? arg : -1;
    if (!b.top || !b.restDrift) continue;
    b.top.fill(-1, PQ_TOP * s, PQ_TOP * s + PQ_TOP);
    if (!finite || ksub <= PQ_TOP) { b.restDrift[s] = Infinity; continue; }
    idx.sort((x, y) => dr[y]! - dr[x]! || x - y);
    for (let h = 0; h < PQ_TOP; h++) b.top[PQ_TOP * s + h] = idx[h]!;
    b.restDrift[s] = dr[idx[PQ_TOP]!]!;
  }
}
