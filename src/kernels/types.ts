/** Which implementation backs a {@link Kernels} object. */
export type KernelBuild = 'simd' | 'dot8' | 'relaxed' | 'scalar' | 'reference';

/** What {@link loadKernels} accepts: a concrete build, or 'auto' (dot8, else SIMD, else scalar: the first the runtime validates). */
export type KernelBuildRequest = 'auto' | KernelBuild;

/** Options of `loadKernels` / `loadKernelsSync`. */
export interface LoadKernelsOptions {
  /** Which build to load. Default {@link DEFAULT_KERNEL_BUILD} ('auto'). The fused multiply-add of 'relaxed' is used only when asked for. */
  build?: KernelBuildRequest;
}

/** Options of {@link Kernels.assign}. */
export interface AssignOptions {
  /** 'l2' (default): squared Euclidean distance, clamped ≥ 0. 'dot': 1 − x·c. */
  metric?: 'l2' | 'dot';
  /** Per-centroid term added for the selection only (Lance's balance term); k values. */
  bias?: Float32Array;
  /** Output for the nearest centroid of each row (n values); allocated when absent. */
  outIndex?: Int32Array;
  /** Output for the unbiased distance to that centroid (n values); allocated when absent. */
  outDist?: Float32Array;
  /** Filled when given (n values): the smallest selection value (dist + bias) over the centroids other
   *  than the chosen one, +Inf when there is none or all are NaN (k-means bounds use it). */
  outSecond?: Float32Array;
  /** Filled when given (n × k, row-major): the unbiased distance of every row to every centroid. */
  outAll?: Float32Array;
}

/** Result of an assignment: `index[i]` is the chosen centroid (−1 for a row whose distances are all NaN). */
export interface AssignResult {
  index: Int32Array;
  dist: Float32Array;
}

/** Accumulators of one k-means map step, updated in place by {@link Kernels.accumulate}. */
export interface Accumulators {
  /** Sums are stored as round(x · 2^shift). */
  shift: number;
  /** Loss sums are stored as round(dist · 2^lossShift). */
  lossShift: number;
  /** k × dim fixed-point coordinate sums. */
  sums: BigInt64Array;
  /** k row counts. */
  counts: Float64Array;
  /** k fixed-point sums of the distances. */
  clusterLoss: BigInt64Array;
  /** k largest distances seen. */
  radius: Float32Array;
}

/** Options of {@link Kernels.pqAssign}. */
export interface PqAssignOptions {
  /** n × M codes (row-major); allocated when absent. */
  outIndex?: Int32Array;
  /** n × M squared sub-space distances; allocated when absent. */
  outDist?: Float32Array;
}

/**
 * Per-row state of {@link Kernels.assignAccumulateBounded} for one fixed set of rows, kept by the caller
 * across Lloyd iterations (src/train/partial.ts manages it). Centroids form G = ⌈k / groupSize⌉ groups
 * (consecutive entries of `order`).
 */
export interface AssignBounds {
  /** Centroids per bound group: a positive multiple of 8. */
  groupSize: number;
  /** k values, a permutation of 0 .. k−1: group g holds centroids order[g·groupSize ..]. Groups of nearby
   *  centroids give tighter bounds. Default: identity. */
  order?: Int32Array;
  /** n values: the centroid each row chose last time; −1 = no bounds (the row takes the full assignment). */
  assign: Int32Array;
  /** n × G: a lower bound on the true Euclidean distance from row i to every centroid of group g other than
   *  assign[i], as the centroids were at epoch[i·G + g]. */
  lower: Float32Array;
  /** n × G: the epoch of each bound (a row of `decay`); the bounds a call stores get `now`. */
  epoch: Uint8Array;
  /** 256 × G: decay[e·G + g] ≥ the largest distance any centroid of group g moved from epoch e to this call
   *  (true Euclidean, rounded up), +Inf for an epoch not in use. The caller keeps it: src/train/partial.ts
   *  measures it from kept centroids, or chains the movements of the steps in between. */
  decay: Float64Array;
  /** The epoch (0 .. 255) of this call's centroids; decay[now·G ..] is 0. */
  now: number;
  /** n values, each ≥ ‖x_i‖ and close to it (for the rounding margin; partial.ts widens the kernels' f32 norms). */
  xnorm: Float64Array;
  /** An upper bound on ‖c‖ over the centroids of the call. */
  cmax: number;
}

