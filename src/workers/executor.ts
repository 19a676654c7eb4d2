import { getWasmModule, resolveBuild } from '../kernels/index.js';
import type { KernelBuildRequest } from '../kernels/types.js';
import { gatherRows, type KmeansExecutor } from '../train/executor.js';
import type { SplitResult } from '../train/hierarchical.js';
import type { SubRunSpec } from '../train/lloyd.js';
import { mergeInto, releasedSums, subtractRows, type PartialStats, type StatsContext } from '../train/partial.js';
import { expect, IvfkitError, rowsOf, yieldToEventLoop } from '../util/errors.js';
import { defaultThreads, spawnWorkers, type PinnedWorker } from './pool.js';
import type { ResidualsReply, StatsReply } from './worker.js';

export { defaultThreads, IS_NODE } from './pool.js';

/** Options of {@link createPoolExecutor}. */
export interface PoolExecutorOptions {
  /** Worker threads = shards (default: logical cores, see {@link defaultThreads}); at most one per row. */
  threads?: number;
  /** Aborting terminates every worker: running and later calls reject with `IvfkitError` code 'aborted'. */
  signal?: AbortSignal;
  /** Kernel build in the workers (default 'auto', as `loadKernels()`); use the caller's build for identical bits. */
  build?: KernelBuildRequest;
  /** URL of `worker.js`, the file of `ivfkit/worker` (default: the file next to this module, or the chunk a bundler emitted
   *  for it); a string resolves against the page (browsers) or the working directory (Node). */
  workerUrl?: URL | string;
}

/** A {@link KmeansExecutor} over worker threads; `close()` terminates them (idempotent). */
export type PoolExecutor = KmeansExecutor & {
  readonly local: Float32Array;
  /** Shards (= workers) in use. */
  readonly threads: number;
  /**
   * Turns every shard into its residuals x − c_nearest (squared L2; the nearest centroid as `kernels.assign`
   * finds it, a row without one becomes NaN), in place in the workers — the nearest centroids from the bounds
   * of the last map steps when the workers have them. Returns an executor over the residuals on the same
   * workers; its `rows()` subtracts here from the rows of this executor, so no residual copy is made in this
   * thread. From then on this executor is spent (its calls reject); closing either one closes the workers.
   * Rows in a SharedArrayBuffer are the caller's, shared with the workers: they stay as they were (each worker copies
   * its shard first) unless `inPlace` says the caller no longer needs them — then the residuals overwrite them.
   */
  residuals(centroids: Float32Array, opts?: { inPlace?: boolean }): Promise<ResidualPoolExecutor>;
  close(): Promise<void>;
};

/** The executor {@link PoolExecutor.residuals} returns: residual rows on the pool's workers. */
export type ResidualPoolExecutor = KmeansExecutor & {
  readonly threads: number;
  /** Each row's nearest centroid (−1: none), canonical order. */
  readonly nearest: Int32Array;
  close(): Promise<void>;
};

/**
 * A k-means executor over a pool of worker threads (piscina in Node, module Web Workers elsewhere).
 * Rows are cut into `threads` contiguous shards; each shard is copied once into its own buffer and
 * transferred to its worker, where it stays. Every `partialStats` call then sends only the centroids
 * and the context to each worker and merges the returned stats with `mergePartialStats`: the sums
 * are fixed point, so the result has the same bits for any thread count. `rows()` reads the local
 * array (canonical order), and `local` exposes it for kmeans++ and hierarchical k-means.
 *
 * @example
 * const ex = await createPoolExecutor(data, 128, { threads: 4 });
 * try { const { centroids } = await kmeansWith(ex, 256, { seed: 1 }); } finally { await ex.close(); }
 */
