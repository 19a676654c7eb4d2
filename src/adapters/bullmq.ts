/**
 * `ivfkit/bullmq`: distributed training over BullMQ + Redis (Node only; `bullmq` and `ioredis` are
 * optional peer dependencies).
 *
 * - Workers (`startBullmqWorker`) open the data themselves (a module exporting `createSource`) and
 *   run every job in a sandboxed processor on worker threads, so WASM never blocks lock renewal.
 * - The coordinator (`createBullmqCoordinator`) enqueues the sample tasks of a plan keyed by task id;
 *   workers keep the sampled rows in Redis binary keys under the task id (claim-check: bytes never go
 *   through job JSON; in partial-stats mode the coordinator reads only the rows it needs: random init, and above
 *   256 partitions each hierarchical split's training rows, at most k_sub · 512 at a time).
 * - k-means runs as rounds: the coordinator writes the centroids once under a key, adds one `stats`
 *   job per shard, merges the returned fixed-point PartialStats (order-free) and finalizes: a
 *   `KmeansExecutor` over BullMQ, so the models equal `trainLocal`'s bit for bit.
 * - The simple path: `collectSamples` returns the SampleResults for `trainFromSamples`.
 * Delivery is at least once: jobs are deterministic, keyed by id (duplicates are dropped by BullMQ's
 * job ids, or rewrite the same bytes), and the coordinator merges exactly one result per shard.
 */
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { loadKernels } from '../kernels/index.js';
import type { KernelBuildRequest } from '../kernels/types.js';
import { checkAgainstPlan, checkCoverage, createSampleTasks, type SampleResult, type SampleTask } from '../train/sample.js';
import type { KmeansExecutor } from '../train/executor.js';
import { trainIvf } from '../train/ivf.js';
import { TRAIN_DEFAULTS, checkPlanParams, validateTrainParams, type TrainParams } from '../train/local.js';
import { mergePartialStats, statsFingerprint, type PartialStats, type StatsContext } from '../train/partial.js';
import { trainPq } from '../train/pq.js';
import { expectF32Range, maxAbs as maxAbsOf } from '../util/fixed.js';
import type { FragmentInfo, PqModel, Progress, SqModel, TrainedModels } from '../types.js';
import { expect, IvfkitError, throwIfAborted } from '../util/errors.js';
import { bytesToF32, bytesToI32, decodeStats, parseConnection, runKey, viewBytes, type RedisConnection } from './bullmq-codec.js';
import type { JobData, ProcessorConfig } from './bullmq-processor.js';

export { decodeStats, encodeStats, parseConnection, type RedisConnection } from './bullmq-codec.js';

/** Defaults of the adapter. Lock and stall intervals are short so a dead worker's job restarts within seconds. */
export const BULLMQ_DEFAULTS = {
  queueName: 'ivfkit',
  prefix: 'ivfkit',
  lockDuration: 5000,
  stalledInterval: 5000,
  maxStalledCount: 2,
  attempts: 3,
  /** Seconds blobs (samples, centroids, stats) live in Redis. */
  ttl: 24 * 3600,
  /** Milliseconds the coordinator waits for one job (queued and running) before failing. */
  jobTimeout: 10 * 60_000,
  /** Milliseconds a coordinator or worker waits for Redis to answer at start before failing. */
  connectTimeout: 10_000,
  cacheEntries: 16,
} as const;

/**
 * Resolves when Redis answers; rejects with `IvfkitError('connection-failed')`, naming the address and the cause, when it
 * does not within `timeout` ms. BullMQ's own connections retry forever, so an unreachable Redis would otherwise hang the
 * caller: the coordinator checks first, and a worker process should too, before {@link startBullmqWorker}.
 */
