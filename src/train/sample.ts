import type { FragmentInfo, FragmentRows, Metric, Progress, VectorSource } from '../types.js';
import type { Kernels } from '../kernels/types.js';
import type { TrainParams } from './local.js';
import { loadKernels } from '../kernels/index.js';
import { IvfkitError, shown, throwIfAborted, yieldToEventLoop } from '../util/errors.js';
import { DEFAULT_SEED, STREAM, createRng, mix32, sampleDistinct } from '../util/rng.js';
import { rowView } from '../sources/memory.js';

/** A fragment with the number of rows a sample takes from it. */
export interface FragmentQuota extends FragmentInfo {
  quota: number;
}

/**
 * Validates fragment descriptions (non-negative integer ids, distinct; integer `numRows ≥ 0`)
 * and returns copies sorted by ascending id.
 */
export function validateFragments(fragments: readonly FragmentInfo[], label = 'fragments', code = 'invalid-fragment'): FragmentInfo[] {
  if (!Array.isArray(fragments)) {
    throw new IvfkitError('invalid-argument', `${label}: expected an array of { id, numRows }, got ${typeof fragments}`);
  }
  const out: FragmentInfo[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < fragments.length; i++) {
    const f = fragments[i];
    const id = f?.id;
    const numRows = f?.numRows;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw new IvfkitError(code, `${label}[${i}].id: expected a non-negative integer, got ${shown(id)}`);
    }
    if (typeof numRows !== 'number' || !Number.isSafeInteger(numRows) || numRows < 0) {
      throw new IvfkitError(code, `${label}[${i}] (id ${id}) numRows: expected a non-negative integer, got ${shown(numRows)}`);
    }
    if (seen.has(id)) throw new IvfkitError(code, `${label} ids: expected distinct ids, got ${id} twice`);
    seen.add(id);
    out.push({ id, numRows });
  }
  return out.sort((a, b) => a.id - b.id);
}

/**
 * Per-fragment sample quotas for a sample of `target` rows, in ascending fragment id order.
 * N = Σ numRows. If N ≤ target every row is taken. Otherwise q_f = ⌊target·n_f/N⌋ and the
 * remaining rows go to the largest fractional parts (ties: ascending id), so Σ q_f = target.
 * Exact integer arithmetic (BigInt), whatever the sizes.
 */
export function planQuotas(fragments: readonly FragmentInfo[], target: number): FragmentQuota[] {
  if (!Number.isSafeInteger(target) || target < 0) {
    throw new IvfkitError('invalid-argument', `sample target: expected a non-negative integer, got ${target}`);
  }
  const frags = validateFragments(fragments);
  const total = frags.reduce((s, f) => s + f.numRows, 0);
  if (total <= target) return frags.map((f) => ({ ...f, quota: f.numRows }));
  const T = BigInt(target);
  const N = BigInt(total);
  const rems: { i: number; rem: bigint }[] = [];
  let assigned = 0;
  const out = frags.map((f, i) => {
    const p = T * BigInt(f.numRows);
    const quota = Number(p / N);
    assigned += quota;
    rems.push({ i, rem: p % N });
    return { ...f, quota };
  });
  rems.sort((a, b) => (a.rem > b.rem ? -1 : a.rem < b.rem ? 1 : a.i - b.i));
  for (let r = 0; r < target - assigned; r++) out[rems[r]!.i]!.quota++;
  return out;
}

/** Row offsets a sample takes from one fragment: `quota` distinct offsets, ascending, from rng (seed, stream, id). */
export function fragmentOffsets(seed: number, stream: number, fragment: FragmentInfo, quota: number): Uint32Array {
  if (quota > fragment.numRows) {
    throw new IvfkitError('invalid-argument', `quota of fragment ${fragment.id}: expected ≤ ${fragment.numRows} rows, got ${quota}`);
  }
  return sampleDistinct(createRng(seed, stream, fragment.id), fragment.numRows, quota);
}

/** Rows drawn from one fragment, after normalization (cosine) and the finite filter. */
export interface FragmentSample {
  id: number;
  /** Row-major kept rows. */
  data: Float32Array;
  /** Rows kept. */
  rows: number;
  /** Null rows plus non-finite rows (after cosine normalization). */
  dropped: number;
}

/**
 * Reads `offsets` of fragment `id` from `source`, checks the result, normalizes rows for cosine
 * (a zero row turns NaN) and drops rows with a non-finite value. Null rows count as dropped.
 */
export async function readFragmentSample(source: VectorSource, id: number, offsets: Uint32Array, dim: number,
  metric: Metric, kernels: Kernels, sink?: Sink): Promise<FragmentSample> {
  if (offsets.length === 0) return { id, data: new Float32Array(0), rows: 0, dropped: 0 };
  // A sink copies the rows at once: a view of an in-memory source spares readRows' copy.
  const view = sink ? rowView(source, id, offsets) : undefined;
  return fragmentSampleOf(id, offsets, view ? { data: view, nulls: 0 } : await source.readRows(id, offsets), dim, metric, kernels, sink);
}

/** Where a task's sample is assembled: its rows are written at `at` (values) as each fragment is read. */
interface Sink {
  out: Float32Array;
  at: number;
}