/** The per-call fields of {@link AssignBounds} (what a {@link BoundedSession} step reads). */
export type BoundsPlan = Pick<AssignBounds, 'groupSize' | 'order' | 'decay' | 'now' | 'cmax'>;

/** Where a {@link BoundedSession} starts: the group size, and optionally per-row state of an {@link AssignBounds}
 *  (absent: no bounds yet, every row takes the full assignment first; `xnorm` absent: from the rows' f32 norms,
 *  √‖x‖² · (1 + (dim + 2)·2⁻²⁴), an upper bound as the margin needs). */
export type BoundsStart = Pick<AssignBounds, 'groupSize'> & Partial<Pick<AssignBounds, 'assign' | 'lower' | 'epoch' | 'xnorm'>> & {
  /** One bound per (row, centroid) instead of per group (Elkan-style; n·k u16 in the session, no per-row start
   *  state; the bounds stay in centroid-id order): each step measures how far every centroid moved since the last
   *  one and packs the centroids by that movement, largest first, so a row computes only the blocks up to the last
   *  one it cannot rule out (one SIMD pass over its bounds finds it). For
   *  steps without bias; best when the 16-bit filter applies (rows of ≥ 256 values). */
  pairs?: boolean;
};

/** Options of a {@link BoundedSession} step. */
export interface BoundedStepOptions {
  /** Compute every row in full, whatever its bounds say (the cost of a plain filtered step), renewing all its
   *  bounds: a step before bounds pay for themselves that still leaves them ready for the next one. Such a step
   *  takes the 8-bit stage from 256 centroids (`Q8_FULL_MIN_K`) where it runs natively (its bounds are then looser). */
  full?: boolean;
}

/**
 * State of {@link Kernels.boundedSession}: one shard's rows and the per-row fields of its {@link AssignBounds}
 * (assign, lower, epoch, xnorm) held in wasm memory between steps, so a step copies no row in or out.
 */
export interface BoundedSession {
  readonly n: number;
  /** Whether the session keeps one bound per (row, centroid) ({@link BoundsStart.pairs}). */
  readonly pairs: boolean;
  /** {@link Kernels.assignAccumulateBounded} over the session's rows with the per-row state held here: from
   *  `bounds` only groupSize (the session's), order, decay, now and cmax are read, and its arrays are not
   *  written. Same bits as that call. A pairs session reads only cmax (its order and decay are its own) and
   *  takes no bias. */
  step(centroids: Float32Array, acc: Accumulators, bounds: BoundsPlan, opts?: Pick<AssignOptions, 'outIndex' | 'outDist' | 'bias'> & BoundedStepOptions): BoundedInfo;
  /** Copies the per-row state out into `bounds`' assign, lower and epoch (not for a pairs session). */
  read(bounds: AssignBounds): void;
  /** Copies `bounds`' per-row arrays in (after the caller changed them; not for a pairs session). */
  write(bounds: AssignBounds): void;
  /** A pairs session's state, copied out (for checks; bounds decoded from their u16 units): for every row i with assign[i] ≥ 0 and centroid c ≠ assign[i],
   *  lower[i·k + c] − dcum[c] ≤ the true distance from row i to c as of the last step. */
  readPairs(): { assign: Int32Array; lower: Float32Array; dcum: Float64Array };
  /** Ends the session: its wasm memory goes to the next session opened (whose rows then land in pages already
   *  mapped), and every later call on this one throws (`invalid-state`). Idempotent; a session never closed is
   *  left to the garbage collector. */
  close(): void;
}

/** What {@link Kernels.assignAccumulateBounded} skipped and computed. */
export interface BoundedInfo {
  /** Rows whose bounds settled them with one distance. */
  skipped: number;
  /** (row, 8-centroid block) distance blocks computed. */
  blocks: number;
}

/** Codes per sub-space in {@link PqBounds.top} (a multiple of 4). */
export const PQ_TOP = 8;

/**
 * Per-(row, sub-space) state of {@link Kernels.pqAssignAccumulateBounded}, kept by the caller across the
 * Lloyd iterations of one shard (n rows, m sub-spaces).
 */
