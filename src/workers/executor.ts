import { getWasmModule, resolveBuild } from '../kernels/index.js';
import type { KernelBuildRequest } from '../kernels/types.js';
import { gatherRows, type KmeansExecutor } from '../train/executor.js';
import { mergeInto, releasedSums, type PartialStats, type StatsContext } from '../train/partial.js';
import { expect, IvfkitError, rowsOf } from '../util/errors.js';
import { defaultThreads, spawnWorkers, type PinnedWorker } from './pool.js';
import type { StatsReply } from './worker.js';

export { defaultThreads, IS_NODE } from './pool.js';

/** Options of {@link createPoolExecutor}. */
export interface PoolExecutorOptions {
  /** Worker threads = shards (default: logical cores, see {@link defaultThreads}); at most one per row. */
  threads?: number;
  /** Aborting terminates every worker: running and later calls reject with `IvfkitError` code 'aborted'. */
  signal?: AbortSignal;
  /** Kernel build in the workers (default 'auto', as `loadKernels()`); use the caller's build for identical bits. */
  build?: KernelBuildRequest;
  /** URL of `worker.js` (default: the file next to this module). */
  workerUrl?: URL;
}

/** A {@link KmeansExecutor} over worker threads; `close()` terminates them (idempotent). */
export type PoolExecutor = KmeansExecutor & {
  readonly local: Float32Array;
  /** Shards (= workers) in use. */
  readonly threads: number;
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
    await guard(Promise.all(workers.map(async (w, i) => {
      const lo = Math.floor((n * i) / threads), hi = Math.floor((n * (i + 1)) / threads);
      const shard = data.slice(lo * dim, hi * dim);
      await w.call({ op: 'init', build, ...(module ? { module } : {}) });
      const loaded = await w.call<{ rows: number; maxAbs: number }>({ op: 'load', data: shard, dim }, [shard.buffer]);
      maxAbs = Math.max(maxAbs, loaded.maxAbs);
    })));
  } catch (e) {
    await close();
    throw e;
  }
  return {
    n, dim, threads, local: data,
    get maxAbs(): number { return maxAbs; },
    rows: async (indices) => gatherRows(data, dim, indices),
    async partialStats(centroids: Float32Array, ctx: StatsContext): Promise<PartialStats> {
      if (aborted && signal) throw abortError(signal);
      if (closed) throw new IvfkitError('closed', 'pool executor: expected an open executor, got a closed one');
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
    },
    release(stats: PartialStats): void {
      // Single or merged, the sums live in the first worker's buffer: it gets it back with its next request.
      const b = releasedSums(stats);
      if (b) spare[0] = b;
    },
    close,
  };
}

function abortError(signal: AbortSignal): IvfkitError {
  const err = new IvfkitError('aborted', `thread pool: expected to run to the end, got aborted (${String(signal.reason)})`);
  err.name = 'AbortError';
  (err as { cause?: unknown }).cause = signal.reason;
  return err;
}