/** {@link readFragmentSample} on rows already read (`res`: what `readRows(id, offsets)` returned). With `sink`, the
 *  kept rows are written there (normalized there for cosine: no copy of their own) and the sample is a view of it. */
function fragmentSampleOf(id: number, offsets: Uint32Array, res: FragmentRows, dim: number, metric: Metric, kernels: Kernels,
  sink?: Sink): FragmentSample {
  const data = res?.data;
  const nulls = res?.nulls ?? 0;
  if (!(data instanceof Float32Array)) {
    throw new IvfkitError('invalid-source', `readRows(${id}).data: expected a Float32Array, got ${describe(data)}`);
  }
  if (!Number.isInteger(nulls) || nulls < 0 || nulls > offsets.length) {
    throw new IvfkitError('invalid-source', `readRows(${id}).nulls: expected an integer in [0, ${offsets.length}], got ${nulls}`);
  }
  const expected = (offsets.length - nulls) * dim;
  if (data.length !== expected) {
    const got = data.length % dim === 0 ? `${data.length / dim} rows of dim ${dim}` : `${data.length} values`;
    throw new IvfkitError('dimension-mismatch',
      `rows of fragment ${id}: expected ${offsets.length - nulls} rows × dim ${dim} = ${expected} values (${offsets.length} offsets, ${nulls} nulls), got ${data.length} values (${got})`);
  }
  let rows = data;
  const n = data.length / dim;
  if (sink) {
    rows = sink.out.subarray(sink.at, sink.at + data.length);
    if (metric === 'cosine') kernels.normalize(data, dim, rows); else rows.set(data);
  } else if (metric === 'cosine') rows = kernels.normalize(data, dim);
  const { mask, count } = kernels.finiteMask(rows, dim);
  if (count !== n) rows = compact(rows, dim, mask, count, sink ? rows : undefined);
  if (sink) sink.at += count * dim;
  return { id, data: rows, rows: count, dropped: nulls + (n - count) };
}

/**
 * The IVF and quantizer samples of one fragment in one `readRows` call over the union of their offsets (both ascending),
 * split afterwards — the same rows as two calls. Both samples take every row of a small fragment: one read, one sample.
 * A source that reports null rows without saying which offsets they were (`FragmentRows.valid`) is read once per sample
 * instead.
 */
async function readBothSamples(source: VectorSource, id: number, ivf: Uint32Array, quant: Uint32Array, dim: number, metric: Metric,
  kernels: Kernels, sinkA: Sink, sinkB: Sink): Promise<{ a: FragmentSample; b: FragmentSample }> {
  if (sameOffsets(ivf, quant)) {
    const a = await readFragmentSample(source, id, ivf, dim, metric, kernels, sinkA);
    if (sinkB !== sinkA) {
      sinkB.out.set(a.data, sinkB.at);
      sinkB.at += a.data.length;
    }
    return { a, b: a };
  }
  const apart = async () => ({
    a: await readFragmentSample(source, id, ivf, dim, metric, kernels, sinkA),
    b: await readFragmentSample(source, id, quant, dim, metric, kernels, sinkB),
  });
  if (ivf.length === 0 || quant.length === 0) return apart();
  const union = new Uint32Array(ivf.length + quant.length);
  const fromIvf = new Int32Array(ivf.length), fromQuant = new Int32Array(quant.length);
  let i = 0, j = 0, u = 0;
  while (i < ivf.length || j < quant.length) {
    const x = i < ivf.length ? ivf[i]! : Infinity, y = j < quant.length ? quant[j]! : Infinity;
    const v = Math.min(x, y);
    if (x === v) fromIvf[i++] = u;
    if (y === v) fromQuant[j++] = u;
    union[u++] = v;
  }
  const all = union.subarray(0, u);
  // Both samples are copied into their sinks: a view of an in-memory source spares readRows' copy.
  const view = rowView(source, id, all);
  const res = view ? { data: view, nulls: 0 } as FragmentRows : await source.readRows(id, all);
  const nulls = res?.nulls ?? 0;
  // Where each offset's row lies in the reply (−1: null): given by `valid` when the source reports nulls.
  const at = nulls === 0 ? undefined : rowsOfValid(res?.valid, u, nulls);
  if (!(res?.data instanceof Float32Array) || (nulls !== 0 && !at) || res.data.length !== (u - nulls) * dim) {
    return apart();                          // nulls without `valid` (which offsets?), or a reply readFragmentSample's checks will name
  }
  const pick = (from: Int32Array): FragmentRows => {
    if (!at && from.length === u) return { data: res.data, nulls: 0 };      // this sample is the union: its rows as read
    let kept = 0;
    for (let r = 0; r < from.length; r++) if (!at || at[from[r]!]! >= 0) kept++;
    const out = new Float32Array(kept * dim);
    let w = 0;
    for (let r = 0; r < from.length; r++) {
      const p = at ? at[from[r]!]! : from[r]!;
      if (p < 0) continue;
      out.set(res.data.subarray(p * dim, p * dim + dim), w);
      w += dim;
    }
    return { data: out, nulls: from.length - kept };
  };
  return {
    a: fragmentSampleOf(id, ivf, pick(fromIvf), dim, metric, kernels, sinkA),
    b: fragmentSampleOf(id, quant, pick(fromQuant), dim, metric, kernels, sinkB),
  };
}