export async function checkRedisConnection(at?: string | RedisConnection, timeout: number = BULLMQ_DEFAULTS.connectTimeout): Promise<void> {
  const connection = parseConnection(at);
  const probe = new Redis({ ...connection, lazyConnect: true, connectTimeout: timeout, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let seen: NodeJS.ErrnoException | undefined;
  probe.on('error', (e: NodeJS.ErrnoException) => { seen ??= e; });
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    // The socket's own error (ECONNREFUSED, ETIMEDOUT, …) says more than the client's "Connection is closed".
    const cause = seen?.code ?? seen?.message ?? (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new IvfkitError('connection-failed', `redis ${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}: expected an answer within ${timeout} ms, got ${cause}`);
  } finally {
    probe.disconnect();
  }
}

function checkQueueName(name: string): void {
  expect(typeof name === 'string' && name.length > 0 && !name.includes(':'), 'invalid-argument', 'queueName', "a non-empty name without ':'", name);
}

/** Options of {@link startBullmqWorker}. */
export interface BullmqWorkerOptions {
  /** `redis://host:port/db` or options. Default 127.0.0.1:6379. */
  connection?: string | RedisConnection;
  /** Module (absolute path or file URL) exporting `createSource(options)` or a default function returning a VectorSource. */
  source: string | URL;
  /** JSON-safe value passed to `createSource`. */
  sourceOptions?: unknown;
  queueName?: string;
  /** Jobs at once = processor threads (default 1 per worker process; use `os.availableParallelism()` for all cores). */
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
  /** Kernel build of the processors (default 'auto'; use the coordinator's for identical bits). */
  build?: KernelBuildRequest;
  /** Shard blobs each processor thread keeps in memory between rounds (default 16). */
  cacheEntries?: number;
}

/**
 * Starts a BullMQ worker for ivfkit jobs. The processor runs in worker threads (BullMQ sandbox,
 * `useWorkerThreads: true`). Returns the BullMQ `Worker` (for events) and `close()`. Its connection retries until
 * Redis answers: call {@link checkRedisConnection} first to fail fast instead.
 */
export function startBullmqWorker(opts: BullmqWorkerOptions): { worker: Worker; close(): Promise<void> } {
  expect(typeof opts === 'object' && opts !== null && (typeof opts.source === 'string' || opts.source instanceof URL), 'invalid-argument',
    'options.source', 'a module path or URL exporting createSource', opts?.source);
  const src = String(opts.source);
  expect(src.startsWith('file:') || src.startsWith('/') || /^[A-Za-z]:[\\/]/.test(src) || /^[a-z][a-z0-9+.-]*:/i.test(src), 'invalid-argument',
    'options.source', 'an absolute path or a URL (the processor threads resolve it, not from your working folder)', src);
  checkQueueName(opts.queueName ?? BULLMQ_DEFAULTS.queueName);
  const connection = parseConnection(opts.connection);
  const config: ProcessorConfig = {
    connection, source: String(opts.source), ttl: BULLMQ_DEFAULTS.ttl, cacheEntries: opts.cacheEntries ?? BULLMQ_DEFAULTS.cacheEntries,
    ...(opts.sourceOptions !== undefined ? { sourceOptions: opts.sourceOptions } : {}), ...(opts.build ? { build: opts.build } : {}),
  };
  const processorFile = new URL('./bullmq-processor.js', import.meta.url);
  const worker = new Worker(opts.queueName ?? BULLMQ_DEFAULTS.queueName, processorFile, {
    connection: { ...connection, maxRetriesPerRequest: null },
    useWorkerThreads: true,
    workerThreadsOptions: { workerData: { ivfkit: config } },
    concurrency: opts.concurrency ?? 1,
    lockDuration: opts.lockDuration ?? BULLMQ_DEFAULTS.lockDuration,
    stalledInterval: opts.stalledInterval ?? BULLMQ_DEFAULTS.stalledInterval,
    maxStalledCount: opts.maxStalledCount ?? BULLMQ_DEFAULTS.maxStalledCount,
  });
  worker.on('error', () => undefined);
  return { worker, close: () => worker.close() };
}

/** Options of {@link createBullmqCoordinator}. */
export interface BullmqCoordinatorOptions {
  connection?: string | RedisConnection;
  queueName?: string;
  /** Redis key prefix of blobs (default 'ivfkit'). */
  prefix?: string;
  /** Run id (keys and job ids); default a random one. One run id serves one plan at a time (`run-in-use` otherwise);
   *  after a run, or a coordinator restart, it can be used again (finished jobs leave the queue once read). */
  run?: string;
  /** Tries per job before the run fails (default 3; a stalled job — its worker died — is retried too). */
  attempts?: number;
  /** Milliseconds to wait for one job, queued and running, before the run fails (default 10 minutes). */
  jobTimeout?: number;
  signal?: AbortSignal;
}

/** What a sample job left in Redis (the rows stay there). */
export interface SampleMeta extends Omit<SampleResult, 'ivf' | 'quant'> {
  ivfMaxAbs: number;
  quantMaxAbs: number;
}

/** The coordinator side: enqueue tasks, build remote executors, train. */
export interface BullmqCoordinator {
  readonly run: string;
  /** (a)+(b) Enqueues the sample tasks (job id = run + task id) and waits; rows stay in Redis under the task id. A run id
   *  serves one plan (`run-in-use` otherwise). `onProgress` gets `{ stage: 'sample', fraction }` as tasks finish. */
  sample(tasks: readonly SampleTask[], onProgress?: (p: Progress) => void): Promise<SampleMeta[]>;
  /** (d) The full SampleResults of the sampled tasks (rows fetched), for `trainFromSamples`. */
  collectSamples(metas: readonly SampleMeta[]): Promise<SampleResult[]>;
  /** (c) A KmeansExecutor whose shards are the tasks' IVF rows ('ivf') or quantizer rows ('quant'), canonical order. */
  executor(metas: readonly SampleMeta[], view: 'ivf' | 'quant'): Promise<KmeansExecutor>;
  /** A KmeansExecutor over the residuals x − c_nearest(L2) of the quantizer rows (computed by the workers). */
  residualExecutor(metas: readonly SampleMeta[], ivfCentroids: Float32Array): Promise<KmeansExecutor>;
  /** Partial-stats training from sampled tasks: same models as `trainFromSamples` / `trainLocal`. */
  train(metas: readonly SampleMeta[], params: TrainParams): Promise<TrainedModels>;
  /** Deletes this run's keys. */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a coordinator on a queue. Workers must be started separately ({@link startBullmqWorker}). */
export async function createBullmqCoordinator(opts: BullmqCoordinatorOptions = {}): Promise<BullmqCoordinator> {
  const connection = parseConnection(opts.connection);
  const queueName = opts.queueName ?? BULLMQ_DEFAULTS.queueName;
  const prefix = opts.prefix ?? BULLMQ_DEFAULTS.prefix;
  const run = opts.run ?? `r${Date.now().toString(36)}${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
  expect(/^[A-Za-z0-9_-]+$/.test(run), 'invalid-argument', 'run', 'letters, digits, _ or -', run);
  const attempts = opts.attempts ?? BULLMQ_DEFAULTS.attempts;
  expect(Number.isSafeInteger(attempts) && attempts >= 1, 'invalid-argument', 'attempts', 'an integer ≥ 1', attempts);
  const jobTimeout = opts.jobTimeout ?? BULLMQ_DEFAULTS.jobTimeout;
  expect(typeof jobTimeout === 'number' && Number.isFinite(jobTimeout) && jobTimeout > 0, 'invalid-argument', 'jobTimeout', 'a positive number of milliseconds', jobTimeout);
  checkQueueName(queueName);
  const signal = opts.signal;
  throwIfAborted(signal, 'BullMQ coordinator');
  await checkRedisConnection(connection);
  const redis = new Redis({ ...connection, maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection: { ...connection, maxRetriesPerRequest: null } });
  const events = new QueueEvents(queueName, { connection: { ...connection, maxRetriesPerRequest: null } });
  await events.waitUntilReady();
  const key = (...p: (string | number)[]): string => runKey(prefix, run, ...p);
  const put = async (k: string, bytes: Uint8Array): Promise<void> => {
    await redis.set(k, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'EX', BULLMQ_DEFAULTS.ttl);
  };
  const getBytes = async (k: string): Promise<Buffer> => {
    const b = await redis.getBuffer(k);
    if (!b) throw new IvfkitError('missing-blob', `redis key ${k}: expected a blob, got none (expired or never written)`);
    return b;
  };

  const runJobs = async <R>(jobs: { name: string; id: string; data: JobData }[], onJobDone?: (done: number, total: number) => void): Promise<R[]> => {
    throwIfAborted(signal, 'BullMQ round');
    const added: Job[] = await queue.addBulk(jobs.map((j) => ({
      name: j.name, data: j.data,
      opts: { jobId: j.id, attempts, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } },
    })));
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      onAbort = () => { try { throwIfAborted(signal, 'BullMQ round'); } catch (e) { reject(e); } };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    let done = 0;
    try {
      return await Promise.race([Promise.all(added.map(async (job, i) => {
        try {
          const r = (await job.waitUntilFinished(events, jobTimeout)) as R;
          onJobDone?.(++done, added.length);
          return r;
        } catch (e) {
          throw new IvfkitError('job-failed', `job ${jobs[i]!.id} (${jobs[i]!.name}): expected to complete, got: ${(e as Error).message}`);
        }
      })), aborted]);
    } finally {
      if (onAbort) signal!.removeEventListener('abort', onAbort);
      // Finished jobs are consumed (their outputs are read here and deleted with the run), and jobs still waiting after a
      // failure or an abort must not run later: both leave the queue. A job a worker holds cannot be removed; it ends on
      // its own and BullMQ drops it after an hour.
      await Promise.allSettled(added.map((job) => job.remove()));
    }
  };

  const metasOf = async (taskIds: number[]): Promise<SampleMeta[]> =>
    Promise.all(taskIds.map(async (t) => JSON.parse((await getBytes(key('meta', t))).toString('utf8')) as SampleMeta));

  /** Shards → canonical order: fragments by id across tasks. */
  const layout = (metas: readonly SampleMeta[], view: 'ivf' | 'quant') => {
    const segs: { id: number; shard: number; local: number; count: number; start: number }[] = [];
    const rows = metas.map((m, shard) => {
      let local = 0;
      for (const f of m.fragments) {
        const c = view === 'ivf' ? f.ivfRows : f.quantRows;
        segs.push({ id: f.id, shard, local, count: c, start: 0 });
        local += c;
      }
      return local;
    });
    segs.sort((a, b) => a.id - b.id);
    let s = 0;
    for (const g of segs) { g.start = s; s += g.count; }
    return { segs, rows, n: s };
  };

  const remote = (metas: readonly SampleMeta[], view: string, dataKeys: string[], rowsPer: number[], n: number, dim: number, maxAbs: number,
    segs: ReturnType<typeof layout>['segs']): KmeansExecutor => {
    /** Global row index → its shard and row there. */
    const locate = (g: number): { shard: number; row: number } => {
      expect(Number.isInteger(g) && g >= 0 && g < n, 'invalid-argument', 'row index', `an integer in [0, ${n})`, g);
      let lo = 0, hi = segs.length - 1;
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (segs[mid]!.start <= g) lo = mid; else hi = mid - 1; }
      const sg = segs[lo]!;
      return { shard: sg.shard, row: sg.local + (g - sg.start) };
    };
    let assignRound = 0;
    return {
    n, dim, maxAbs,
    async rows(indices: Uint32Array): Promise<Float32Array> {
      const out = new Float32Array(indices.length * dim);
      // One range read per run of ids that are consecutive rows of one shard (a split's first rows often are).
      const runs: { at: number; count: number; shard: number; row: number }[] = [];
      for (let i = 0; i < indices.length; i++) {
        const here = locate(indices[i]!);
        const last = runs[runs.length - 1];
        if (last && here.shard === last.shard && here.row === last.row + last.count && indices[i] === indices[i - 1]! + 1) last.count++;
        else runs.push({ at: i, count: 1, ...here });
      }
      const pipe = redis.pipeline();
      for (const r of runs) pipe.getrangeBuffer(dataKeys[r.shard]!, r.row * dim * 4, (r.row + r.count) * dim * 4 - 1);
      const res = (await pipe.exec()) ?? [];
      res.forEach(([err, b], j) => {
        if (err) throw err;
        const f = bytesToF32(b as Buffer);
        const r = runs[j]!;
        if (f.length !== r.count * dim) {
          throw new IvfkitError('missing-blob', `rows ${indices[r.at]}…${indices[r.at + r.count - 1]} of ${view}: expected ${r.count * dim} values, got ${f.length}`);
        }
        out.set(f, r.at * dim);
      });
      return out;
    },
    async partialStats(centroids: Float32Array, ctx: StatsContext): Promise<PartialStats> {
      const fp = statsFingerprint(centroids, ctx);
      const tag = `${view}-${ctx.iteration}-${fp}`;
      const ck = key('c', tag), bk = key('b', tag);
      await put(ck, viewBytes(centroids));
      if (ctx.bias) await put(bk, viewBytes(ctx.bias));
      const { bias: _bias, ...plain } = ctx;
      const shards = metas.map((_, s) => s).filter((s) => rowsPer[s]! > 0);
      const outs = await runJobs<{ outKey: string }>(shards.map((s) => ({
        name: 'stats', id: `${run}_st_${tag}_${s}`,
        data: { dataKey: dataKeys[s]!, dim, centroidsKey: ck, ...(ctx.bias ? { biasKey: bk } : {}), ctx: plain, outKey: key('s', tag, s) },
      })));
      const stats = await Promise.all(outs.map(async (o) => decodeStats(await getBytes(o.outKey))));
      await redis.del(ck, bk, ...outs.map((o) => o.outKey));
      return stats.length === 1 ? stats[0]! : mergePartialStats(...stats);
    },
    async assign(indices: Uint32Array, centroids: Float32Array, metric: 'l2' | 'dot'): Promise<Int32Array> {
      const round = assignRound++;
      const perShard = dataKeys.map(() => [] as number[]);
      const shardOf = new Uint32Array(indices.length);
      for (let i = 0; i < indices.length; i++) {
        const { shard, row } = locate(indices[i]!);
        shardOf[i] = shard;
        perShard[shard]!.push(row);
      }
      const ck = key('ac', view, round);
      await put(ck, viewBytes(centroids));
      const shards = perShard.map((_, s) => s).filter((s) => perShard[s]!.length > 0);
      await Promise.all(shards.map((s) => put(key('ai', view, round, s), viewBytes(Uint32Array.from(perShard[s]!)))));
      const outKeys = shards.map((s) => key('ao', view, round, s));
      try {
        const done = await runJobs<{ rows: number }>(shards.map((s, j) => ({
          name: 'assign', id: `${run}_as_${view}_${round}_${s}`,
          data: { dataKey: dataKeys[s]!, dim, centroidsKey: ck, rowsKey: key('ai', view, round, s), metric, outKey: outKeys[j]! },
        })));
        const parts = await Promise.all(outKeys.map(async (k, j) => {
          const a = bytesToI32(await getBytes(k), Int32Array);
          const want = perShard[shards[j]!]!.length;
          if (a.length !== want || done[j]!.rows !== want) {
            throw new IvfkitError('invalid-result', `nearest centroids of shard ${shards[j]} (${view}): expected ${want}, got ${a.length}`);
          }
          return a;
        }));
        const byShard: (Int32Array | undefined)[] = [];
        shards.forEach((s, j) => { byShard[s] = parts[j]; });
        const fill = new Uint32Array(dataKeys.length);
        const out = new Int32Array(indices.length);
        for (let i = 0; i < indices.length; i++) out[i] = byShard[shardOf[i]!]![fill[shardOf[i]!]!++]!;
        return out;
      } finally {
        await redis.del(ck, ...shards.map((s) => key('ai', view, round, s)), ...outKeys);
      }
    },
    };
  };

  const coordinator: BullmqCoordinator = {
    run,
    async sample(tasks, onProgress) {
      expect(Array.isArray(tasks) && tasks.length > 0, 'invalid-argument', 'tasks', 'a non-empty array of SampleTask', tasks);
      // Blobs are keyed by run and task id: one run id serves one plan (a second coordinator with the same run id and
      // another plan would overwrite the first one's samples).
      const planId = tasks[0]!.planId;
      const mine = await redis.set(key('plan'), planId, 'EX', BULLMQ_DEFAULTS.ttl, 'NX');
      if (mine === null) {
        const other = await redis.get(key('plan'));
        if (other !== planId) throw new IvfkitError('run-in-use', `run ${run}: expected a run id of its own, got one in use by plan ${other} (another coordinator?)`);
      }
      await runJobs(tasks.map((task) => ({ name: 'sample', id: `${run}_sample_${task.planId}_${task.taskId}`, data: { prefix, run, task } })),
        onProgress ? (done, total) => onProgress({ stage: 'sample', fraction: done / total }) : undefined);
      const metas = await metasOf(tasks.map((t) => t.taskId));
      checkCoverage(metas as unknown as SampleResult[]);
      return metas;
    },
    async collectSamples(metas) {
      return Promise.all(metas.map(async (m) => {
        const { ivfMaxAbs: _a, quantMaxAbs: _b, ...rest } = m;
        const ivf = bytesToF32(await getBytes(key('ivf', m.taskId))).slice();
        const quant = bytesToF32(await getBytes(key('quant', m.taskId))).slice();
        return { ...rest, ivf, quant } as SampleResult;
      }));
    },
    async executor(metas, view) {
      const ordered = checkCoverage(metas as unknown as SampleResult[]) as unknown as SampleMeta[];
      const { segs, rows, n } = layout(ordered, view);
      const maxAbs = Math.max(0, ...ordered.map((m) => (view === 'ivf' ? m.ivfMaxAbs : m.quantMaxAbs)));
      return remote(ordered, view, ordered.map((m) => key(view, m.taskId)), rows, n, ordered[0]!.dim, maxAbs, segs);
    },
    async residualExecutor(metas, ivfCentroids) {
      const ordered = checkCoverage(metas as unknown as SampleResult[]) as unknown as SampleMeta[];
      const dim = ordered[0]!.dim;
      // The workers assign whole rows to the IVF centroids: the rows' range, as trainFromSamples checks it.
      expectF32Range(Math.max(0, ...ordered.map((m) => m.quantMaxAbs), maxAbsOf(ivfCentroids)), dim, 'quantizer sample rows and IVF centroids');
      const { segs, rows, n } = layout(ordered, 'quant');
      const tag = statsFingerprint(ivfCentroids, { iteration: 0, shift: 0, lossShift: 0, metric: 'l2' });
      const ck = key('ivfc', tag);
      await put(ck, viewBytes(ivfCentroids));
      const shards = ordered.map((_, s) => s).filter((s) => rows[s]! > 0);
      const dataKeys = ordered.map((m) => key('res', tag, m.taskId));
      const out = await runJobs<{ rows: number; maxAbs: number }>(shards.map((s) => ({
        name: 'residual', id: `${run}_res_${tag}_${s}`,
        data: { prefix, run, dataKey: key('quant', ordered[s]!.taskId), dim, centroidsKey: ck, outKey: dataKeys[s]! },
      })));
      out.forEach((o, i) => {
        const s = shards[i]!;
        if (o.rows !== rows[s]) throw new IvfkitError('invalid-result', `residual rows of task ${ordered[s]!.taskId}: expected ${rows[s]}, got ${o.rows}`);
      });
      const maxAbs = Math.max(0, ...out.map((o) => o.maxAbs));
      return remote(ordered, `res-${tag}`, dataKeys, rows, n, dim, maxAbs, segs);
    },
    async train(metas, params) {
      validateTrainParams(params);
      const ordered = checkCoverage(metas as unknown as SampleResult[]) as unknown as SampleMeta[];
      checkAgainstPlan(ordered as unknown as SampleResult[]);
      const { dim, metric } = ordered[0]!;
      validateTrainParams(params, dim, 'sample results');
      checkPlanParams(params, ordered[0]!);
      let ivfRows = 0, ivfDropped = 0, quantRows = 0, quantDropped = 0, lower = Infinity, upper = -Infinity;
      for (const m of ordered) {
        for (const f of m.fragments) { ivfRows += f.ivfRows; ivfDropped += f.ivfDropped; quantRows += f.quantRows; quantDropped += f.quantDropped; }
        if (m.sqBounds) { lower = Math.min(lower, m.sqBounds.lower); upper = Math.max(upper, m.sqBounds.upper); }
      }
      const k = params.numPartitions;
      if (ivfRows < k) {
        throw new IvfkitError('too-few-rows', `IVF sample rows: expected at least numPartitions ${k}, got ${ivfRows} (${ivfDropped} dropped as null or non-finite)`);
      }
      const kernels = params.kernels ?? (await loadKernels());
      const seed = params.seed ?? TRAIN_DEFAULTS.seed;
      const maxIters = params.maxIters ?? TRAIN_DEFAULTS.maxIters;
      const common = { seed, kernels, tolerance: params.tolerance ?? TRAIN_DEFAULTS.tolerance, ...(params.signal ? { signal: params.signal } : {}), ...(params.onProgress ? { onProgress: params.onProgress } : {}) };
      const empty = new Float32Array(0);
      const ivf = await trainIvf(empty, dim, {
        numPartitions: k, metric: metric === 'dot' ? 'dot' : 'l2', maxIters, ...common, executor: await coordinator.executor(ordered, 'ivf'),
        ...(params.logger ? { logger: params.logger } : {}), ...(params.refineIters !== undefined ? { refineIters: params.refineIters } : {}),
      });
      params.onProgress?.({ stage: 'ivf', fraction: 1 });
      let pq: PqModel | undefined;
      let sq: SqModel | undefined;
      if (params.pq) {
        const numBits = params.pq.numBits ?? 8;
        if (quantRows < 2 ** numBits) {
          throw new IvfkitError('too-few-rows', `PQ sample rows: expected at least 2^${numBits} = ${2 ** numBits}, got ${quantRows} (${quantDropped} dropped as null or non-finite)`);
        }
        const pqIters = params.pq.maxIters ?? maxIters;
        params.onProgress?.({ stage: 'pq', iteration: 0, maxIters: pqIters, fraction: 0 });
        const executor = metric === 'dot' ? await coordinator.executor(ordered, 'quant') : await coordinator.residualExecutor(ordered, ivf.centroids);
        const r = await trainPq(empty, dim, {
          numSubVectors: params.pq.numSubVectors, numBits, metric: 'l2', maxIters: pqIters, ...common, executor,
        });
        pq = { numSubVectors: r.numSubVectors, numBits: r.numBits, codebook: r.codebook };
        params.onProgress?.({ stage: 'pq', fraction: 1 });
      } else if (params.sq) {
        if (!(lower <= upper)) throw new IvfkitError('no-finite-rows', `SQ sample: expected finite rows, got 0 (${quantDropped} dropped as null or non-finite)`);
        sq = { numBits: 8, lower, upper };
        params.onProgress?.({ stage: 'sq', fraction: 1 });
      }
      return { metric, dim, ivf, ...(pq ? { pq } : {}), ...(sq ? { sq } : {}), sample: { rows: ivfRows, dropped: ivfDropped, ...(pq || sq ? { quant: { rows: quantRows, dropped: quantDropped } } : {}) } };
    },
    async cleanup() {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:${run}:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    },
    async close() {
      await Promise.allSettled([events.close(), queue.close()]);
      redis.disconnect();
    },
  };
  return coordinator;
}

/** Options of {@link trainWithBullmq}. */
export interface TrainWithBullmqOptions extends BullmqCoordinatorOptions {
  /** Sample tasks to plan (default 1 per fragment, at most 64). */
  numTasks?: number;
  /** 'partial-stats' (default): samples stay on the workers' side (Redis), only per-round sums travel.
   *  'samples': collect the SampleResults and run `trainFromSamples` here. */
  mode?: 'partial-stats' | 'samples';
  /** Delete the run's keys at the end (default true). */
  cleanup?: boolean;
}

/**
 * One call: plans sample tasks over `fragments`, runs them on the BullMQ workers, then trains
 * (partial-stats k-means rounds over the workers, or the simple path). Same models as
 * `trainLocal(source, params)` bit for bit, in both modes (above 256 partitions, partial-stats mode trains
 * each hierarchical split here on at most k_sub · 512 rows fetched from Redis, and the workers assign the rest).
 *
 * @example
 * const model = await trainWithBullmq(await source.fragments(), { numPartitions: 256, pq: { numSubVectors: 16 } },
 *   { connection: 'redis://127.0.0.1:6379' });
 */
export async function trainWithBullmq(fragments: readonly FragmentInfo[], params: TrainParams,
  opts: TrainWithBullmqOptions = {}): Promise<TrainedModels> {
  validateTrainParams(params, params.dim);
  expect(opts.mode === undefined || opts.mode === 'partial-stats' || opts.mode === 'samples', 'invalid-argument', 'mode', "'partial-stats' or 'samples'", opts.mode);
  const tasks = createSampleTasks(fragments, opts.numTasks ?? Math.min(64, Math.max(1, fragments.length)), params);
  const co = await createBullmqCoordinator({ ...(params.signal && !opts.signal ? { signal: params.signal } : {}), ...opts });
  try {
    const metas = await co.sample(tasks, params.onProgress);
    if (opts.mode === 'samples') {
      const { trainFromSamples } = await import('../train/local.js');
      return await trainFromSamples(await co.collectSamples(metas), params);
    }
    return await co.train(metas, params);
  } finally {
    if (opts.cleanup ?? true) await co.cleanup().catch(() => undefined);
    await co.close();
  }
}
