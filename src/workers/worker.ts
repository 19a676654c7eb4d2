/**
 * The one worker entry of ivfkit's thread pool (`dist/workers/worker.js`, also `ivfkit/worker`).
 *
 * The same file runs as a piscina task module in Node (its default export handles one request) and as
 * a module Web Worker in browsers, Deno and Bun (it listens for `{ id, msg }` messages and answers
 * `{ id, ok, value | error }`). A worker keeps one shard resident: `load` transfers the rows once,
 * then every `stats` request carries only centroids + context and returns {@link PartialStats} with
 * their buffers transferred back. No top-level await (bundlers' iife worker format rejects it).
 */
import { kernelsFromModule } from '../kernels/instance.js';
import { syntheticRows } from '../kernels/warmup.js';
import type { KernelBuildRequest, Kernels } from '../kernels/types.js';
import { IvfkitError, rowsOf } from '../util/errors.js';
import { maxAbs as maxAbsOf } from '../util/fixed.js';
import { kmeansPartialStats, nearestCentroids, releaseScratch, subtractRows, type PartialStats, type StatsContext, type StatsScratch } from '../train/partial.js';
import { subRunSplit, type SubRunSpec } from '../train/lloyd.js';

/** Requests understood by the worker. */
export type WorkerRequest =
  | { op: 'init'; build: KernelBuildRequest; module?: WebAssembly.Module }   // module: the compiled build (any build but 'reference')
  | { op: 'load'; data: Float32Array; dim: number }
  | { op: 'stats'; centroids: Float32Array; ctx: StatsContext; spare?: ArrayBuffer }
  | { op: 'residuals'; centroids: Float32Array; inPlace?: boolean }   // inPlace: a shared shard may be overwritten
  | { op: 'subRun'; rows: Float32Array; train: number; dim: number; spec: SubRunSpec }
  | { op: 'noop' }
  | { op: 'echo'; buffer: ArrayBuffer };

/** The reply to a `stats` request: the stats and the request's centroid buffer (transferred back for reuse). */
export interface StatsReply {
  stats: PartialStats;
  centroids: ArrayBuffer;
}

/** The reply to a `residuals` request: each shard row's nearest centroid (as `kernels.assign`) and the residual shard's max |x|. */
export interface ResidualsReply {
  index: Int32Array;
  maxAbs: number;
}

/** What {@link handleRequest} returns, with the buffers that may be transferred back. */
export interface WorkerReply {
  value: unknown;
  transfer: ArrayBuffer[];
}

interface State {
  kernels?: Kernels;
  data?: Float32Array;
  dim: number;
  maxAbs: number;
  scratch: StatsScratch;
}

const state: State = { dim: 0, maxAbs: 0, scratch: {} };

/**
 * A few map steps on small synthetic shards (plain, the full step before bounds, bounded; group and pair bounds),
 * so that this worker's JavaScript around the kernels is compiled before a training's first steps (the module's
 * wasm code is warm already: it was warmed where it was compiled). ~50 ms once per worker, part of the pool's
 * start-up; never fails the init (returns whether every step ran).
 */
export function warmStats(kernels: Kernels): boolean {
  try {
    for (const [n, dim, k] of [[256, 64, 32], [64, 256, 512]] as const) {
      const x = syntheticRows(n, dim, 7);
      const scratch: StatsScratch = {};
      let c = new Float32Array(k * dim);
      for (let j = 0; j < k; j++) c.set(x.subarray((j % n) * dim, (j % n + 1) * dim), j * dim);
      for (let it = 1; it <= 4; it++) {
        const ctx: StatsContext = { iteration: it, shift: 16, lossShift: 8, metric: 'l2', ...(it === 1 ? { boundsSoon: true } : { bounds: true }) };
        kmeansPartialStats(x, dim, c, ctx, kernels, scratch);
        c = c.map((v, i) => v + (((i * 7 + it) % 5) - 2) * 0.01);
      }
      kmeansPartialStats(x, dim, c, { iteration: 5, shift: 16, lossShift: 8, metric: 'l2' }, kernels);
      releaseScratch(scratch);
    }
    return true;
  } catch {
    return false;                                           // only speed is at stake; real errors surface when the worker is used
  }
}