/** Row of the reply for each of n offsets (−1 for a null) from a source's `valid`, or undefined when it is missing or
 *  does not hold exactly n entries of 0 / 1 with `nulls` zeros. */
function rowsOfValid(valid: Uint8Array | undefined, n: number, nulls: number): Int32Array | undefined {
  if (!(valid instanceof Uint8Array) || valid.length !== n) return undefined;
  const at = new Int32Array(n);
  let p = 0;
  for (let i = 0; i < n; i++) {
    const v = valid[i]!;
    if (v > 1) return undefined;
    at[i] = v ? p++ : -1;
  }
  return n - p === nulls ? at : undefined;
}

/** The `count` rows of `data` that `mask` keeps, written in order to the front of `out` (which may be `data`). */
function compact(data: Float32Array, dim: number, mask: Uint8Array, count: number, out: Float32Array = new Float32Array(count * dim)): Float32Array {
  let w = 0;
  for (let i = 0; i < mask.length && w < count * dim; i++) {
    if (!mask[i]) continue;
    if (out !== data || w !== i * dim) out.set(data.subarray(i * dim, i * dim + dim), w);
    w += dim;
  }
  return out.subarray(0, count * dim);
}

function sameView(a: Float32Array, b: Float32Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;
}

function sameOffsets(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Concatenates row blocks into one array; blocks that already lie back to back in one buffer are
 *  returned as one view of it (no copy). */
export function concatRows(blocks: readonly Float32Array[]): Float32Array {
  if (blocks.length === 1) return blocks[0]!;
  if (blocks.length > 1 && blocks.every((b, i) => i === 0 || (b.buffer === blocks[0]!.buffer &&
    b.byteOffset === blocks[i - 1]!.byteOffset + blocks[i - 1]!.byteLength))) {
    const last = blocks[blocks.length - 1]!;
    return new Float32Array(blocks[0]!.buffer, blocks[0]!.byteOffset, (last.byteOffset + last.byteLength - blocks[0]!.byteOffset) / 4);
  }
  let total = 0;
  for (const b of blocks) total += b.length;
  const out = new Float32Array(total);
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  return (v as object).constructor?.name ?? typeof v;
}

// ------------------------------------------------------------------------------------------------
// Sample tasks: the plan (which fragment is read by which worker, with which quotas) and its
// execution. trainLocal is the one-task case; `ivfkit`'s distributed protocol re-exports these.
// ------------------------------------------------------------------------------------------------

/** Format version of {@link SampleTask} and {@link SampleResult}. */
export const SAMPLE_FORMAT_VERSION = 2;

/** One fragment of a task with its quotas in the IVF and the quantizer sample. */
export interface TaskFragment {
  id: number;
  numRows: number;
  ivfQuota: number;
  quantQuota: number;
}

/** Fields every task and result of one plan carry: they tie a result to its plan and task. */
export interface SamplePlanHeader {
  version: number;
  /** Fingerprint of the whole plan (all tasks, fragments, quotas, seed, metric, targets). */
  planId: string;
  /** 0 .. numTasks − 1. */
  taskId: number;
  numTasks: number;
  seed: number;
  metric: Metric;
  /** Size of the IVF sample (`numPartitions · sampleRate`) and of the quantizer sample (`2^bits · sampleRate`, 0 without PQ/SQ). */
  ivfTarget: number;
  quantTarget: number;
}

/**
 * A unit of sampling work for one worker: plain data (JSON and structured-clone safe).
 * Quotas and rng streams are per fragment, so the union of all tasks' samples does not depend on
 * how many tasks the plan has.
 */
export interface SampleTask extends SamplePlanHeader {
  kind: 'ivfkit.sample-task';
  /** Expected vector dimension when known at planning time; checked against the source. */
  dim?: number;
  /** Ascending by id. */
  fragments: TaskFragment[];
}

/** Per-fragment counts of a {@link SampleResult}. */
export interface ResultFragment {
  id: number;
  /** The fragment's rows, as the task planned them (and the source had them). */
  numRows: number;
  ivfRows: number;
  ivfDropped: number;
  quantRows: number;
  quantDropped: number;
}

/** What a worker returns for a {@link SampleTask}: plain data plus two row blocks (structured-clone safe). */
export interface SampleResult extends SamplePlanHeader {
  kind: 'ivfkit.sample-result';
  dim: number;
  /** Ascending by id; rows of `ivf` and `quant` are these fragments' rows in this order. */
  fragments: ResultFragment[];
  /** IVF sample rows (normalized for cosine, finite), row-major. */
  ivf: Float32Array;
  /** Quantizer sample rows (normalized for cosine, finite), row-major. */
  quant: Float32Array;
  /** Global min/max over exactly the `quant` rows; null when there are none. */
  sqBounds: { lower: number; upper: number } | null;
  /** max |x| over `ivf` and `quant`. */
  maxAbs: number;
}

/** What {@link createSampleTasks} needs from the training parameters. */
export interface SamplePlanParams {
  metric?: Metric;
  numPartitions: number;
  sampleRate?: number;
  seed?: number;
  pq?: { numBits?: 4 | 8 };
  sq?: { numBits?: 8 };
  dim?: number;
}

/**
 * Plans sampling over `numWorkers` workers. Fragments go to workers largest first, each to the
 * least-loaded worker (rows; ties → lowest worker), so work is balanced by rows. The IVF and
 * quantizer quotas are computed once over all fragments ({@link planQuotas}) and rows are drawn with
 * per-fragment rng streams, so the union sample — and the trained model — are the same for any
 * `numWorkers`. Returns `min(numWorkers, fragments)` tasks (at least one).
 */
export function createSampleTasks(fragments: readonly FragmentInfo[], numWorkers: number, params: SamplePlanParams | TrainParams): SampleTask[] {
  if (!Number.isSafeInteger(numWorkers) || numWorkers < 1) {
    throw new IvfkitError('invalid-argument', `numWorkers: expected a positive integer, got ${String(numWorkers)}`);
  }
  const targets = sampleTargets(params);
  const frags = validateFragments(fragments);
  if (frags.length === 0) throw new IvfkitError('empty-source', 'fragments: expected at least one fragment with rows to sample, got none (an empty source)');
  if (frags.every((f) => f.numRows === 0)) {
    throw new IvfkitError('empty-source', `fragments: expected rows to sample, got ${frags.length} fragment(s) of 0 rows`);
  }
  return planTasks(frags, numWorkers, targets);
}

/** The tasks of a plan over validated fragments (ascending ids); {@link mergeSampleResults} plans again with it to check results. */
function planTasks(frags: readonly FragmentInfo[], numWorkers: number,
  { metric, seed, ivfTarget, quantTarget, dim }: { metric: Metric; seed: number; ivfTarget: number; quantTarget: number; dim?: number }): SampleTask[] {
  const ivf = planQuotas(frags, ivfTarget);
  const quant = planQuotas(frags, quantTarget);
  const numTasks = Math.max(1, Math.min(numWorkers, frags.length));
  const order = frags.map((_, i) => i).sort((a, b) => frags[b]!.numRows - frags[a]!.numRows || frags[a]!.id - frags[b]!.id);
  const load = new Array<number>(numTasks).fill(0);
  const members: number[][] = Array.from({ length: numTasks }, () => []);
  for (const i of order) {
    let w = 0;
    for (let j = 1; j < numTasks; j++) if (load[j]! < load[w]!) w = j;
    load[w]! += frags[i]!.numRows;
    members[w]!.push(i);
  }
  const tasks: SampleTask[] = members.map((idx, taskId) => ({
    kind: 'ivfkit.sample-task',
    version: SAMPLE_FORMAT_VERSION,
    planId: '',
    taskId,
    numTasks,
    seed,
    metric,
    ...(dim !== undefined ? { dim } : {}),
    ivfTarget,
    quantTarget,
    fragments: idx.sort((a, b) => a - b).map((i) => ({
      id: frags[i]!.id, numRows: frags[i]!.numRows, ivfQuota: ivf[i]!.quota, quantQuota: quant[i]!.quota,
    })),
  }));
  const planId = planFingerprint(tasks);
  for (const t of tasks) t.planId = planId;
  return tasks;
}

/** Metric, seed, targets and dim implied by the parameters (validated). */
export function sampleTargets(params: SamplePlanParams): { metric: Metric; seed: number; ivfTarget: number; quantTarget: number; dim?: number } {
  if (params === null || typeof params !== 'object') throw new IvfkitError('invalid-argument', `params: expected an object, got ${shown(params)}`);
  const metric = params.metric ?? 'l2';
  if (metric !== 'l2' && metric !== 'cosine' && metric !== 'dot') {
    throw new IvfkitError('invalid-argument', `metric: expected 'l2' | 'cosine' | 'dot', got ${JSON.stringify(metric)}`);
  }
  const seed = params.seed ?? DEFAULT_SEED;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new IvfkitError('invalid-argument', `seed: expected a non-negative integer, got ${shown(seed)}`);
  const sampleRate = params.sampleRate ?? 256;
  if (!Number.isSafeInteger(sampleRate) || sampleRate < 1) {
    throw new IvfkitError('invalid-argument', `sampleRate: expected a positive integer, got ${shown(sampleRate)}`);
  }
  const k = params.numPartitions;
  if (!Number.isSafeInteger(k) || k < 1) throw new IvfkitError('invalid-argument', `numPartitions: expected a positive integer, got ${shown(k)}`);
  if (params.pq && params.sq) throw new IvfkitError('invalid-argument', 'quantizer: expected pq or sq, got both');
  let quantTarget = 0;
  if (params.pq) {
    const bits = params.pq.numBits ?? 8;
    if (bits !== 8 && bits !== 4) throw new IvfkitError('invalid-argument', `pq.numBits: expected 8 or 4, got ${shown(bits)}`);
    quantTarget = 2 ** bits * sampleRate;
  } else if (params.sq) {
    const bits = params.sq.numBits ?? 8;
    if (bits !== 8) throw new IvfkitError('invalid-argument', `sq.numBits: expected 8, got ${shown(bits)}`);
    quantTarget = 2 ** bits * sampleRate;
  }
  const dim = params.dim;
  if (dim !== undefined && (!Number.isSafeInteger(dim) || dim < 1)) {
    throw new IvfkitError('invalid-argument', `dim: expected a positive integer, got ${shown(dim)}`);
  }
  return { metric, seed, ivfTarget: k * sampleRate, quantTarget, ...(dim !== undefined ? { dim } : {}) };
}

/** 64-bit fingerprint (16 hex digits) of everything that defines a plan, all tasks included. */
export function planFingerprint(tasks: readonly SampleTask[]): string {
  const words: number[] = [SAMPLE_FORMAT_VERSION, tasks.length];
  for (const t of tasks) {
    words.push(t.taskId, t.numTasks, t.seed, METRIC_CODE[t.metric], t.dim ?? -1, t.ivfTarget, t.quantTarget, t.fragments.length);
    for (const f of t.fragments) words.push(f.id, f.numRows, f.ivfQuota, f.quantQuota);
  }
  return hex32(hashWords(words, 0x5bd1e995)) + hex32(hashWords(words, 0x27d4eb2f));
}

const METRIC_CODE: Record<Metric, number> = { l2: 1, cosine: 2, dot: 3 };

function hashWords(words: readonly number[], salt: number): number {
  let h = mix32(salt, words.length);
  for (const w of words) h = mix32(h, w);
  return h;
}

function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}

