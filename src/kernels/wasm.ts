import { expect, IvfkitError, rowsOf } from '../util/errors.js';
import { ORDER_POWER_STEPS, orderByHalving } from './order.js';
import { pow2 } from './reference.js';
import { PQ_GROUPS, PQ_TOP, type PqGroupSession, type Accumulators, type AssignBounds, type BoundedSession, type AssignOptions, type AssignResult, type BoundedInfo, type Kernels, type PqAssignOptions, type PqBounds,
  type SqBoundsResult } from './types.js';
import { checkAccumulate, checkAccumulators, checkAssign, checkBounds, checkBoundsBias, checkBoundsPlan, checkCentroidOrder, checkDrift, checkGroupPerm, checkPq, checkPqBounds, checkQuery, f32, normUp, outF32, outI32, outU8, roundUp32 } from './validate.js';

/** Bytes of input rows copied into wasm memory per kernel call (larger inputs are processed in blocks). */
export const DEFAULT_BLOCK_BYTES = 4 * 1024 * 1024;

/** Raw exports of assembly/index.ts (pointer + length ABI). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  sqNorms(x: number, n: number, d: number, out: number): void;
  groupDrift(c: number, p: number, k: number, d: number, ord: number, gs: number, out: number): void;
  orderSplit(c: number, order: number, lo: number, hi: number, d: number, w: number, mean: number, dir: number, next: number, proj: number, its: number): void;
  l2Many(q: number, x: number, n: number, d: number, out: number): void;
  dotMany(q: number, x: number, n: number, d: number, out: number): void;
  normalize(x: number, n: number, d: number, out: number): void;
  finiteMask(x: number, n: number, d: number, mask: number): number;
  maxAbs(x: number, n: number): number;
  packCentroids(c: number, k: number, d: number, packed: number, cn: number, bias: number, biasOut: number): void;
  assignRows(x: number, n: number, d: number, packed: number, kb: number, cn: number, bias: number, metric: number,
    scratch: number, outIndex: number, outDist: number, k: number, outSecond: number, outAll: number): void;
  packCentroidsQ(packed: number, kb: number, d: number, k: number, cn: number, qc: number, cnq: number, info: number): number;
  assignRowsQ(x: number, n: number, d: number, packed: number, kb: number, cn: number, k: number, qc: number, cnq: number, info: number,
    scratch: number, outIndex: number, outDist: number, est: number, bias: number): number;
  assignQCentroidBytes(kb: number, d: number): number;
  packCentroidsQ8(packed: number, kb: number, d: number, k: number, qc: number, q8: number, info8: number): number;
  assignRowsQ8(x: number, n: number, d: number, packed: number, kb: number, cn: number, k: number, cnq: number, info: number,
    q8: number, info8: number, scratch: number, outIndex: number, outDist: number, est: number, bias: number): number;
  assignQ8CentroidBytes(kb: number, d: number, k: number): number;
  assignQ8ScratchBytes(n: number, d: number, kb: number): number;
  probeQ8(reps: number, eight: number): number;
  assignQScratchBytes(n: number, d: number): number;
  prepareRows(x: number, n: number, d: number, xsq: number, qr: number, meta: number, r8: number, m8: number): void;
  boundedScratchBytes(n: number, G: number, kb: number, k: number, d: number): number;
  assignBounded(x: number, n: number, d: number, packed: number, kb: number, cn: number, bias: number, ord: number, pos: number, k: number,
    gsz: number, G: number,
    assign: number, lower: number, epoch: number, decay: number, now: number, xnorm: number, cmax: number, scratch: number, outIndex: number, outDist: number,
    info: number, qc: number, cnq: number, qinfo: number, qRun: number, xsq: number, full: number, qr: number, meta: number, cs: number,
    q8: number, info8: number, r8: number, m8: number): void;
  pairsScratchBytes(n: number, kb: number, d: number): number;
  centroidDrift(cur: number, prev: number, k: number, d: number, dcum: number, drift: number): void;
  assignPairs(x: number, n: number, d: number, packed: number, kb: number, cn: number, ord: number, pos: number, k: number,
    assign: number, lower: number, unit: number, dcum: number, raw: number, xnorm: number, cmax: number, scratch: number, outIndex: number, outDist: number,
    info: number, qc: number, cnq: number, qinfo: number, xsq: number, full: number, qr: number, meta: number, q8: number, info8: number,
    r8: number, m8: number): void;
  accumulate(x: number, n: number, d: number, index: number, dist: number, scale: number, lossScale: number,
    sums: number, counts: number, loss: number, radius: number): void;
  pqTranspose(cb: number, m: number, ksub: number, ds: number, out: number): void;
  pqAccumulate(x: number, n: number, d: number, m: number, ksub: number, index: number, dist: number, scale: number, lossScale: number,
    sums: number, counts: number, loss: number, radius: number): void;
  pqAccumulateDelta(x: number, n: number, d: number, m: number, ksub: number, index: number, prev: number, scale: number, sums: number): number;
  pqAccumulateStats(n: number, m: number, ksub: number, index: number, dist: number, lossScale: number,
    counts: number, loss: number, radius: number): void;
  addI64(dst: number, src: number, len: number): void;
  pqPrepare(cb: number, m: number, ksub: number, ds: number, t2: number, cn: number, cnmax: number): void;
  pqAssign(x: number, n: number, d: number, m: number, ksub: number, t: number, cb: number, t2: number, cn: number, cnmax: number,
    scratch: number, outIndex: number, outDist: number): void;
  pqAssignBounded(x: number, n: number, d: number, m: number, ksub: number, t: number, cb: number, t2: number, cn: number, cnmax: number,
    scratch: number, outIndex: number, outDist: number, sAssign: number, sLower: number, drift: number,
    lists: number, cnt: number, packed: number, pIdx: number, pDist: number, pLb: number, margin: number,
    top: number, rest: number, topT: number, nt: number): number;
  pqAssignGrouped(x: number, n: number, d: number, m: number, cb: number, cbq: number, ts: number, t2: number, cn: number, cnmax: number,
    perm: number, inv: number, scratch: number, outIndex: number, outDist: number, sAssign: number, gl: number, gd: number,
    lists: number, cnt: number, packed: number, pIdx: number, pDist: number, pLb: number, pGl: number, margin: number): number;
  pqCodes8(idx: number, len: number, out: number): void;
  pqCodes4(idx: number, len: number, out: number): void;
  sqBounds(x: number, n: number, d: number, bounds: number): number;
  sqEncode(x: number, len: number, lower: number, upper: number, out: number): void;
}

/** Bytes of input rows per block in `sqBounds` (at most `blockBytes`). */
export const SQ_BOUNDS_BLOCK_BYTES = 64 * 1024;

const PAGE = 65536;

/**
 * Per module, the instance of the last closed session ({@link BoundedSession.close}, {@link PqGroupSession.close}): the
 * next session takes it, and with it memory whose pages are mapped already (a new instance's pages fault on first touch,
 * ~3.5 ms per MB on the 2-core hosts measured: a session over 32 MB of rows paid ~0.2 s; a training with hierarchical
 * sub-runs, IVF and PQ opens dozens). Held weakly: an idle spare does not keep its memory alive. A session reads
 * no byte it has not written (tests: a session on a reused instance gives the bits of one on a new instance), so the
 * old bytes are left as they are.
 */
const spareInstances = new WeakMap<WebAssembly.Module, WeakRef<WebAssembly.Instance>>();

/** Sessions' instances: new or taken from {@link spareInstances} (tests read it). */
export const sessionInstances = { created: 0, reused: 0 };

function sessionInstance(module: WebAssembly.Module): WebAssembly.Instance | undefined {
  const spare = spareInstances.get(module)?.deref();
  spareInstances.delete(module);
  if (spare) {
    sessionInstances.reused++;
    return spare;
  }
  try {
    const own = new WebAssembly.Instance(module, {});
    sessionInstances.created++;
    return own;
  } catch {
    return undefined;
  }
}

/** A session's check that it is still open, and its close: the instance goes to the next session opened. */
function sessionLife(module: WebAssembly.Module, own: WebAssembly.Instance, name: string): { open(): void; close(): void } {
  let closed = false;
  return {
    open() {
      if (closed) throw new IvfkitError('invalid-state', `${name}: expected an open session, got a closed one (close() was called)`);
    },
    close() {
      if (closed) return;
      closed = true;
      spareInstances.set(module, new WeakRef(own));
    },
  };
}

/**
 * Per-call bump arena over one instance's memory: `reset()` at the start of a call, `alloc()` every
 * region the call needs (memory grows as needed, never shrinks), then take views (views taken before
 * an `alloc` may be detached by growth).
 */