export interface PqBounds {
  /** n × m: the code chosen by the last call, −1 when the pair has no bound yet (it then takes the full search). */
  assign: Int32Array;
  /** n × m: a lower bound on the true Euclidean distance from the sub-vector to every other code of its
   *  sub-space in the codebook of the last call. */
  lower: Float32Array;
  /** Input, m × 3 (f64) per sub-space, measured from the last call's codebook to this one (true Euclidean,
   *  rounded up): the largest code drift, the largest drift of the other codes, the index of the code
   *  with the largest drift. NaN or +Inf in the first two makes every pair of that sub-space search again. */
  drift: Float64Array;
  /** Optional input, m × {@link PQ_TOP}: per sub-space the codes with the largest drifts (−1 = unused). A pair that fails
   *  the bound test above gets a second chance: its bound lowered by `restDrift` (the largest drift of the
   *  codes not listed) plus the exact sums of the listed codes, so a few fast-moving codes do not force a
   *  full search. Needs `restDrift`. */
  top?: Int32Array;
  /** Optional input, m (f64): per sub-space the largest drift of the codes not in `top` (rounded up; NaN or
   *  +Inf disables the second chance). */
  restDrift?: Float64Array;
  /** Optional, 256 codes only: group bounds (Yinyang-style). When present, `lower`, `drift`, `top` and
   *  `restDrift` are neither read nor written. */
  groups?: PqGroupBounds;
}

/** State of {@link Kernels.pqGroupSession}: starts with no codes (the first step searches every pair). */
export interface PqGroupSession {
  readonly n: number;
  /** One step: `drift` (m × 16, f64) = each group's largest code drift since the last step's codebook (ignored on
   *  the first step). Same accumulators as `pqAssignAccumulate`, bit for bit; returns the pairs that skipped the search. */
  step(codebook: Float32Array, acc: Accumulators, drift: Float64Array, opts?: PqAssignOptions & { margin?: 0 | 1 }): number;
  /** Copies of the state, for tests: the codes (n × m, −1 = none) and the group bounds (n × m × 16, bfloat16 bits). */
  state(): { assign: Int32Array; lower: Uint16Array };
  /** Ends the session as {@link BoundedSession.close} does. */
  close(): void;
}

/** Codes per group in {@link PqGroupBounds}; 256 codes make {@link PQ_GROUPS} groups. */
export const PQ_GROUP_SIZE = 16;
export const PQ_GROUPS = 16;

/**
 * Group bounds of {@link PqBounds}: per sub-space the 256 codes are split into 16 groups of 16 by `perm`,
 * and every (row, sub-space) pair keeps one lower bound per group, so a pair whose code may change searches
 * only the groups that could hold a better code. Results are bit-identical to the brute-force search.
 */
export interface PqGroupBounds {
  /** m × 256: per sub-space a permutation of 0..255; group g is codes perm[16g .. 16g + 15] (put nearby codes together). */
  perm: Int32Array;
  /** n × m × 16: a lower bound on the true Euclidean distance from the sub-vector to every code of group g
   *  except the pair's code (`assign`), in the codebook of the last call, as bfloat16 bits (the upper half of
   *  the f32, truncated: rounded down). */
  lower: Uint16Array;
  /** Input, m × 16 (f64): per group the largest code drift from the last call's codebook to this one (true
   *  Euclidean, rounded up; NaN or +Inf makes the group's bounds 0). */
  drift: Float64Array;
}

/** Result of {@link Kernels.sqBounds}. `rows` counts the finite rows that contributed. */
export interface SqBoundsResult {
  lower: number;
  upper: number;
  rows: number;
}

/**
 * The numeric kernels every training and encoding step runs on. Each method takes plain typed arrays of
 * any length; `n = data.length / dim`. The wasm builds copy inputs into their own memory in bounded
 * blocks, so their memory stays small whatever the input. Output arrays may be passed in.
 */