/** Options of {@link executeSampleTask}. */
export interface ExecuteSampleOptions {
  kernels?: Kernels;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Assemble the samples in a SharedArrayBuffer where the runtime has one (Node, Deno, Bun; browsers only when
   *  cross-origin isolated), so that a thread pool over them shares the rows instead of copying them to its workers.
   *  Their arrays are then shared with any thread they are posted to. Default false. */
  sharedMemory?: boolean;
}

/**
 * Runs one {@link SampleTask} against a source: for each fragment (ascending id) reads the IVF and
 * the quantizer rows (per-fragment seeded distinct offsets, ascending), normalizes them for
 * cosine, drops null and non-finite rows (counted, not topped up) and computes the SQ bounds on
 * exactly the quantizer rows it returns.
 */
export async function executeSampleTask(task: SampleTask, source: VectorSource, opts: ExecuteSampleOptions = {}): Promise<SampleResult> {
  checkTask(task);
  if (!source || typeof source.readRows !== 'function') {
    throw new IvfkitError('invalid-argument', `source: expected a VectorSource, got ${describe(source)}`);
  }
  const dim = source.dim;
  if (!Number.isSafeInteger(dim) || dim < 1) throw new IvfkitError('invalid-source', `source.dim: expected a positive integer, got ${String(dim)}`);
  if (task.dim !== undefined && task.dim !== dim) {
    throw new IvfkitError('dimension-mismatch', `source dim: expected ${task.dim} (task ${task.taskId}), got ${dim}`);
  }
  throwIfAborted(opts.signal, 'sampling');
  // The fragments as the source has them: a task planned over other data (more or fewer rows) would sample other rows.
  const have = new Map((await source.fragments()).map((f) => [f.id, f.numRows]));
  for (const f of task.fragments) {
    const n = have.get(f.id);
    if (n === undefined) throw new IvfkitError('unknown-fragment', `fragment ${f.id} of task ${task.taskId}: expected in the source, got no such fragment`);
    if (n !== f.numRows) {
      throw new IvfkitError('fragment-mismatch', `fragment ${f.id} numRows: expected ${f.numRows} (task ${task.taskId} of plan ${task.planId}), got ${n} (source): the plan was made over other data`);
    }
  }
  const kernels = opts.kernels ?? (await loadKernels());
  const fragments: ResultFragment[] = [];
  const total = task.fragments.length;
  let done = 0;
  const offsets = task.fragments.map((f) => ({
    ivf: fragmentOffsets(task.seed, STREAM.IVF_SAMPLE, f, f.ivfQuota), quant: fragmentOffsets(task.seed, STREAM.QUANT_SAMPLE, f, f.quantQuota),
  }));
  // Both samples are assembled in place as the fragments are read (one copy of each row, normalized there for cosine);
  // one array when they take the same rows. Null and non-finite rows leave room at the end, cut off.
  const same = offsets.every((o) => sameOffsets(o.ivf, o.quant));
  const shared = opts.sharedMemory === true && typeof SharedArrayBuffer === 'function';
  const floats = (rows: number): Float32Array => (shared ? new Float32Array(new SharedArrayBuffer(rows * dim * 4)) : new Float32Array(rows * dim));
  const sinkA: Sink = { out: floats(offsets.reduce((a, o) => a + o.ivf.length, 0)), at: 0 };
  const sinkB: Sink = same ? sinkA : { out: floats(offsets.reduce((a, o) => a + o.quant.length, 0)), at: 0 };
  for (const [i, f] of task.fragments.entries()) {
    if (opts.signal) await yieldToEventLoop();
    throwIfAborted(opts.signal, 'sampling');
    const { a, b } = await readBothSamples(source, f.id, offsets[i]!.ivf, offsets[i]!.quant, dim, task.metric, kernels, sinkA, sinkB);
    throwIfAborted(opts.signal, 'sampling');
    fragments.push({ id: f.id, numRows: f.numRows, ivfRows: a.rows, ivfDropped: a.dropped, quantRows: b.rows, quantDropped: b.dropped });
    done++;
    opts.onProgress?.({ stage: 'sample', fraction: done / total });
  }
  const ivf = sinkA.out.subarray(0, sinkA.at);
  const quant = same ? ivf : sinkB.out.subarray(0, sinkB.at);
  let sqBounds: SampleResult['sqBounds'] = null;
  if (quant.length > 0) {
    const b = kernels.sqBounds(quant, dim);
    if (b.rows > 0) sqBounds = { lower: b.lower, upper: b.upper };
  }
  return {
    kind: 'ivfkit.sample-result',
    version: SAMPLE_FORMAT_VERSION,
    planId: task.planId,
    taskId: task.taskId,
    numTasks: task.numTasks,
    seed: task.seed,
    metric: task.metric,
    dim,
    ivfTarget: task.ivfTarget,
    quantTarget: task.quantTarget,
    fragments,
    ivf,
    quant,
    sqBounds,
    maxAbs: quant === ivf ? kernels.maxAbs(ivf) : Math.max(kernels.maxAbs(ivf), kernels.maxAbs(quant)),
  };
}