class Arena {
  private top: number;
  private readonly base: number;
  constructor(private readonly ex: KernelExports) {
    this.base = (ex.heapBase() + 15) & ~15;
    this.top = this.base;
  }
  reset(): void {
    this.top = this.base;
  }
  mark(): number {
    return this.top;
  }
  release(mark: number): void {
    this.top = mark;
  }
  alloc(bytes: number): number {
    const p = this.top;
    const end = p + ((bytes + 15) & ~15);
    const have = this.ex.memory.buffer.byteLength;
    if (end > have) this.ex.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return p;
  }
  get buffer(): ArrayBuffer {
    return this.ex.memory.buffer as ArrayBuffer;
  }
  f32(p: number, len: number): Float32Array { return new Float32Array(this.buffer, p, len); }
  i32(p: number, len: number): Int32Array { return new Int32Array(this.buffer, p, len); }
  u8(p: number, len: number): Uint8Array { return new Uint8Array(this.buffer, p, len); }
  u16(p: number, len: number): Uint16Array { return new Uint16Array(this.buffer, p, len); }
  f64(p: number, len: number): Float64Array { return new Float64Array(this.buffer, p, len); }
  i64(p: number, len: number): BigInt64Array { return new BigInt64Array(this.buffer, p, len); }
}

/** Rows per pqAssignGrouped call in a PQ session: a block's rows and bounds stay in cache between the tests and
 *  the full searches of its sub-spaces (2,048: 3.1–3.4 s on workload B, 3.4–3.6 s with all rows in one call). */
const SESSION_ROWS = 2048;

/** Base rows per block when several queries pass over them (l2Many / dotMany): about half of a core's L2. */
const MANY_BLOCK_BYTES = 256 * 1024;

/** Rows at least this long take the 16-bit filter in plain l2 assignment ('auto'). */
export const Q_FILTER_MIN_DIM = 64;
/** …and at least this many centroids. */
export const Q_FILTER_MIN_K = 16;
/**
 * A call without a session ('auto') rounds its rows for the filter every time: it takes the filter from this many
 * centroids. Best of 5, one call over 4–8 MB of rows, filter ÷ f32 kernel, d 64–768 (Node 20 SIMD, Node 24 dot8):
 * k 16 1.6–1.9, k 32 1.1–1.6, k 64 0.9–1.25, k 128 0.74–1.11, k 256 0.66–0.78 (a session, whose rows are rounded
 * once, gains from k 64: kmeans 20 iterations 0.83–0.99 at k 64, 0.94–1.22 at k 16).
 */
export const Q_FILTER_CALL_MIN_K = 128;
/**
 * …and its 8-bit first stage (dot8 and relaxed builds, where the engine runs the 8-bit dot natively) at least this many
 * centroids ('auto'). Its tile costs half the 16-bit one, but the rows it leaves undecided (most of them in k-means,
 * whose centroids sit close together) pay for 16-bit dots of ~30 window slots, its estimates leave looser bounds, and
 * outside a bounded session its rows are rounded again on every call: measured under Node 24 in one process, k-means with k 1,024 ran 12–27 %
 * faster (d 128; d 64: 31–42 %; workload E, d 768: 25–40 %), with k 512 at d 64 6–18 %; with k 256 from 13 % faster
 * (Fashion-MNIST) to 10–40 % slower (A) — since sessions keep their rows rounded, A 5–6 % slower, Fashion-MNIST
 * 0.78–1.16×, d 768 0.97–1.14×, d 64 1.0–1.47×: not a robust gain.
 */
export const Q8_MIN_K = 512;
/**
 * …but from this many centroids in a bounded session's steps that compute every row in full (the steps before the
 * bounds start; the session keeps its rows rounded, so only the tiles and the windows remain): one such step of
 * workload A (k 256, d 128) 192 → 140 ms, Fashion-MNIST (k 256, d 784) 750–900 → 475–485 ms, best of 7 under
 * Node 24. The next bounded step starts from the 8-bit estimates' looser bounds (A: 6 % more blocks in that step,
 * 0.5 % over the run); bounded steps themselves keep Q8_MIN_K (with 8-bit, A's later steps ran 1.5–2× slower).
 */
export const Q8_FULL_MIN_K = 256;
/** When plain l2 assignment uses the 16-bit filter: 'auto' by size, 'on' always (SIMD builds), 'off' never. */
export type QFilter = 'auto' | 'on' | 'off';

/** Whether plain l2 assignment of `dim`-value rows to k centroids takes the 16-bit filter (`minK`: a session's threshold, or
 *  Q_FILTER_CALL_MIN_K for a call that rounds its own rows). */
export function filterApplies(build: 'simd' | 'dot8' | 'relaxed' | 'scalar', qFilter: QFilter, dim: number, k: number,
  minK = Q_FILTER_MIN_K): boolean {
  return build !== 'scalar' && (qFilter === 'on' || (qFilter === 'auto' && dim >= Q_FILTER_MIN_DIM && k >= minK));
}

/**
 * Whether the engine runs relaxed SIMD's 8-bit dot-add natively: the filter's 4 × 8 tile takes the same instructions
 * with it (twice the multiply-adds) as with the 16-bit pair, so a native engine times them alike (Node 24: 0.77,
 * Deno 2.9: 0.85) and an emulating one about 1.7–1.9× slower (Node 20 with its flag, Bun 1.4). Best of 3 alternating
 * calls of ~1 ms each, after one warm-up call of each.
 */
function dot8Native(ex: KernelExports): boolean {
  const time = (eight: number): number => { const t = performance.now(); ex.probeQ8(2000, eight); return performance.now() - t; };
  time(1); time(0);
  let t8 = Infinity, t16 = Infinity;
  for (let i = 0; i < 3; i++) { t8 = Math.min(t8, time(1)); t16 = Math.min(t16, time(0)); }
  return t8 < 1.25 * t16;
}