/** Runs one request against this worker's state (platform-neutral; used by both entry styles). */
export function handleRequest(msg: WorkerRequest): WorkerReply | Promise<WorkerReply> {
  switch (msg?.op) {
    case 'subRun': {
      if (!state.kernels) throw new IvfkitError('invalid-state', 'worker: expected init before subRun, got kernels unset');
      return subRunSplit(msg.rows, msg.train, msg.dim, msg.spec, state.kernels).then((r) => ({
        value: { ...r, rows: msg.rows },
        transfer: [r.centroids.buffer as ArrayBuffer, r.index.buffer as ArrayBuffer, msg.rows.buffer as ArrayBuffer],
      }));
    }
    case 'init': {
      state.kernels = kernelsFromModule(msg.build, msg.module);
      warmStats(state.kernels);
      return { value: { build: state.kernels.build }, transfer: [] };
    }
    case 'load': {
      const rows = rowsOf(msg.data, msg.dim, 'shard');
      state.data = msg.data;
      state.dim = msg.dim;
      releaseScratch(state.scratch);
      state.scratch = {};
      // The shard's max |x| (finite values) while the worker has it at hand: the coordinator needs it for the scale.
      state.maxAbs = state.kernels ? state.kernels.maxAbs(msg.data) : maxAbsOf(msg.data);
      return { value: { rows, maxAbs: state.maxAbs }, transfer: [] };
    }
    case 'residuals': {
      const { kernels, data, dim } = loaded('residuals');
      // The last map steps' bounds (if any) find the nearest centroids; then the shard becomes its residuals (in place
      // unless shared), and every session of the raw rows is dropped.
      const index = nearestCentroids(data, dim, msg.centroids, kernels, state.scratch, state.maxAbs);
      // A shard in shared memory is the caller's rows: the residuals go to a copy of the worker's own, unless the caller
      // gave the rows up (inPlace).
      if (typeof SharedArrayBuffer === 'function' && data.buffer instanceof SharedArrayBuffer && msg.inPlace !== true) state.data = data.slice();
      const residuals = state.data!;
      subtractRows(data, dim, msg.centroids, index, residuals);
      releaseScratch(state.scratch);                        // the PQ session that follows takes its memory
      state.scratch = {};
      state.maxAbs = kernels.maxAbs(residuals);
      const reply: ResidualsReply = { index, maxAbs: state.maxAbs };
      return { value: reply, transfer: [index.buffer as ArrayBuffer] };
    }
    case 'stats': {
      const { kernels, data, dim } = loaded('stats');
      if (msg.spare instanceof ArrayBuffer) state.scratch.spare = msg.spare;
      const s = kmeansPartialStats(data, dim, msg.centroids, msg.ctx, kernels, state.scratch);
      // The centroids' buffer goes back with the stats, for the caller's next request (nothing here keeps it).
      const back = msg.centroids.buffer as ArrayBuffer;
      const reply: StatsReply = { stats: s, centroids: back };
      return { value: reply, transfer: [...statsBuffers(s), back] };
    }
    case 'noop':
      return { value: null, transfer: [] };
    case 'echo':
      return { value: msg.buffer, transfer: [msg.buffer] };
    default:
      throw new IvfkitError('invalid-argument', `worker request op: expected init, load, stats, residuals, subRun, noop or echo, got ${String((msg as { op?: unknown } | null)?.op)}`);
  }
}

function loaded(op: string): { kernels: Kernels; data: Float32Array; dim: number } {
  if (!state.kernels || !state.data) {
    throw new IvfkitError('invalid-state', `worker: expected init and load before ${op}, got kernels ${state.kernels ? 'set' : 'unset'}, shard ${state.data ? 'set' : 'unset'}`);
  }
  return { kernels: state.kernels, data: state.data, dim: state.dim };
}

/** The distinct buffers of a PartialStats (for transfer lists). */
export function statsBuffers(s: PartialStats): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const a of [s.sums, s.counts, s.clusterLoss, s.radius]) set.add(a.buffer as ArrayBuffer);
  return [...set];
}

type PiscinaMove = (v: object) => unknown;
let piscinaMove: PiscinaMove | undefined;
const PISCINA = 'piscina';

/**
 * piscina entry: one request in, one reply out (buffers moved, not copied).
 */
export default async function piscinaTask(msg: WorkerRequest): Promise<unknown> {
  const loadMove = async (): Promise<PiscinaMove> => ((await import(/* @vite-ignore */ /* webpackIgnore: true */ PISCINA)) as { move: PiscinaMove }).move;
  // Loaded with the kernels: a cold import costs tens of ms, which the first stats reply should not pay.
  if (msg?.op === 'init') piscinaMove ??= await loadMove();
  const { value, transfer } = await handleRequest(msg);
  if (transfer.length === 0) return value;
  piscinaMove ??= await loadMove();
  return piscinaMove({ [Symbol.for('Piscina.transferable')]: transfer, [Symbol.for('Piscina.valueOf')]: value });
}

interface WebScope {
  postMessage(m: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', cb: (e: { data: { id: number; msg: WorkerRequest } }) => void): void;
}

const g = globalThis as unknown as { self?: WebScope; WorkerGlobalScope?: unknown; Bun?: { isMainThread?: boolean }; document?: unknown };
// A Web Worker: an instance of WorkerGlobalScope (browsers, Deno), or a Bun worker (Bun has no WorkerGlobalScope). Neither a
// `process` global (bundles' Node polyfills) nor `self.postMessage` alone (Bun's main thread has it) decides.
const isWebWorker = typeof g.document === 'undefined' && typeof g.self?.postMessage === 'function' &&
  ((typeof g.WorkerGlobalScope === 'function' && globalThis instanceof (g.WorkerGlobalScope as new () => object)) ||
    (typeof g.Bun !== 'undefined' && g.Bun.isMainThread === false));

if (isWebWorker) {
  const scope = g.self!;
  scope.addEventListener('message', async (e) => {
    const { id, msg } = e.data ?? {};
    try {
      const { value, transfer } = await handleRequest(msg);
      scope.postMessage({ id, ok: true, value }, transfer);
    } catch (err) {
      const x = err as { name?: string; message?: string; code?: string };
      scope.postMessage({ id, ok: false, error: { name: x?.name ?? 'Error', message: x?.message ?? String(err), code: x?.code } });
    }
  });
}