/** Structural validation of a task (e.g. after deserialization); throws IvfkitError. */
export function checkTask(task: SampleTask): void {
  if (!task || task.kind !== 'ivfkit.sample-task') {
    throw new IvfkitError('invalid-task', `task.kind: expected 'ivfkit.sample-task', got ${JSON.stringify((task as { kind?: unknown } | null)?.kind)}`);
  }
  if (task.version !== SAMPLE_FORMAT_VERSION) {
    throw new IvfkitError('unsupported-version', `sample task version: expected ${SAMPLE_FORMAT_VERSION}, got ${shown(task.version)}`);
  }
  try {
    sampleTargets({ metric: task.metric, seed: task.seed, numPartitions: 1, ...(task.dim !== undefined ? { dim: task.dim } : {}) });
  } catch (e) {
    throw e instanceof IvfkitError ? new IvfkitError('invalid-task', `task.${e.message}`) : e;
  }
  const ints: [string, unknown][] = [['taskId', task.taskId], ['numTasks', task.numTasks], ['ivfTarget', task.ivfTarget], ['quantTarget', task.quantTarget]];
  for (const [name, v] of ints) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new IvfkitError('invalid-task', `task.${name}: expected a non-negative integer, got ${shown(v)}`);
  }
  if (task.taskId >= task.numTasks) throw new IvfkitError('invalid-task', `task.taskId: expected < numTasks ${task.numTasks}, got ${task.taskId}`);
  if (typeof task.planId !== 'string' || task.planId.length === 0) throw new IvfkitError('invalid-task', `task.planId: expected a non-empty string, got ${shown(task.planId)}`);
  if (!Array.isArray(task.fragments)) throw new IvfkitError('invalid-task', `task.fragments: expected an array, got ${typeof task.fragments}`);
  validateFragments(task.fragments, 'task.fragments', 'invalid-task');
  let prev = -1;
  task.fragments.forEach((f, i) => {
    if (f.id <= prev) throw new IvfkitError('invalid-task', `task.fragments: expected ascending distinct ids, got ${prev} then ${f.id}`);
    prev = f.id;
    for (const q of ['ivfQuota', 'quantQuota'] as const) {
      const v = f[q];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > f.numRows) {
        throw new IvfkitError('invalid-task', `task.fragments[${i}] (id ${f.id}) ${q}: expected an integer in [0, ${f.numRows}], got ${shown(v)}`);
      }
    }
  });
}