/** Wraps one wasm instance as {@link Kernels}. `blockBytes` bounds the rows copied in per step. */
export function createWasmKernels(instance: WebAssembly.Instance, build: 'simd' | 'dot8' | 'relaxed' | 'scalar',
  blockBytes = DEFAULT_BLOCK_BYTES, module?: WebAssembly.Module, qFilter: QFilter = 'auto'): Kernels {
  const ex = instance.exports as unknown as KernelExports;
  const ar = new Arena(ex), arena = ar;
  // The dot8 and relaxed builds' 8-bit first stage, where the engine runs its dot-add natively (qFilter 'on': always);
  // probed on first use.
  let dot8Known: boolean | undefined;
  const dot8 = (): boolean => (dot8Known ??= (build === 'dot8' || build === 'relaxed') && qFilter !== 'off' && (qFilter === 'on' || dot8Native(ex)));
  const eightFor = (k: number): boolean => (qFilter === 'on' || k >= Q8_MIN_K) && dot8();
  const eightFull = (k: number): boolean => eightFor(k) || (k >= Q8_FULL_MIN_K && dot8());
  const keptSums = new WeakMap<AssignBounds, { data: Float32Array; k: number; dim: number; shift: number; changed: number; fresh: boolean;
    sums: BigInt64Array; prev: Int32Array }>();
  const rowsPerBlock = (dim: number, align = 1): number => {
    const r = Math.max(align, Math.floor(blockBytes / (dim * 4)));
    return r - (r % align);
  };

  /** Runs `fn` over row blocks [a, b) of at most `rows` rows. */
  const blocks = (n: number, rows: number, fn: (a: number, b: number) => void): void => {
    for (let a = 0; a < n; a += rows) fn(a, Math.min(n, a + rows));
  };

  const filterStats = { rows: 0, exact: 0, fallbacks: 0, eight: 0 };
  return {
    build,
    filtersPlain: (dim, k) => filterApplies(build, qFilter, dim, k),
    ...(build === 'scalar' ? {} : { filterStats }),

    l2Many(q, base, dim, out) { return many(q, base, dim, out, ex.l2Many); },
    dotMany(q, base, dim, out) { return many(q, base, dim, out, ex.dotMany); },

    sqNorms(data, dim, out) {
      const n = rowsOf(data, dim);
      const o = outF32(out, n, 'out');
      const R = rowsPerBlock(dim);
      ar.reset();
      const xp = ar.alloc(Math.min(n, R) * dim * 4), op = ar.alloc(Math.min(n, R) * 4);
      blocks(n, R, (a, b) => {
        ar.f32(xp, (b - a) * dim).set(data.subarray(a * dim, b * dim));
        ex.sqNorms(xp, b - a, dim, op);
        o.set(ar.f32(op, b - a), a);
      });
      return o;
    },

    groupDrift(centroids, previous, dim, groupSize, order) {
      const { k, G } = checkDrift(centroids, previous, dim, groupSize, order);
      const out = new Float64Array(previous.length * G);
      if (previous.length === 0) return out;
      const len = centroids.length;
      ar.reset();
      const cp = ar.alloc(len * 4), pp = ar.alloc(len * 4), ordp = ar.alloc(k * 4), op = ar.alloc(G * 8);
      ar.f32(cp, len).set(centroids);
      const ov = ar.i32(ordp, k);
      if (order) ov.set(order); else for (let p = 0; p < k; p++) ov[p] = p;
      previous.forEach((p, e) => {
        ar.f32(pp, len).set(p);
        ex.groupDrift(cp, pp, k, dim, ordp, groupSize, op);
        out.set(ar.f64(op, G), e * G);
      });
      return out;
    },

    centroidOrder(centroids, dim, groupSize) {
      const k = checkCentroidOrder(centroids, dim, groupSize);
      ar.reset();
      const cp = ar.alloc(k * dim * 4), op = ar.alloc(k * 4), wp = ar.alloc(k * dim * 8), mp = ar.alloc(dim * 8), dp = ar.alloc(dim * 8);
      const np = ar.alloc(dim * 8), pp = ar.alloc(k * 8);
      ar.f32(cp, k * dim).set(centroids);
      const proj = ar.f64(pp, k);
      const order = orderByHalving(k, groupSize, ar.i32(op, k), (lo, hi) => {
        ex.orderSplit(cp, op, lo, hi, dim, wp, mp, dp, np, pp, ORDER_POWER_STEPS);
        return proj;
      });
      return order.slice();
    },

    normalize(data, dim, out) {
      const n = rowsOf(data, dim);
      const o = outF32(out, data.length, 'out');
      const R = rowsPerBlock(dim);
      ar.reset();
      const xp = ar.alloc(Math.min(n, R) * dim * 4);
      blocks(n, R, (a, b) => {
        ar.f32(xp, (b - a) * dim).set(data.subarray(a * dim, b * dim));
        ex.normalize(xp, b - a, dim, xp);
        o.set(ar.f32(xp, (b - a) * dim), a * dim);
      });
      return o;
    },

    finiteMask(data, dim, out) {
      const n = rowsOf(data, dim);
      const mask = outU8(out, n, 'out');
      const R = rowsPerBlock(dim);
      ar.reset();
      const xp = ar.alloc(Math.min(n, R) * dim * 4), mp = ar.alloc(Math.min(n, R));
      let count = 0;
      blocks(n, R, (a, b) => {
        ar.f32(xp, (b - a) * dim).set(data.subarray(a * dim, b * dim));
        count += ex.finiteMask(xp, b - a, dim, mp);
        mask.set(ar.u8(mp, b - a), a);
      });
      return { mask, count };
    },

    maxAbs(data) {
      expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data);
      const R = Math.max(8, Math.floor(blockBytes / 4));
      if (data.length === 0) return 0;
      ar.reset();
      const xp = ar.alloc(Math.min(data.length, R) * 4);
      let m = 0;
      blocks(data.length, R, (a, b) => {
        ar.f32(xp, b - a).set(data.subarray(a, b));
        m = Math.max(m, ex.maxAbs(xp, b - a));
      });
      return m;
    },

    assign(data, dim, centroids, opts: AssignOptions = {}): AssignResult {
      const { n, k, metric } = checkAssign(data, dim, centroids, opts);
      const index = outI32(opts.outIndex, n, 'outIndex');
      const dist = outF32(opts.outDist, n, 'outDist');
      const second = opts.outSecond ? outF32(opts.outSecond, n, 'outSecond') : undefined;
      const all = opts.outAll ? outF32(opts.outAll, n * k, 'outAll') : undefined;
      if (n === 0) return { index, dist };
      ar.reset();
      const kPad = Math.ceil(k / 8) * 8;
      assignRun(data, dim, centroids, n, k, metric, opts.bias, (a, b, ip, dp, _xp, sp2, ap) => {
        index.set(ar.i32(ip, b - a), a);
        dist.set(ar.f32(dp, b - a), a);
        if (second) second.set(ar.f32(sp2, b - a), a);
        if (all) {
          const v = ar.f32(ap, (b - a) * kPad);
          for (let r = 0; r < b - a; r++) all.set(v.subarray(r * kPad, r * kPad + k), (a + r) * k);
        }
      }, second !== undefined, all !== undefined);
      return { index, dist };
    },

    assignAccumulate(data, dim, centroids, acc: Accumulators, opts: AssignOptions = {}) {
      const { n, k, metric } = checkAssign(data, dim, centroids, opts);
      checkAccumulators(acc, k, dim);
      const index = opts.outIndex ? outI32(opts.outIndex, n, 'outIndex') : undefined;
      const dist = opts.outDist ? outF32(opts.outDist, n, 'outDist') : undefined;
      if (n === 0) return;
      ar.reset();
      const a0 = accIn(acc, k, dim);
      const scale = pow2(acc.shift), lscale = pow2(acc.lossShift);
      assignRun(data, dim, centroids, n, k, metric, opts.bias, (a, b, ip, dp, xp) => {
        ex.accumulate(xp, b - a, dim, ip, dp, scale, lscale, a0.sp, a0.cp, a0.lp, a0.rp);
        if (index) index.set(ar.i32(ip, b - a), a);
        if (dist) dist.set(ar.f32(dp, b - a), a);
      });
      accOut(acc, k, dim, a0);
    },

    assignAccumulateBounded(data, dim, centroids, acc: Accumulators, bounds: AssignBounds, opts = {}): BoundedInfo {
      const { n, k } = checkAssign(data, dim, centroids, opts.bias ? { bias: opts.bias } : {});
      checkAccumulators(acc, k, dim);
      const G = checkBounds(bounds, n, k);
      checkBoundsBias(opts.bias);
      const index = opts.outIndex ? outI32(opts.outIndex, n, 'outIndex') : undefined;
      const dist = opts.outDist ? outF32(opts.outDist, n, 'outDist') : undefined;
      if (n === 0) return { skipped: 0, blocks: 0 };
      ar.reset();
      const a0 = accIn(acc, k, dim);
      const R = boundedRows(dim, G);
      const rows = Math.min(R, n);
      const c = boundedCentroids(ar, ex, centroids, k, dim, bounds, opts.bias, rows);
      const xp = ar.alloc(rows * dim * 4), asp = ar.alloc(rows * 4), lop = ar.alloc(rows * G * 4), xnp = ar.alloc(rows * 8);
      const epp = ar.alloc(rows * G);
      const ip = ar.alloc(rows * 4), dp = ar.alloc(rows * 4);
      const scale = pow2(acc.shift), lscale = pow2(acc.lossShift);
      // The sums of the rows' last chosen centroids (kept.prev) stay with the bounds between calls; a call
      // moves only the rows whose centroid changed. Afresh when the rows, shape or scale differ, or when
      // most rows changed last time; a call that throws leaves none.
      let kept = keptSums.get(bounds);
      keptSums.delete(bounds);
      if (!kept || kept.data !== data || kept.k !== k || kept.dim !== dim || kept.shift !== acc.shift || 2 * kept.changed > n) {
        kept = { data, k, dim, shift: acc.shift, changed: 0, fresh: true, sums: new BigInt64Array(k * dim), prev: new Int32Array(n).fill(-1) };
      }
      const ksp = ar.alloc(k * dim * 8), prp = ar.alloc(rows * 4);
      ar.i64(ksp, k * dim).set(kept.sums);
      let changed = 0;
      let skipped = 0, computed = 0;
      blocks(n, R, (a, b) => {
        const r = b - a;
        ar.f32(xp, r * dim).set(data.subarray(a * dim, b * dim));
        ar.i32(asp, r).set(bounds.assign.subarray(a, b));
        ar.f32(lop, r * G).set(bounds.lower.subarray(a * G, b * G));
        ar.f64(xnp, r).set(bounds.xnorm.subarray(a, b));
        ar.u8(epp, r * G).set(bounds.epoch.subarray(a * G, b * G));
        const info = c.run(xp, r, asp, lop, epp, xnp, ip, dp);
        skipped += info[0]!;
        computed += info[1]!;
        ar.i32(prp, r).set(kept.prev.subarray(a, b));
        changed += ex.pqAccumulateDelta(xp, r, dim, 1, k, ip, prp, scale, ksp);
        kept.prev.set(ar.i32(prp, r), a);
        ex.pqAccumulateStats(r, 1, k, ip, dp, lscale, a0.cp, a0.lp, a0.rp);
        bounds.assign.set(ar.i32(asp, r), a);
        bounds.lower.set(ar.f32(lop, r * G), a * G);
        bounds.epoch.set(ar.u8(epp, r * G), a * G);
        if (index) index.set(ar.i32(ip, r), a);
        if (dist) dist.set(ar.f32(dp, r), a);
      });
      kept.sums.set(ar.i64(ksp, k * dim));
      kept.changed = kept.fresh ? 0 : changed;
      kept.fresh = false;
      keptSums.set(bounds, kept);
      ex.addI64(a0.sp, ksp, k * dim);
      accOut(acc, k, dim, a0);
      return { skipped, blocks: computed };
    },

    boundedSession(data, dim, k, start): BoundedSession | undefined {
      f32(data, 'data');
      const n = rowsOf(data, dim);
      expect(Number.isSafeInteger(k) && k > 0, 'invalid-argument', 'k', 'a positive integer', k);
      const full = start?.assign !== undefined || start?.lower !== undefined || start?.epoch !== undefined;
      const pairs = start?.pairs === true;
      expect(!(pairs && full), 'invalid-argument', 'start of a pairs session', 'no per-row state (it starts without bounds)', 'assign/lower/epoch');
      if (full) checkBounds(start as AssignBounds, n, k);
      expect(typeof start === 'object' && start !== null && Number.isInteger(start.groupSize) && start.groupSize > 0 && start.groupSize % 8 === 0,
        'invalid-argument', 'start.groupSize', 'a positive multiple of 8', start?.groupSize);
      const gs = start.groupSize, G = Math.ceil(k / gs);
      if (!full && start.xnorm !== undefined) {
        expect(start.xnorm instanceof Float64Array && start.xnorm.length === n, 'dimension-mismatch', 'start.xnorm length', n, start.xnorm?.length);
      }
      if (!module || n === 0) return undefined;
      const own = sessionInstance(module);
      if (!own) return undefined;
      const e = own.exports as unknown as KernelExports, a = new Arena(e);
      const { open, close } = sessionLife(module, own, 'bounded session');
      // A pairs step sorts its rows by the blocks they need: all of them in one call (its scratch is small per row).
      const R = pairs ? n : Math.min(n, boundedRows(dim, G)), kb = Math.ceil(k / 8), kPad = kb * 8;
      // Per row: group bounds and epochs, or (pairs) one u16 bound per centroid; with the 16-bit filter also the row
      // rounded to i16 (with its scale and norms). Pairs also keep the last centroids and their movements.
      const rounded = filterApplies(build, qFilter, dim, k);
      // …and to i8 when the 8-bit stage will run (its steps then compute only the row term against the new centroids).
      const rounded8 = rounded && eightFull(k);
      const dEven = (dim + 1) & ~1, d4 = (dim + 3) & ~3;
      const perRow = (pairs ? k * 2 : G * 5) + (rounded ? dEven * 2 + 24 : 0) + (rounded8 ? d4 + 24 : 0);
      const scratch = pairs ? e.pairsScratchBytes(R, kb, dim) : e.boundedScratchBytes(R, G, kb, k, dim);
      let xp = 0, asp = 0, lop = 0, epp = 0, xnp = 0, xsp = 0, ip = 0, dp = 0, prevp = 0, ksp = 0, lastp = 0, dcp = 0, drp = 0, qrp = 0,
        metap = 0, r8p = 0, m8p = 0;
      try {
        // Everything in one growth: the rows and per-row state, then room for a step's centroids, filter, scratch and
        // accumulators, so that no step has to grow the memory.
        a.release(a.alloc(n * (dim * 4 + perRow + 32) + k * dim * (pairs ? 32 : 24) + 40 * k + 2 * kPad * dim * 4 + e.assignQCentroidBytes(kb, dim) +
          (rounded8 ? e.assignQ8CentroidBytes(kb, dim, k) + 64 : 0) + 16 * kPad + 256 * G * 8 + scratch + 8192));
        a.reset();
        xp = a.alloc(n * dim * 4); asp = a.alloc(n * 4); lop = a.alloc(n * (pairs ? k * 2 : G * 4)); epp = pairs ? 0 : a.alloc(n * G); xnp = a.alloc(n * 8);
        xsp = a.alloc(n * 4); ip = a.alloc(n * 4); dp = a.alloc(n * 4); prevp = a.alloc(n * 4); ksp = a.alloc(k * dim * 8);
        if (pairs) { lastp = a.alloc(k * dim * 4); dcp = a.alloc(k * 8); drp = a.alloc(k * 8); }
        if (rounded) { qrp = a.alloc(n * dEven * 2); metap = a.alloc(n * 24); }
        if (rounded8) { r8p = a.alloc(n * d4); m8p = a.alloc(n * 24); }
      } catch {
        return undefined;                                   // memory.grow refused: the caller copies per call instead
      }
      a.f32(xp, n * dim).set(data);
      e.prepareRows(xp, n, dim, xsp, qrp, metap, r8p, m8p);
      const same = (b: AssignBounds): void => {
        expect(!pairs, 'invalid-argument', 'group bounds of the session', 'a session with group bounds', 'a pairs session');
        const g = checkBounds(b, n, k);
        expect(g === G && b.groupSize === gs, 'dimension-mismatch', "bounds.groupSize (the session's)", gs, b.groupSize);
      };
      const write = (b: AssignBounds): void => {
        same(b);
        a.i32(asp, n).set(b.assign); a.f32(lop, n * G).set(b.lower); a.u8(epp, n * G).set(b.epoch); a.f64(xnp, n).set(b.xnorm);
      };
      if (full) write(start as AssignBounds);
      else {
        a.i32(asp, n).fill(-1);
        if (start.xnorm) a.f64(xnp, n).set(start.xnorm);
        else {
          const sq = a.f32(xsp, n), xn = a.f64(xnp, n), up = normUp(dim);
          for (let i = 0; i < n; i++) xn[i] = Math.sqrt(sq[i]!) * up;
        }
      }
      let keptShift: number | undefined, lastChanged = 0, moved = false;
      // Pairs: bounds are u16 multiples of `unit`, a power of two chosen when they start so that every distance plus
      // the centroids' movement sums fits with room (4 × (max ‖x‖ + max ‖c‖)); past that they start afresh.
      let unit = 0, room = 0;
      const xmax = pairs ? a.f64(xnp, n).reduce((m, v) => (v > m ? v : m), 0) : 0;
      const base = a.mark();
      return {
        n,
        pairs,
        step(centroids, acc, b, opts = {}) {
          open();
          checkAssign(data.subarray(0, dim), dim, centroids, opts.bias ? { bias: opts.bias } : {});
          expect(centroids.length === k * dim, 'dimension-mismatch', 'centroids length', `k·dim = ${k * dim}`, centroids.length);
          checkAccumulators(acc, k, dim);
          expect(checkBoundsPlan(b, k) === G && b.groupSize === gs, 'invalid-argument', "bounds.groupSize (the session's)", gs, b.groupSize);
          checkBoundsBias(opts.bias);
          expect(!(pairs && opts.bias), 'invalid-argument', 'bias of a pairs session step', 'none', 'a bias');
          const index = opts.outIndex ? outI32(opts.outIndex, n, 'outIndex') : undefined;
          const dist = opts.outDist ? outF32(opts.outDist, n, 'outDist') : undefined;
          a.release(base);
          const a0 = accIn(acc, k, dim, a);
          let plan = b;
          if (pairs) {
            // How far each centroid moved since the last step (the bounds' decay); blocks ordered by it, largest first.
            const order = new Int32Array(k);
            for (let c = 0; c < k; c++) order[c] = c;
            if (moved) {
              const m0 = a.mark(), cur = a.alloc(k * dim * 4);
              a.f32(cur, k * dim).set(centroids);
              e.centroidDrift(cur, lastp, k, dim, dcp, drp);
              a.release(m0);
              const dr = a.f64(drp, k);
              const key = (c: number): number => (dr[c]! >= 0 ? dr[c]! : Infinity);
              order.sort((p, q) => key(q) - key(p) || p - q);
            } else a.f32(lastp, k * dim).set(centroids);
            moved = true;
            const dc = a.f64(dcp, k);
            let far = 0;
            for (let c = 0; c < k; c++) if (!(dc[c]! <= far)) far = dc[c]!;
            if (unit === 0 || !(far + xmax + b.cmax <= room)) {
              const span = 4 * (xmax + b.cmax);
              unit = span > 0 && span < 1e30 ? 2 ** Math.ceil(Math.log2(span / 65535)) : 1;
              room = 0.9 * 65535 * unit;
              a.i32(asp, n).fill(-1);
              dc.fill(0);
            }
            plan = { ...b, order };
          }
          const c = boundedCentroids(a, e, centroids, k, dim, plan, opts.bias, R, scratch, opts.full === true);
          // As in assignAccumulateBounded: the sums of the rows' last centroids stay here; afresh on a new scale or
          // after a step where most rows changed.
          const fresh = keptShift !== acc.shift || 2 * lastChanged > n;
          if (fresh) {
            a.i32(prevp, n).fill(-1);
            a.i64(ksp, k * dim).fill(0n);
            keptShift = acc.shift;
          }
          let skipped = 0, computed = 0, changed = 0;
          const scale = pow2(acc.shift);
          for (let r0 = 0; r0 < n; r0 += R) {
            const r = Math.min(R, n - r0), xo = xp + r0 * dim * 4, o = r0 * 4;
            const r8o = r8p ? r8p + r0 * d4 : 0, m8o = r8p ? m8p + r0 * 24 : 0;
            const info = pairs ? c.pairs(xo, r, asp + o, lop + o * k / 2, unit, dcp, lastp, xnp + 2 * o, ip + o, dp + o, xsp + o, opts.full === true,
              qrp ? qrp + r0 * dEven * 2 : 0, metap + r0 * 24, r8o, m8o)
              : c.run(xo, r, asp + o, lop + o * G, epp + r0 * G, xnp + 2 * o, ip + o, dp + o, xsp + o, opts.full === true,
                qrp ? qrp + r0 * dEven * 2 : 0, metap + r0 * 24, r8o, m8o);
            skipped += info[0]!;
            computed += info[1]!;
            changed += e.pqAccumulateDelta(xo, r, dim, 1, k, ip + o, prevp + o, scale, ksp);
          }
          lastChanged = fresh ? 0 : changed;
          e.pqAccumulateStats(n, 1, k, ip, dp, pow2(acc.lossShift), a0.cp, a0.lp, a0.rp);
          e.addI64(a0.sp, ksp, k * dim);
          accOut(acc, k, dim, a0, a);
          if (index) index.set(a.i32(ip, n));
          if (dist) dist.set(a.f32(dp, n));
          return { skipped, blocks: computed };
        },
        read(b) {
          open();
          same(b);
          b.assign.set(a.i32(asp, n)); b.lower.set(a.f32(lop, n * G)); b.epoch.set(a.u8(epp, n * G));
        },
        write(b) {
          open();
          write(b);
        },
        readPairs() {
          open();
          expect(pairs, 'invalid-argument', 'pair bounds of the session', 'a pairs session', 'a session with group bounds');
          const q = new Uint16Array(a.u8(lop, n * k * 2).slice().buffer);
          return { assign: a.i32(asp, n).slice(), lower: Float32Array.from(q, (v) => v * unit), dcum: a.f64(dcp, k).slice() };
        },
        close,
      };
    },

    accumulate(data, dim, index, dist, acc: Accumulators) {
      const { n, k } = checkAccumulate(data, dim, index, dist, acc);
      for (let i = 0; i < n; i++) {
        const c = index[i]!;
        if (c >= k) throw new IvfkitError('invalid-argument', `index[${i}]: expected < ${k}, got ${c}`);
      }
      if (n === 0) return;
      const R = rowsPerBlock(dim);
      const rows = Math.min(R, n);
      ar.reset();
      const a0 = accIn(acc, k, dim);
      const xp = ar.alloc(rows * dim * 4), ip = ar.alloc(rows * 4), dp = ar.alloc(rows * 4);
      const scale = pow2(acc.shift), lscale = pow2(acc.lossShift);
      blocks(n, R, (a, b) => {
        ar.f32(xp, (b - a) * dim).set(data.subarray(a * dim, b * dim));
        ar.i32(ip, b - a).set(index.subarray(a, b));
        ar.f32(dp, b - a).set(dist.subarray(a, b));
        ex.accumulate(xp, b - a, dim, ip, dp, scale, lscale, a0.sp, a0.cp, a0.lp, a0.rp);
      });
      accOut(acc, k, dim, a0);
    },

    pqAssignAccumulate(data, dim, codebook, m, ksub, acc: Accumulators, opts: PqAssignOptions = {}) {
      const { n, ds } = checkPq(data, dim, codebook, m, ksub);
      checkAccumulators(acc, m * ksub, ds);
      const index = opts.outIndex ? outI32(opts.outIndex, n * m, 'outIndex') : undefined;
      const dist = opts.outDist ? outF32(opts.outDist, n * m, 'outDist') : undefined;
      if (n === 0) return;
      ar.reset();
      const a0 = accIn(acc, m * ksub, ds);
      const scale = pow2(acc.shift), lscale = pow2(acc.lossShift);
      pqRun(data, dim, codebook, m, ksub, n, (a, b, ip, dp, _codes, xp) => {
        ex.pqAccumulate(xp, b - a, dim, m, ksub, ip, dp, scale, lscale, a0.sp, a0.cp, a0.lp, a0.rp);
        if (index) index.set(ar.i32(ip, (b - a) * m), a * m);
        if (dist) dist.set(ar.f32(dp, (b - a) * m), a * m);
      }, true);
      accOut(acc, m * ksub, ds, a0);
    },

    pqAssignAccumulateBounded(data, dim, codebook, m, ksub, acc: Accumulators, bounds: PqBounds,
      opts: PqAssignOptions & { margin?: 0 | 1 } = {}): number {
      const { n, ds } = checkPq(data, dim, codebook, m, ksub);
      checkAccumulators(acc, m * ksub, ds);
      checkPqBounds(bounds, n, m, ksub);
      const index = opts.outIndex ? outI32(opts.outIndex, n * m, 'outIndex') : undefined;
      const dist = opts.outDist ? outF32(opts.outDist, n * m, 'outDist') : undefined;
      if (n === 0) return 0;
      ar.reset();
      const a0 = accIn(acc, m * ksub, ds);
      const scale = pow2(acc.shift), lscale = pow2(acc.lossShift);
      if (bounds.groups) return pqGrouped(data, dim, codebook, m, ds, n, acc, a0, scale, lscale, bounds, opts.margin ?? 1, index, dist);
      const R = rowsPerBlock(dim, 2), rows = Math.min(R, n);
      const len = codebook.length;
      const cbp = ar.alloc(len * 4), tp = ar.alloc(len * 4), t2p = ar.alloc(len * 4);
      const cnp = ar.alloc(m * ksub * 4), cmp = ar.alloc(m * 4), sp = ar.alloc(Math.max(6208, m * 4)), drp = ar.alloc(m * 24);
      const xp = ar.alloc(rows * dim * 4), ip = ar.alloc(rows * m * 4), dp = ar.alloc(rows * m * 4);
      const sap = ar.alloc(rows * m * 4), slp = ar.alloc(rows * m * 4), lp = ar.alloc(rows * m * 4), cntp = ar.alloc(m * 4);
      const pp = ar.alloc((rows + 4) * ds * 4), pip = ar.alloc((rows + 4) * 4), pdp = ar.alloc((rows + 4) * 4), plp = ar.alloc((rows + 4) * 4);
      ar.f32(cbp, len).set(codebook);
      ex.pqTranspose(cbp, m, ksub, ds, tp);
      ex.pqPrepare(cbp, m, ksub, ds, t2p, cnp, cmp);
      ar.f64(drp, 3 * m).set(bounds.drift);
      let topp = 0, restp = 0, ttp = 0;
      if (bounds.top && bounds.restDrift) {
        topp = ar.alloc(m * PQ_TOP * 4); restp = ar.alloc(m * 8); ttp = ar.alloc(m * ds * PQ_TOP * 4);
        ar.i32(topp, PQ_TOP * m).set(bounds.top);
        ar.f64(restp, m).set(bounds.restDrift);
        const tt = ar.f32(ttp, m * ds * PQ_TOP);
        for (let s = 0; s < m; s++) {
          for (let h = 0; h < PQ_TOP; h++) {
            const c = bounds.top[s * PQ_TOP + h]!;
            for (let j = 0; j < ds; j++) tt[(s * ds + j) * PQ_TOP + h] = c < 0 ? 0 : codebook[(s * ksub + c) * ds + j]!;
          }
        }
      }
      const margin = opts.margin ?? 1;
      let skipped = 0;
      blocks(n, R, (a, b) => {
        const r = b - a;
        ar.f32(xp, r * dim).set(data.subarray(a * dim, b * dim));
        ar.i32(sap, r * m).set(bounds.assign.subarray(a * m, b * m));
        ar.f32(slp, r * m).set(bounds.lower.subarray(a * m, b * m));
        skipped += ex.pqAssignBounded(xp, r, dim, m, ksub, tp, cbp, t2p, cnp, cmp, sp, ip, dp, sap, slp, drp, lp, cntp, pp, pip, pdp, plp, margin,
          topp, restp, ttp, PQ_TOP);
        ex.pqAccumulate(xp, r, dim, m, ksub, ip, dp, scale, lscale, a0.sp, a0.cp, a0.lp, a0.rp);
        bounds.assign.set(ar.i32(sap, r * m), a * m);
        bounds.lower.set(ar.f32(slp, r * m), a * m);
        if (index) index.set(ar.i32(ip, r * m), a * m);
        if (dist) dist.set(ar.f32(dp, r * m), a * m);
      });
      accOut(acc, m * ksub, ds, a0);
      return skipped;
    },

    pqGroupSession(data, dim, m, perm): PqGroupSession | undefined {
      const ksub = 256;
      checkPq(data, dim, new Float32Array(m * ksub * (dim / m)), m, ksub);
      const n = data.length / dim, ds = dim / m, G = PQ_GROUPS;
      checkGroupPerm(perm, m, ksub);
      if (!module) return undefined;
      const own = sessionInstance(module);
      if (!own) return undefined;
      const e = own.exports as unknown as KernelExports, a = new Arena(e);
      const { open, close } = sessionLife(module, own, 'PQ group session');
      const R = Math.min(n, SESSION_ROWS);
      let xp = 0, sap = 0, glp = 0, ip = 0, dp = 0, lp = 0, cntp = 0, pp = 0, pip = 0, pdp = 0, plp = 0, pgp = 0, prevp = 0, ksp = 0;
      try {
        xp = a.alloc(n * dim * 4); sap = a.alloc(n * m * 4); glp = a.alloc(n * m * G * 2); ip = a.alloc(n * m * 4); dp = a.alloc(n * m * 4);
        prevp = a.alloc(n * m * 4); ksp = a.alloc(m * ksub * ds * 8);
        lp = a.alloc(R * m * 4); cntp = a.alloc(m * 4); pp = a.alloc((R + 4) * ds * 4); pip = a.alloc((R + 4) * 4); pdp = a.alloc((R + 4) * 4);
        plp = a.alloc((R + 4) * 4); pgp = a.alloc((R + 4) * G * 4);
        // Room for a step's codebook and accumulators now, so that no step has to grow the memory.
        const probe = a.mark();
        a.alloc(16 * m * ksub * ds + 64 * m * ksub + 65536);
        a.release(probe);
      } catch {
        return undefined;                                   // memory.grow refused: the caller copies per step instead
      }
      a.f32(xp, n * dim).set(data);
      a.i32(sap, n * m).fill(-1);
      // Sums of the codes of the last step (prevp) at scale 2^keptShift, moved on by the pairs that change.
      let keptShift: number | undefined, lastChanged = 0;
      const permCopy = perm.slice();
      const base = a.mark();
      return {
        n,
        step(codebook, acc, drift, opts = {}) {
          open();
          checkPq(data.subarray(0, dim), dim, codebook, m, ksub);
          checkAccumulators(acc, m * ksub, ds);
          expect(drift instanceof Float64Array && drift.length === m * G, 'dimension-mismatch', 'drift length (Float64Array)', `m·16 = ${m * G}`, drift?.length);
          const index = opts.outIndex ? outI32(opts.outIndex, n * m, 'outIndex') : undefined;
          const dist = opts.outDist ? outF32(opts.outDist, n * m, 'outDist') : undefined;
          a.release(base);
          const a0 = accIn(acc, m * ksub, ds, a);
          const c = groupedCodebook(a, e, codebook, m, ds, permCopy, drift);
          let skipped = 0;
          for (let r0 = 0; r0 < n; r0 += R) {
            const r = Math.min(R, n - r0), o = r0 * m * 4;
            skipped += e.pqAssignGrouped(xp + r0 * dim * 4, r, dim, m, c.cbp, c.cqp, c.tp, c.t2p, c.cnp, c.cmp, c.pmp, c.ivp, c.sp, ip + o, dp + o, sap + o,
              glp + o * 8, c.gdp, lp, cntp, pp, pip, pdp, plp, pgp, opts.margin ?? 1);
          }
          if (n > 0) {
            // Most pairs keep their code after the first steps: move the changed ones between the kept sums instead
            // of summing every sub-vector again; after a step where most changed (or when the scale does), start afresh.
            const fresh = keptShift !== acc.shift || 2 * lastChanged > n * m;
            if (fresh) {
              a.i32(prevp, n * m).fill(-1);
              a.i64(ksp, m * ksub * ds).fill(0n);
              keptShift = acc.shift;
            }
            const changed = e.pqAccumulateDelta(xp, n, dim, m, ksub, ip, prevp, pow2(acc.shift), ksp);
            lastChanged = fresh ? 0 : changed;
            e.addI64(a0.sp, ksp, m * ksub * ds);
            e.pqAccumulateStats(n, m, ksub, ip, dp, pow2(acc.lossShift), a0.cp, a0.lp, a0.rp);
          }
          accOut(acc, m * ksub, ds, a0, a);
          if (index) index.set(a.i32(ip, n * m));
          if (dist) dist.set(a.f32(dp, n * m));
          return skipped;
        },
        state() {
          open();
          return { assign: a.i32(sap, n * m).slice(), lower: a.u16(glp, n * m * G).slice() };
        },
        close,
      };
    },

    pqAssign(data, dim, codebook, m, ksub, opts: PqAssignOptions = {}): AssignResult {
      const { n } = checkPq(data, dim, codebook, m, ksub);
      const index = outI32(opts.outIndex, n * m, 'outIndex');
      const dist = outF32(opts.outDist, n * m, 'outDist');
      pqRun(data, dim, codebook, m, ksub, n, (a, b, ip, dp) => {
        index.set(ar.i32(ip, (b - a) * m), a * m);
        dist.set(ar.f32(dp, (b - a) * m), a * m);
      });
      return { index, dist };
    },

    pqEncode(data, dim, codebook, m, nbits, out) {
      expect(nbits === 4 || nbits === 8, 'invalid-argument', 'nbits', '4 or 8', nbits);
      const ksub = 1 << nbits;
      const { n } = checkPq(data, dim, codebook, m, ksub);
      if (nbits === 4) expect(m % 2 === 0, 'invalid-argument', 'm for 4-bit codes', 'an even number', m);
      const per = nbits === 8 ? m : m / 2;
      const o = outU8(out, n * per, 'out');
      pqRun(data, dim, codebook, m, ksub, n, (a, b, ip, _dp, codes) => {
        if (nbits === 8) ex.pqCodes8(ip, (b - a) * m, codes);
        else ex.pqCodes4(ip, (b - a) * m, codes);
        o.set(ar.u8(codes, (b - a) * per), a * per);
      });
      return o;
    },

    sqBounds(data, dim): SqBoundsResult {
      const n = rowsOf(data, dim);
      // A bound pass is one read of the input: a small, cache-resident block beats a large one, whose
      // first use grows and faults in fresh wasm pages.
      const R = Math.max(1, Math.floor(Math.min(blockBytes, SQ_BOUNDS_BLOCK_BYTES) / (dim * 4)));
      ar.reset();
      const bp = ar.alloc(8), xp = ar.alloc(Math.min(n, R) * dim * 4);
      const bv = ar.f32(bp, 2);
      bv[0] = Infinity; bv[1] = -Infinity;
      let rows = 0;
      blocks(n, R, (a, b) => {
        ar.f32(xp, (b - a) * dim).set(data.subarray(a * dim, b * dim));
        rows += ex.sqBounds(xp, b - a, dim, bp);
      });
      const res = ar.f32(bp, 2);
      return { lower: res[0]!, upper: res[1]!, rows };
    },

    sqEncode(data, lower, upper, out) {
      f32(data, 'data');
      const len = data.length;
      const o = outU8(out, len, 'out');
      const R = Math.max(1, Math.floor(blockBytes / 4));
      ar.reset();
      const xp = ar.alloc(Math.min(len, R) * 4), op = ar.alloc(Math.min(len, R));
      blocks(len, R, (a, b) => {
        ar.f32(xp, b - a).set(data.subarray(a, b));
        ex.sqEncode(xp, b - a, lower, upper, op);
        o.set(ar.u8(op, b - a), a);
      });
      return o;
    },
  };

  function many(q: Float32Array, base: Float32Array, dim: number, out: Float32Array | undefined,
    fn: (q: number, x: number, n: number, d: number, out: number) => void): Float32Array {
    const { n, nq } = checkQuery(q, base, dim);
    const o = outF32(out, n * nq, 'out');
    // One query: large blocks. Several: blocks that stay in cache while every query passes over them.
    const R = nq === 1 ? rowsPerBlock(dim) : Math.max(1, Math.min(rowsPerBlock(dim), Math.floor(MANY_BLOCK_BYTES / (dim * 4))));
    const Q = Math.max(1, Math.min(nq, Math.floor(blockBytes / (dim * 4)), Math.floor(blockBytes / (Math.min(n, R) * 4 || 4))));
    ar.reset();
    const qp = ar.alloc(Q * dim * 4), xp = ar.alloc(Math.min(n, R) * dim * 4), op = ar.alloc(Q * Math.min(n, R) * 4);
    blocks(nq, Q, (qa, qb) => {
      ar.f32(qp, (qb - qa) * dim).set(q.subarray(qa * dim, qb * dim));
      blocks(n, R, (a, b) => {
        const r = b - a;
        ar.f32(xp, r * dim).set(base.subarray(a * dim, b * dim));
        for (let j = 0; j < qb - qa; j++) fn(qp + j * dim * 4, xp, r, dim, op + j * r * 4);
        const res = ar.f32(op, (qb - qa) * r);
        for (let j = 0; j < qb - qa; j++) o.set(res.subarray(j * r, j * r + r), (qa + j) * n + a);
      });
    });
    return o;
  }

  /** Rows per assignBounded call: a block's rows and bounds fit in blockBytes. */
  function boundedRows(dim: number, G: number): number {
    return Math.max(4, Math.floor(blockBytes / (dim * 4 + G * 7 + 64)));
  }

  /**
   * The centroid side of a bounded step in arena `a` of instance `e`: centroids packed in `plan.order`
   * (bias with them), the 16-bit filter's centroids when it applies (and the 8-bit stage's: from Q8_MIN_K centroids,
   * from Q8_FULL_MIN_K in a `full` step), the decay table, and scratch for blocks of up to `rows` rows. `run` assigns
   * one block; it returns the block's info (skipped, blocks).
   */
  function boundedCentroids(a: Arena, e: KernelExports, centroids: Float32Array, k: number, dim: number,
    plan: Pick<AssignBounds, 'order' | 'groupSize' | 'decay' | 'now' | 'cmax'>, bias: Float32Array | undefined, rows: number,
    scratchBytes = e.boundedScratchBytes(rows, Math.ceil(k / plan.groupSize), Math.ceil(k / 8), k, dim), full = false) {
    const kb = Math.ceil(k / 8), kPad = kb * 8, G = Math.ceil(k / plan.groupSize);
    const pp = a.alloc(kPad * dim * 4), cnp = a.alloc(kPad * 4), ordp = a.alloc(kPad * 4), posp = a.alloc(k * 4);
    const bpp = bias ? a.alloc(kPad * 4) : 0;
    // The centroids in slot order stay for the step: the distances to the rows' previous centroids read them contiguously.
    const cp = a.alloc(k * dim * 4);
    const mark = a.mark();
    const bp = bias ? a.alloc(k * 4) : 0;
    const ord = a.i32(ordp, kPad), pos = a.i32(posp, k), cv = a.f32(cp, k * dim);
    const order = plan.order;
    if (order) ord.set(order); else for (let p = 0; p < k; p++) ord[p] = p;
    ord.fill(0x7fffffff, k);
    for (let p = 0; p < k; p++) pos[ord[p]!] = p;
    if (order) for (let p = 0; p < k; p++) cv.set(centroids.subarray(ord[p]! * dim, (ord[p]! + 1) * dim), p * dim);
    else cv.set(centroids);
    if (bias) { const bv = a.f32(bp, k); for (let p = 0; p < k; p++) bv[p] = bias[ord[p]!]!; }
    e.packCentroids(cp, k, dim, pp, cnp, bp, bpp);
    a.f32(cnp, kPad).fill(Infinity, k);
    a.release(mark);
    // Rows the kernel computes in full (all of them in a call without bounds) go through the 16-bit filter.
    let qcp = 0, cnqp = 0, qip = 0;
    if (filterApplies(build, qFilter, dim, k)) {
      const m0 = a.mark();
      qcp = a.alloc(e.assignQCentroidBytes(kb, dim)); cnqp = a.alloc(kPad * 4); qip = a.alloc(32);
      if (!e.packCentroidsQ(pp, kb, dim, k, cnp, qcp, cnqp, qip)) { a.release(m0); qcp = cnqp = qip = 0; filterStats.fallbacks++; }
    }
    // …with the 8-bit first stage where the engine runs it natively.
    let q8p = 0, i8p = 0;
    if (qcp && (full ? eightFull : eightFor)(k)) {
      q8p = a.alloc(e.assignQ8CentroidBytes(kb, dim, k)); i8p = a.alloc(64);
      if (!e.packCentroidsQ8(pp, kb, dim, k, qcp, q8p, i8p)) q8p = i8p = 0;
    }
    // Runs of pending rows take it too when they need many blocks per row (8 on average; rows of 256+ values):
    // with few blocks, or short rows, rounding the rows and the exact pass cost more than it saves. 'on': always.
    const qRun = qFilter === 'on' ? 1 : dim >= 256 ? 8 : 0;
    const dlp = a.alloc(plan.decay.length * 8), infop = a.alloc(32);
    a.f64(dlp, plan.decay.length).set(plan.decay);
    const sp = a.alloc(scratchBytes);
    const gsz = plan.groupSize / 8, now = plan.now, cmax = plan.cmax;
    const count = (): Int32Array => {
      const info = a.i32(infop, 5);
      if (qcp) {
        filterStats.rows += info[2]!;
        filterStats.exact += info[3]!;
        filterStats.eight += info[4]!;
      }
      return info;
    };
    return {
      run(xp: number, r: number, asp: number, lop: number, epp: number, xnp: number, ip: number, dp: number, xsq = 0, full = false,
        qrp = 0, metap = 0, r8p = 0, m8p = 0): Int32Array {
        e.assignBounded(xp, r, dim, pp, kb, cnp, bpp, ordp, posp, k, gsz, G, asp, lop, epp, dlp, now, xnp, cmax, sp, ip, dp, infop, qcp, cnqp, qip, qRun, xsq,
          full ? 1 : 0, qrp, metap, cp, q8p, i8p, r8p, m8p);
        return count();
      },
      /** One block through assignPairs (lop: its rows' per-centroid bounds by centroid id, dcp: the cumulative movement). */
      pairs(xp: number, r: number, asp: number, lop: number, unit: number, dcp: number, rawp: number, xnp: number, ip: number,
        dp: number, xsq: number, full: boolean, qrp: number, metap: number, r8p = 0, m8p = 0): Int32Array {
        e.assignPairs(xp, r, dim, pp, kb, cnp, ordp, posp, k, asp, lop, unit, dcp, rawp, xnp, cmax, sp, ip, dp, infop, qcp, cnqp, qip, xsq, full ? 1 : 0,
          qrp, metap, q8p, i8p, r8p, m8p);
        return count();
      },
    };
  }

  /** Copies the accumulators into the arena (after the caller's `ar.reset()`). */
  function accIn(acc: Accumulators, k: number, dim: number, ar = arena): { sp: number; cp: number; lp: number; rp: number } {
    const sp = ar.alloc(k * dim * 8), cp = ar.alloc(k * 8), lp = ar.alloc(k * 8), rp = ar.alloc(k * 4);
    ar.i64(sp, k * dim).set(acc.sums);
    ar.f64(cp, k).set(acc.counts);
    ar.i64(lp, k).set(acc.clusterLoss);
    ar.f32(rp, k).set(acc.radius);
    return { sp, cp, lp, rp };
  }

  function accOut(acc: Accumulators, k: number, dim: number, a0: { sp: number; cp: number; lp: number; rp: number }, ar = arena): void {
    acc.sums.set(ar.i64(a0.sp, k * dim));
    acc.counts.set(ar.f64(a0.cp, k));
    acc.clusterLoss.set(ar.i64(a0.lp, k));
    acc.radius.set(ar.f32(a0.rp, k));
  }

  /** Packs the centroids, then assigns row blocks; `emit` sees each block's rows (xp), index (ip) and dist (dp). */
  function assignRun(data: Float32Array, dim: number, centroids: Float32Array, n: number, k: number, metric: 'l2' | 'dot',
    bias: Float32Array | undefined, emit: (a: number, b: number, ip: number, dp: number, xp: number, secp: number, allp: number) => void,
    withSecond = false, withAll = false): void {
    const kb = Math.ceil(k / 8), kPad = kb * 8;
    let R = rowsPerBlock(dim, 4);
    if (withAll) R = Math.min(R, Math.max(4, Math.floor(blockBytes / (kPad * 4 * 4)) * 4));
    const pp = ar.alloc(kPad * dim * 4), cnp = ar.alloc(kPad * 4), bpp = bias ? ar.alloc(kPad * 4) : 0;
    // The raw centroids are only needed for packing: the row buffers below reuse their space.
    const mark = ar.mark();
    const cp = ar.alloc(k * dim * 4), bp = bias ? ar.alloc(k * 4) : 0;
    ar.f32(cp, k * dim).set(centroids);
    if (bias) ar.f32(bp, k).set(bias);
    ex.packCentroids(cp, k, dim, pp, cnp, bp, bpp);
    ar.release(mark);
    // The 16-bit filter (same bits as assignRows): plain l2 assignment of long enough rows.
    let qcp = 0, cnqp = 0, qip = 0;
    if (metric === 'l2' && (!bias || bias.every((b) => b >= 0 && b < Infinity)) && !withSecond && !withAll &&
      filterApplies(build, qFilter, dim, k, Q_FILTER_CALL_MIN_K)) {
      const m0 = ar.mark();
      qcp = ar.alloc(ex.assignQCentroidBytes(kb, dim)); cnqp = ar.alloc(kPad * 4); qip = ar.alloc(32);
      if (!ex.packCentroidsQ(pp, kb, dim, k, cnp, qcp, cnqp, qip)) { ar.release(m0); qcp = 0; filterStats.fallbacks++; }
    }
    // The filter keeps its estimates (4 bytes per row and centroid) for the exact pass when at least 64 rows'
    // fit in blockBytes; otherwise the exact pass estimates its rows again.
    const estRows = Math.floor(blockBytes / (kPad * 4 * 4)) * 4;
    if (qcp && estRows >= 64) R = Math.min(R, estRows);
    const rows = Math.min(R, Math.ceil(n / 4) * 4);
    const estp = qcp && estRows >= 64 ? ar.alloc(rows * kPad * 4) : 0;
    // The relaxed build puts an 8-bit stage (relaxed SIMD's i8 dot-add) before the 16-bit filter (estimates kept).
    let q8p = 0, i8p = 0;
    if (estp && eightFor(k)) {
      q8p = ar.alloc(ex.assignQ8CentroidBytes(kb, dim, k)); i8p = ar.alloc(64);
      if (!ex.packCentroidsQ8(pp, kb, dim, k, qcp, q8p, i8p)) q8p = 0;
    }
    const xp = ar.alloc(rows * dim * 4);
    const sp = ar.alloc(q8p ? Math.max(ex.assignQ8ScratchBytes(rows, dim, kb), ex.assignQScratchBytes(rows, dim)) : qcp ? ex.assignQScratchBytes(rows, dim) : rows * 68 + 16);
    const ip = ar.alloc(rows * 4), dp = ar.alloc(rows * 4), secp = withSecond ? ar.alloc(rows * 4) : 0;
    const allp = withAll ? ar.alloc(rows * kPad * 4) : 0;
    const mcode = metric === 'l2' ? 0 : 1;
    blocks(n, R, (a, b) => {
      const r = b - a, r4 = Math.ceil(r / 4) * 4;
      const xv = ar.f32(xp, r4 * dim);
      xv.set(data.subarray(a * dim, b * dim));
      if (r4 > r) xv.fill(0, r * dim);
      if (qcp) {
        let np = q8p ? ex.assignRowsQ8(xp, r4, dim, pp, kb, cnp, k, cnqp, qip, q8p, i8p, sp, ip, dp, estp, bpp) : -2;
        if (np === -2) np = ex.assignRowsQ(xp, r4, dim, pp, kb, cnp, k, qcp, cnqp, qip, sp, ip, dp, estp, bpp);
        else filterStats.eight += r;
        if (np < 0) filterStats.fallbacks++;
        else { filterStats.rows += r; filterStats.exact += np; }
      } else ex.assignRows(xp, r4, dim, pp, kb, cnp, bpp, mcode, sp, ip, dp, k, secp, allp);
      emit(a, b, ip, dp, xp, secp, allp);
    });
  }

  /** pqAssignAccumulateBounded with group bounds (256 codes): codebook in slot order, group bounds copied per block. */
  function pqGrouped(data: Float32Array, dim: number, codebook: Float32Array, m: number, ds: number, n: number, acc: Accumulators,
    a0: { sp: number; cp: number; lp: number; rp: number }, scale: number, lscale: number, bounds: PqBounds, margin: number,
    index: Int32Array | undefined, dist: Float32Array | undefined): number {
    const ksub = 256, G = PQ_GROUPS, gr = bounds.groups!;
    const { cbp, cqp, tp, t2p, cnp, cmp, pmp, ivp, gdp, sp } = groupedCodebook(ar, ex, codebook, m, ds, gr.perm, gr.drift);
    const R = rowsPerBlock(dim + m * G, 4), rows = Math.min(R, n);
    const xp = ar.alloc(rows * dim * 4), ip = ar.alloc(rows * m * 4), dp = ar.alloc(rows * m * 4);
    const sap = ar.alloc(rows * m * 4), glp = ar.alloc(rows * m * G * 2), lp = ar.alloc(rows * m * 4), cntp = ar.alloc(m * 4);
    const pp = ar.alloc((rows + 4) * ds * 4), pip = ar.alloc((rows + 4) * 4), pdp = ar.alloc((rows + 4) * 4), plp = ar.alloc((rows + 4) * 4);
    const pgp = ar.alloc((rows + 4) * G * 4);
    let skipped = 0;
    blocks(n, R, (a, b) => {
      const r = b - a;
      ar.f32(xp, r * dim).set(data.subarray(a * dim, b * dim));
      ar.i32(sap, r * m).set(bounds.assign.subarray(a * m, b * m));
      ar.u16(glp, r * m * G).set(gr.lower.subarray(a * m * G, b * m * G));
      skipped += ex.pqAssignGrouped(xp, r, dim, m, cbp, cqp, tp, t2p, cnp, cmp, pmp, ivp, sp, ip, dp, sap, glp, gdp, lp, cntp, pp, pip, pdp, plp, pgp,
        margin);
      ex.pqAccumulate(xp, r, dim, m, ksub, ip, dp, scale, lscale, a0.sp, a0.cp, a0.lp, a0.rp);
      bounds.assign.set(ar.i32(sap, r * m), a * m);
      gr.lower.set(ar.u16(glp, r * m * G), a * m * G);
      if (index) index.set(ar.i32(ip, r * m), a * m);
      if (dist) dist.set(ar.f32(dp, r * m), a * m);
    });
    accOut(acc, m * ksub, ds, a0);
    return skipped;
  }

  /** Codebook-side inputs of pqAssignGrouped in arena a: codebook, slot-ordered copy, transposes, norms, perm / inv, drifts. */
  function groupedCodebook(a: Arena, e: KernelExports, codebook: Float32Array, m: number, ds: number, perm: Int32Array, drift: Float64Array) {
    const ksub = 256, G = PQ_GROUPS, len = codebook.length;
    const cbp = a.alloc(len * 4), cqp = a.alloc(len * 4), tp = a.alloc(len * 4), t2p = a.alloc(len * 4);
    const cnp = a.alloc(m * ksub * 4), cmp = a.alloc(m * 4), pmp = a.alloc(m * ksub * 4), ivp = a.alloc(m * ksub * 4);
    const gdp = a.alloc(m * G * 4), sp = a.alloc(Math.max(6208, m * 4) + 336);
    a.f32(cbp, len).set(codebook);
    const cq = a.f32(cqp, len), iv = a.i32(ivp, m * ksub);
    a.i32(pmp, m * ksub).set(perm);
    for (let s = 0; s < m; s++) {
      for (let q = 0; q < ksub; q++) {
        const c = perm[s * ksub + q]!;
        iv[s * ksub + c] = q;
        cq.set(codebook.subarray((s * ksub + c) * ds, (s * ksub + c + 1) * ds), (s * ksub + q) * ds);
      }
    }
    e.pqTranspose(cqp, m, ksub, ds, tp);
    e.pqPrepare(cqp, m, ksub, ds, t2p, cnp, cmp);
    const gd = a.f32(gdp, m * G);
    for (let p = 0; p < m * G; p++) gd[p] = roundUp32(drift[p]!);
    return { cbp, cqp, tp, t2p, cnp, cmp, pmp, ivp, gdp, sp };
  }

  function pqRun(data: Float32Array, dim: number, codebook: Float32Array, m: number, ksub: number, n: number,
    emit: (a: number, b: number, ip: number, dp: number, codes: number, xp: number) => void, keepArena = false): void {
    if (n === 0) return;
    const ds = dim / m;
    let R = rowsPerBlock(dim, 2);
    const rows = Math.min(R, n);
    if (!keepArena) ar.reset();
    const cbp = ar.alloc(codebook.length * 4), tp = ar.alloc(codebook.length * 4), t2p = ar.alloc(codebook.length * 4);
    const cnp = ar.alloc(m * ksub * 4), cmp = ar.alloc(m * 4), sp = ar.alloc(6208);
    const xp = ar.alloc(rows * dim * 4), ip = ar.alloc(rows * m * 4), dp = ar.alloc(rows * m * 4), codes = ar.alloc(rows * m);
    ar.f32(cbp, codebook.length).set(codebook);
    ex.pqTranspose(cbp, m, ksub, ds, tp);
    ex.pqPrepare(cbp, m, ksub, ds, t2p, cnp, cmp);
    R = Math.max(R, 1);
    blocks(n, R, (a, b) => {
      ar.f32(xp, (b - a) * dim).set(data.subarray(a * dim, b * dim));
      ex.pqAssign(xp, b - a, dim, m, ksub, tp, cbp, t2p, cnp, cmp, sp, ip, dp);
      emit(a, b, ip, dp, codes, xp);
    });
  }
}