export interface Kernels {
  readonly build: KernelBuild;
  /** True when a plain l2 {@link Kernels.assign} (no second/all outputs; a bias only if every value is ≥ 0 and finite) of rows of `dim` values to
   *  `k` centroids first estimates every distance with 16-bit integer dots (twice the f32 throughput), then
   *  computes exactly the centroids the estimates cannot rule out: the same bits either way. The rows that
   *  {@link Kernels.assignAccumulateBounded} computes in full take the filter under the same rule;
   *  their group bounds then come from the estimates. */
  filtersPlain(dim: number, k: number): boolean;
  /** Counters of the 16-bit filter since the kernels were made: rows assigned through it (plain and bounded calls), rows that needed
   *  exact distances to several near centroids, and row blocks sent whole to the f32 kernel (non-finite or
   *  out-of-range values); `eight`: rows that took the dot8 and relaxed builds' 8-bit first stage (where the engine runs
   *  relaxed SIMD's 8-bit dot-add natively, or with `qFilter: 'on'`). Absent for builds without the filter. */
  readonly filterStats?: { rows: number; exact: number; fallbacks: number; eight: number };
  /** ‖q − b_i‖² for every row b_i of `base`; with several queries (q of nq·dim values), nq × n values,
   *  query-major (out[j·n + i] = ‖q_j − b_i‖², each the bits of the one-query call). */
  l2Many(q: Float32Array, base: Float32Array, dim: number, out?: Float32Array): Float32Array;
  /** q · b_i for every row b_i of `base`; several queries as {@link Kernels.l2Many}. */
  dotMany(q: Float32Array, base: Float32Array, dim: number, out?: Float32Array): Float32Array;
  /** ‖x_i‖² for every row. */
  sqNorms(data: Float32Array, dim: number, out?: Float32Array): Float32Array;
  /** How far each group of centroids moved: for every earlier set p in `previous` (each k × dim, like
   *  `centroids`) and group g of `groupSize` centroids (order[g·groupSize ..], identity when absent), the
   *  largest Σ_j (c_ij − p_ij)² over the group in f64 (two lane sums, even and odd j, folded s0 + s1: the
   *  same bits in every build; NaN when one is NaN). previous.length × G values (G = ⌈k / groupSize⌉). */
  groupDrift(centroids: Float32Array, previous: readonly Float32Array[], dim: number, groupSize: number, order?: Int32Array): Float64Array;
  /** A permutation of the k centroids into groups of `groupSize` nearby ones (for {@link AssignBounds.order}):
   *  recursive halving at multiples of groupSize along each part's principal direction (3 power iterations in f64
   *  from a fixed start), ties by id. The same permutation in every build (src/kernels/order.ts). */
  centroidOrder(centroids: Float32Array, dim: number, groupSize: number): Int32Array;
  /** x / ‖x‖ for every row; a zero row becomes a NaN row (then dropped as non-finite, as Lance). */
  normalize(data: Float32Array, dim: number, out?: Float32Array): Float32Array;
  /** mask[i] = 1 when every value of row i is finite; `count` = number of such rows. */
  finiteMask(data: Float32Array, dim: number, out?: Uint8Array): { mask: Uint8Array; count: number };
  /** The largest |x| over the finite values of `data` (NaN and ±Inf ignored; 0 when there is none). */
  maxAbs(data: Float32Array): number;
  /** Nearest centroid. metric 'l2': squared L2 (‖x‖²+‖c‖²−2x·c allowed, clamped ≥ 0); 'dot': 1 − x·c.
   *  Selection minimises dist + bias[j] (bias optional, Lance's balance term); outDist is the unbiased
   *  distance. Ties → lowest index. A row whose distances are all NaN gets index −1 and dist NaN. */
  assign(data: Float32Array, dim: number, centroids: Float32Array, opts?: AssignOptions): AssignResult;
  /** k-means accumulation in exact fixed point: for rows with index[i] ≥ 0,
   *  sums[index[i]·dim + j] += nearest(f64(x_ij) · 2^shift) (as i64; nearest = ties-to-even, wasm f64.nearest),
   *  counts[index[i]] += 1, clusterLoss[index[i]] += nearest(f64(dist[i]) · 2^lossShift),
   *  radius[c] = max(radius[c], dist[i]). Integer sums make the reduction order-free: any split into
   *  shards/threads, merged in any order, gives the same bits. */
  accumulate(data: Float32Array, dim: number, index: Int32Array, dist: Float32Array, acc: Accumulators): void;
  /** {@link Kernels.assign} then {@link Kernels.accumulate} of the same rows into `acc` (k clusters of `dim`)
   *  in one pass: the wasm builds copy each row block in once and keep the accumulators in their memory
   *  for the whole call. `opts.outIndex` / `opts.outDist` are filled when given. Same bits as the two calls. */
  assignAccumulate(data: Float32Array, dim: number, centroids: Float32Array, acc: Accumulators, opts?: AssignOptions): void;
  /** {@link Kernels.assignAccumulate} for 'l2' (with or without `opts.bias`) with exact distance bounds: a
   *  group of centroids is skipped for a row when `bounds` prove, with a margin for the kernel's f32
   *  rounding, that none of them can reach the row's selection value (distance + bias) of `bounds.assign[i]`.
   *  Index, distance and accumulators are the same bits as brute force; `bounds.assign` and `bounds.lower`
   *  are updated for the next call. `data` must not change between calls with the same array (the wasm builds
   *  keep the last call's sums per array and move only the rows whose centroid changed): pass a new array, or
   *  copy, after changing rows in place. */
  assignAccumulateBounded(data: Float32Array, dim: number, centroids: Float32Array, acc: Accumulators, bounds: AssignBounds,
    opts?: Pick<AssignOptions, 'outIndex' | 'outDist' | 'bias'>): BoundedInfo;
  /** A {@link BoundedSession} over `data` (copied once: it must not change afterwards) for k centroids, from
   *  `start`. The session also keeps each row's ‖x‖² (f32), so steps do not compute it again. Its memory (a
   *  separate wasm instance) goes when the session is dropped. Undefined when sessions are unavailable (as
   *  {@link Kernels.pqGroupSession}), or for no rows. */
  boundedSession?(data: Float32Array, dim: number, k: number, start: BoundsStart): BoundedSession | undefined;
  /** {@link Kernels.pqAssign} then accumulation of every sub-vector (row i, sub-space s) into cluster
   *  `s·ksub + code` of `acc` (k = m·ksub clusters of dim/m), in one pass. `opts.outIndex` / `opts.outDist`
   *  (codes within the sub-space, as pqAssign) are filled when given. Same bits as the two steps. */
  pqAssignAccumulate(data: Float32Array, dim: number, codebook: Float32Array, m: number, ksub: number, acc: Accumulators,
    opts?: PqAssignOptions): void;
  /** {@link Kernels.pqAssignAccumulate} with distance bounds: a (row, sub-space) pair whose previous code
   *  provably stays the nearest after `bounds.drift` (with a margin covering every f32 rounding) gets only
   *  its distance to that code; every other pair takes the full search and refreshes its bound. Codes,
   *  distances and accumulators are those of `pqAssignAccumulate`, bit for bit (relaxed build: within
   *  its tolerance). Updates `bounds.assign` / `bounds.lower`; returns the pairs that skipped the search.
   *  `margin` is a test hook (0 drops the rounding margins; never use it otherwise). */
  pqAssignAccumulateBounded(data: Float32Array, dim: number, codebook: Float32Array, m: number, ksub: number, acc: Accumulators,
    bounds: PqBounds, opts?: PqAssignOptions & { margin?: 0 | 1 }): number;
  /** The group-bounds PQ step (256 codes, as `pqAssignAccumulateBounded` with `bounds.groups`) with its state —
   *  the rows (copied once, so `data` must not change afterwards), codes and group bounds — kept in wasm
   *  memory of a separate instance between steps, so a step copies nothing per row; that memory goes when
   *  the session is dropped. Undefined when sessions are unavailable (reference build, kernels made without
   *  their module, a browser main thread that refuses synchronous instantiation, or memory that cannot grow
   *  to hold the state). */
  pqGroupSession?(data: Float32Array, dim: number, m: number, perm: Int32Array): PqGroupSession | undefined;
  /** PQ: nearest code in each of M sub-spaces for every row, all sub-spaces in one pass.
   *  codebook flat [m][c][j], c < ksub (16 or 256). outIndex/outDist are n × M (row-major). */
  pqAssign(data: Float32Array, dim: number, codebook: Float32Array, m: number, ksub: number,
    opts?: PqAssignOptions): AssignResult;
  /** PQ encoding: 8-bit → n × M bytes; 4-bit → n × M/2 bytes, even sub-vector in the low nibble. NaN → code 0. */
  pqEncode(data: Float32Array, dim: number, codebook: Float32Array, m: number, nbits: 4 | 8, out?: Uint8Array): Uint8Array;
  /** Global min / max over all values of rows whose values are all finite. */
  sqBounds(data: Float32Array, dim: number): SqBoundsResult;
  /** Lance: trunc((v − lo)·255/(hi − lo)) clamped to 0..255, NaN → 0, lo == hi → 0. */
  sqEncode(data: Float32Array, lower: number, upper: number, out?: Uint8Array): Uint8Array;
}

declare global {
  /** The WebAssembly types ivfkit's signatures name, for TypeScript projects without the DOM lib (Node-only ones,
   *  whose @types/node does not declare them); with the DOM lib these merge into its declarations. */
  namespace WebAssembly {
    interface Module {}
    interface Instance {}
    interface Memory {}
  }
}