/**
 * Checks that `results` cover one plan exactly once; returns them ordered by task id.
 * Missing, duplicate and foreign results (other plan) are all named in one IvfkitError.
 */
export function checkCoverage(results: readonly SampleResult[]): SampleResult[] {
  if (!Array.isArray(results) || results.length === 0) {
    throw new IvfkitError('incomplete-samples', `sample results: expected a non-empty array, got ${Array.isArray(results) ? 'an empty array' : typeof results}`);
  }
  results.forEach((r, i) => {
    if (!r || r.kind !== 'ivfkit.sample-result') {
      throw new IvfkitError('invalid-result', `results[${i}].kind: expected 'ivfkit.sample-result', got ${JSON.stringify((r as { kind?: unknown } | null)?.kind)}`);
    }
    if (r.version !== SAMPLE_FORMAT_VERSION) {
      throw new IvfkitError('unsupported-version', `results[${i}].version: expected ${SAMPLE_FORMAT_VERSION}, got ${String(r.version)}`);
    }
  });
  const votes = new Map<string, number>();
  for (const r of results) votes.set(`${r.planId}/${r.numTasks}`, (votes.get(`${r.planId}/${r.numTasks}`) ?? 0) + 1);
  let best = `${results[0]!.planId}/${results[0]!.numTasks}`;
  for (const [key, n] of votes) if (n > votes.get(best)!) best = key;
  const ref = results.find((r) => `${r.planId}/${r.numTasks}` === best)!;
  const byTask = new Map<number, SampleResult>();
  const duplicates = new Set<number>();
  const foreign: string[] = [];
  results.forEach((r, i) => {
    if (r.planId !== ref.planId || r.numTasks !== ref.numTasks || !Number.isInteger(r.taskId) || r.taskId < 0 || r.taskId >= ref.numTasks) {
      foreign.push(`results[${i}] (plan ${r.planId}, task ${r.taskId} of ${r.numTasks})`);
    } else if (byTask.has(r.taskId)) duplicates.add(r.taskId);
    else byTask.set(r.taskId, r);
  });
  const missing: number[] = [];
  for (let t = 0; t < ref.numTasks; t++) if (!byTask.has(t)) missing.push(t);
  if (missing.length || duplicates.size || foreign.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing tasks [${missing.join(', ')}]`);
    if (duplicates.size) parts.push(`duplicate tasks [${[...duplicates].sort((a, b) => a - b).join(', ')}]`);
    if (foreign.length) parts.push(`foreign results ${foreign.join(', ')}`);
    throw new IvfkitError('incomplete-samples',
      `sample results of plan ${ref.planId}: expected tasks 0..${ref.numTasks - 1} exactly once, got ${parts.join('; ')}`);
  }
  return [...byTask.values()].sort((a, b) => a.taskId - b.taskId);
}

/** The union sample in canonical order (fragment id ascending, offsets ascending). */
export interface MergedSample {
  dim: number;
  metric: Metric;
  ivf: Float32Array;
  quant: Float32Array;
  ivfRows: number;
  ivfDropped: number;
  quantRows: number;
  quantDropped: number;
  sqBounds: { lower: number; upper: number } | null;
  maxAbs: number;
}

/**
 * Checks results against their plan, planned again from the fragments they report (ids and row counts): the plan id
 * must come out the same, each result must hold its task's fragments, and each fragment's rows + dropped rows must be
 * its quotas. So a task edited by hand, a result edited in transit or a task run on other data cannot pass for the plan.
 * Needs only the results' metadata (a coordinator whose samples stay on the workers calls it too).
 */
export function checkAgainstPlan(ordered: readonly Omit<SampleResult, 'ivf' | 'quant'>[]): void {
  const first = ordered[0]!;
  const frags: FragmentInfo[] = [];
  for (const r of ordered) {
    checkResultFragments(r);
    for (const f of r.fragments) frags.push({ id: f.id, numRows: f.numRows });
  }
  const valid = validateFragments(frags, 'result fragments', 'invalid-result');
  const header = { metric: first.metric, seed: first.seed, ivfTarget: first.ivfTarget, quantTarget: first.quantTarget };
  // A plan made with a dim hashes it; the results carry the rows' dim: either way gives the plan's id.
  let tasks = planTasks(valid, first.numTasks, header);
  if (tasks[0]!.planId !== first.planId) tasks = planTasks(valid, first.numTasks, { ...header, dim: first.dim });
  if (tasks[0]!.planId !== first.planId) {
    const rows = valid.reduce((s, f) => s + f.numRows, 0);
    throw new IvfkitError('invalid-result', `sample results: expected the fragments and quotas of plan ${first.planId}, got ${valid.length} fragments ` +
      `(${rows} rows) over ${first.numTasks} tasks that plan as ${tasks[0]!.planId}: a task or result was changed, or a task ran on other data`);
  }
  for (const r of ordered) {
    const t = tasks[r.taskId]!;
    const ids = r.fragments.map((f) => f.id).join(', '), want = t.fragments.map((f) => f.id).join(', ');
    if (ids !== want) throw new IvfkitError('invalid-result', `fragments of task ${r.taskId}: expected [${want}] (plan ${first.planId}), got [${ids}]`);
    r.fragments.forEach((f, i) => {
      const q = t.fragments[i]!;
      if (f.ivfRows + f.ivfDropped !== q.ivfQuota || f.quantRows + f.quantDropped !== q.quantQuota) {
        throw new IvfkitError('invalid-result', `fragment ${f.id} of task ${r.taskId}: expected ${q.ivfQuota} IVF and ${q.quantQuota} quantizer rows ` +
          `read (kept + dropped, plan ${first.planId}), got ${f.ivfRows} + ${f.ivfDropped} and ${f.quantRows} + ${f.quantDropped}`);
      }
    });
  }
}

/** Checks that a result's `fragments` is an array of per-fragment counts (non-negative integers); throws IvfkitError. */
export function checkResultFragments(r: Pick<SampleResult, 'taskId' | 'fragments'>): void {
  if (!Array.isArray(r.fragments)) throw new IvfkitError('invalid-result', `result of task ${shown(r.taskId)}: expected fragments (an array), got ${describe(r.fragments)}`);
  r.fragments.forEach((f, i) => {
    for (const key of ['id', 'numRows', 'ivfRows', 'ivfDropped', 'quantRows', 'quantDropped'] as const) {
      const v = (f as Partial<ResultFragment> | null)?.[key];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
        throw new IvfkitError('invalid-result', `result of task ${shown(r.taskId)} fragments[${i}].${key}: expected a non-negative integer, got ${shown(v)}`);
      }
    }
  });
}

/** @internal Results `trainLocal` made and handed straight to training: nobody else holds them, so their rows are not
 *  checked against their own bounds again (a check against results edited in transit) and training may overwrite them. */
export const ownResults = new WeakSet<SampleResult>();

/** Checks coverage and the plan, and concatenates the results' rows in canonical fragment order; merges SQ bounds. */
export function mergeSampleResults(results: readonly SampleResult[]): MergedSample {
  const ordered = checkCoverage(results);
  const first = ordered[0]!;
  const { dim, metric } = first;
  type Piece = { id: number; ivf: Float32Array; quant: Float32Array };
  const pieces: Piece[] = [];
  let ivfDropped = 0;
  let quantDropped = 0;
  let lower = Infinity;
  let upper = -Infinity;
  let max = 0;
  // The header most results share is the plan's; the odd one out is named (not the first result).
  const head = (r: SampleResult): string => `dim ${r.dim}, metric ${r.metric}, seed ${r.seed}, targets ${r.ivfTarget}/${r.quantTarget}`;
  const votes = new Map<string, number>();
  for (const r of ordered) votes.set(head(r), (votes.get(head(r)) ?? 0) + 1);
  const common = [...votes].sort((a, b) => b[1] - a[1])[0]![0];
  for (const r of ordered) {
    if (head(r) !== common) {
      throw new IvfkitError('invalid-result', `result of task ${r.taskId}: expected ${common} like ${votes.get(common)} other result(s), got ${head(r)}`);
    }
    const b = r.sqBounds;
    if (b !== null && !(b && typeof b.lower === 'number' && typeof b.upper === 'number' && Number.isFinite(b.lower) && Number.isFinite(b.upper) && b.lower <= b.upper)) {
      throw new IvfkitError('invalid-result', `sqBounds of task ${r.taskId}: expected null or finite { lower ≤ upper }, got ${JSON.stringify(b)}`);
    }
    if (typeof r.maxAbs !== 'number' || !(r.maxAbs >= 0)) throw new IvfkitError('invalid-result', `maxAbs of task ${r.taskId}: expected a number ≥ 0, got ${shown(r.maxAbs)}`);
    if (ownResults.has(r)) continue;
    // The bounds are the min and max of the quantizer rows the result holds (one pass; the merge takes min of mins, max of maxes).
    let lo = Infinity, hi = -Infinity;
    const q = r.quant;
    for (let i = 0; i < q.length; i++) { const v = q[i]!; if (v < lo) lo = v; if (v > hi) hi = v; }
    const want = q.length > 0 ? { lower: lo, upper: hi } : null;
    if (!(b === null ? want === null : want !== null && b.lower === want.lower && b.upper === want.upper)) {
      throw new IvfkitError('invalid-result', `sqBounds of task ${r.taskId}: expected ${JSON.stringify(want)} (its quantizer rows), got ${JSON.stringify(b)}`);
    }
  }
  checkAgainstPlan(ordered);
  for (const r of ordered) {
    let io = 0;
    let qo = 0;
    for (const f of r.fragments) {
      const ie = io + f.ivfRows * dim;
      const qe = qo + f.quantRows * dim;
      pieces.push({ id: f.id, ivf: r.ivf.subarray(io, ie), quant: r.quant.subarray(qo, qe) });
      io = ie;
      qo = qe;
      ivfDropped += f.ivfDropped;
      quantDropped += f.quantDropped;
    }
    if (io !== r.ivf.length || qo !== r.quant.length) {
      throw new IvfkitError('invalid-result',
        `rows of task ${r.taskId}: expected ${io / dim} IVF and ${qo / dim} quantizer rows of dim ${dim} (per-fragment counts), got ${r.ivf.length / dim} and ${r.quant.length / dim}`);
    }
    if (r.sqBounds) {
      lower = Math.min(lower, r.sqBounds.lower);
      upper = Math.max(upper, r.sqBounds.upper);
    }
    max = Math.max(max, r.maxAbs);
  }
  pieces.sort((a, b) => a.id - b.id);
  for (let i = 1; i < pieces.length; i++) {
    if (pieces[i]!.id === pieces[i - 1]!.id) throw new IvfkitError('invalid-result', `fragment ${pieces[i]!.id}: expected in one task, got in two`);
  }
  const ivf = concatRows(pieces.map((p) => p.ivf));
  const quant = pieces.every((p) => sameView(p.quant, p.ivf)) ? ivf : concatRows(pieces.map((p) => p.quant));
  return {
    dim, metric, ivf, quant,
    ivfRows: ivf.length / dim, ivfDropped, quantRows: quant.length / dim, quantDropped,
    sqBounds: lower <= upper ? { lower, upper } : null,
    maxAbs: max,
  };
}