export async function createPoolExecutor(data: Float32Array, dim: number, opts: PoolExecutorOptions = {}): Promise<PoolExecutor> {
  expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data);
  const n = rowsOf(data, dim);
  const threadsAsked = opts.threads ?? (await defaultThreads());
  expect(Number.isSafeInteger(threadsAsked) && threadsAsked >= 1, 'invalid-argument', 'threads', 'an integer ≥ 1', threadsAsked);
  const signal = opts.signal;
  if (signal?.aborted) throw abortError(signal);
  const threads = Math.max(1, Math.min(threadsAsked, n));
  const build = resolveBuild(opts.build ?? 'auto');
  const module = build === 'reference' ? undefined : await getWasmModule(build);
  const workers: PinnedWorker[] = await spawnWorkers(threads, opts.workerUrl ? { workerUrl: opts.workerUrl } : {});
  // Rows in shared memory are shared with the workers, not copied to them.
  const shared = typeof SharedArrayBuffer === 'function' && data.buffer instanceof SharedArrayBuffer;
  let closed = false;
  let aborted = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.terminate().catch(() => undefined)));
  };
  const onAbort = (): void => {
    aborted = true;
    void close();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const guard = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (e) {
      if (aborted && signal) throw abortError(signal);
      throw e;
    }
  };
  // Each worker reports its shard's max |x| when it loads it (in its kernels), so the executor never scans the rows.
  let maxAbs = 0;
  const spare: (ArrayBuffer | undefined)[] = [];
  const centroidBuffers: (ArrayBuffer | undefined)[] = [];
  try {
    // Every worker starts its init (kernels, warm-up) before the shards are cut: copying them here (fresh pages, ~3.5 ms
    // per MB on the hosts measured) then overlaps the workers' init instead of preceding it.
    const inits = workers.map((w, i) => withTimeout(w.call({ op: 'init', build, ...(module ? { module } : {}) }), POOL_INIT_TIMEOUT_MS,
      () => new IvfkitError('worker-error',
        `worker ${i}: expected a reply to init within ${POOL_INIT_TIMEOUT_MS / 1000} s, got none (a script that loaded but does not answer: ` +
        'not ivfkit\'s worker, or one that took the page for another environment)')));
    inits.forEach((p) => p.catch(() => undefined));        // awaited below; a rejection is not unhandled meanwhile
    const loads: Promise<void>[] = [];
    for (let i = 0; i < threads; i++) {
      if (i > 0) await yieldToEventLoop();                // lets a worker that finished init take its shard meanwhile
      const lo = Math.floor((n * i) / threads), hi = Math.floor((n * (i + 1)) / threads);
      // Rows in shared memory are shared with the workers (nothing copied; a worker copies its shard before changing it).
      const shard = shared ? data.subarray(lo * dim, hi * dim) : data.slice(lo * dim, hi * dim), w = workers[i]!;
      loads.push(inits[i]!.then(async () => {
        const loaded = await w.call<{ rows: number; maxAbs: number }>({ op: 'load', data: shard, dim }, shared ? [] : [shard.buffer as ArrayBuffer]);
        maxAbs = Math.max(maxAbs, loaded.maxAbs);
      }));
      loads[i]!.catch(() => undefined);
    }
    await guard(Promise.all(loads));
  } catch (e) {
    await close();
    throw e;
  }
  let spent = false;
  const open = (): void => {
    if (aborted && signal) throw abortError(signal);
    if (closed) throw new IvfkitError('closed', 'pool executor: expected an open executor, got a closed one');
  };
  const partialStats = async (centroids: Float32Array, ctx: StatsContext): Promise<PartialStats> => {
    open();
    const replies = await guard(Promise.all(workers.map((w, i) => {
      const s = spare[i];
      spare[i] = undefined;
      // Each worker gets its own copy of the centroids, transferred (not cloned) and returned with the stats.
      const cb = centroidBuffers[i];
      centroidBuffers[i] = undefined;
      const c = cb && cb.byteLength === centroids.byteLength ? new Float32Array(cb) : new Float32Array(centroids.length);
      c.set(centroids);
      const msg = { op: 'stats' as const, centroids: c, ctx, ...(s ? { spare: s } : {}) };
      return w.call<StatsReply>(msg, s ? [c.buffer, s] : [c.buffer]);
    })));
    const stats = replies.map((r, i) => {
      centroidBuffers[i] = r.centroids;
      return r.stats;
    });
    if (stats.length === 1) return stats[0]!;
    // Merged in place into the first shard's sums (released, they go back to that worker); the others' next request.
    const merged = mergeInto(stats, stats[0]!.sums.buffer as ArrayBuffer);
    for (let i = 1; i < stats.length; i++) spare[i] = stats[i]!.sums.buffer as ArrayBuffer;
    return merged;
  };
  const release = (stats: PartialStats): void => {
    // Single or merged, the sums live in the first worker's buffer: it gets it back with its next request.
    const b = releasedSums(stats);
    if (b) spare[0] = b;
  };
  const unspent = (): void => {
    if (spent) throw new IvfkitError('invalid-state', 'pool executor: expected its raw rows, got shards turned into residuals (use the executor residuals() returned)');
  };
  // Hierarchical sub-runs: one per worker at a time, the others wait for a free one.
  const idle = workers.map((_, i) => i);
  const waiting: ((i: number) => void)[] = [];
  const subRuns = {
    slots: threads,
    async run(rows: Float32Array, train: number, spec: SubRunSpec): Promise<SplitResult> {
      open();
      const i = idle.pop() ?? await new Promise<number>((res) => waiting.push(res));
      try {
        return await guard(workers[i]!.call<SplitResult>({ op: 'subRun', rows, train, dim, spec }, [rows.buffer as ArrayBuffer]));
      } finally {
        const next = waiting.shift();
        if (next) next(i); else idle.push(i);
      }
    },
  };
  return {
    n, dim, threads, local: data, subRuns,
    get maxAbs(): number { return maxAbs; },
    rows: async (indices) => {
      unspent();
      return gatherRows(data, dim, indices);
    },
    async partialStats(centroids: Float32Array, ctx: StatsContext): Promise<PartialStats> {
      unspent();
      return partialStats(centroids, ctx);
    },
    release,
    async residuals(centroids: Float32Array, ropts: { inPlace?: boolean } = {}): Promise<ResidualPoolExecutor> {
      unspent();
      open();
      const k = rowsOf(centroids, dim, 'centroids');
      expect(k > 0, 'invalid-argument', 'centroids', 'at least one centroid', 0);
      const c = centroids.slice();
      spent = true;
      spare.fill(undefined);
      const inPlace = shared && ropts.inPlace === true;        // the workers then write the residuals into `data` itself
      const replies = await guard(Promise.all(workers.map((w) => w.call<ResidualsReply>({ op: 'residuals', centroids: c, inPlace }))));
      const nearest = new Int32Array(n);
      let residualMaxAbs = 0;
      replies.forEach((r, i) => {
        nearest.set(r.index, Math.floor((n * i) / threads));
        residualMaxAbs = Math.max(residualMaxAbs, r.maxAbs);
      });
      return {
        n, dim, threads, nearest, maxAbs: residualMaxAbs,
        rows: async (indices) => {
          const x = gatherRows(data, dim, indices);
          if (inPlace) return x;
          const index = new Int32Array(indices.length);
          for (let i = 0; i < index.length; i++) index[i] = nearest[indices[i]!]!;
          return subtractRows(x, dim, c, index, x);
        },
        partialStats,
        release,
        close,
      };
    },
    close,
  };
}

/** How long a new worker may take to answer its first request (load its kernels) before the pool gives up on it. */
export const POOL_INIT_TIMEOUT_MS = 60_000;

function withTimeout<T>(p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(error()), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function abortError(signal: AbortSignal): IvfkitError {
  const err = new IvfkitError('aborted', `thread pool: expected to run to the end, got aborted (${String(signal.reason)})`);
  err.name = 'AbortError';
  (err as { cause?: unknown }).cause = signal.reason;
  return err;
}
