/**
 * BullMQ sandboxed processor of `ivfkit/bullmq` (runs in a worker thread, off the queue worker's
 * event loop, so lock renewal keeps going while WASM computes). Started by `startBullmqWorker`;
 * settings arrive in `workerData.ivfkit`. Every job is a deterministic function of its data and
 * writes its result under a key named by the job, so a job run twice (at-least-once delivery)
 * writes the same bytes again.
 */
import { workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { loadKernelsSync } from '../kernels/index.js';
import type { KernelBuildRequest, Kernels } from '../kernels/types.js';
import { residuals } from '../train/local.js';
import { kmeansPartialStats, type StatsContext, type StatsScratch } from '../train/partial.js';
import { executeSampleTask, type SampleTask } from '../train/sample.js';
import type { VectorSource } from '../types.js';
import { IvfkitError } from '../util/errors.js';
import { maxAbs } from '../util/fixed.js';
import { bytesToF32, bytesToI32, encodeStats, runKey, viewBytes, type RedisConnection } from './bullmq-codec.js';

/** Settings given to the processor threads. */
export interface ProcessorConfig {
  connection: RedisConnection;
  /** Module (file URL or path) exporting `createSource(options)` (or a default function) → VectorSource. */
  source: string;
  sourceOptions?: unknown;
  build?: KernelBuildRequest;
  /** Seconds blobs live in Redis. */
  ttl: number;
  /** Shard blobs kept in memory between k-means rounds. */
  cacheEntries: number;
}

/** Job payloads (small JSON; bytes travel under Redis keys). */
export type JobData =
  | { prefix: string; run: string; task: SampleTask }
  | { prefix: string; run: string; dataKey: string; dim: number; centroidsKey: string; outKey: string }
  | { dataKey: string; dim: number; centroidsKey: string; biasKey?: string; ctx: Omit<StatsContext, 'bias'>; outKey: string }
  | { dataKey: string; dim: number; centroidsKey: string; rowsKey: string; metric: 'l2' | 'dot'; outKey: string };

interface JobLike { name: string; data: JobData }

const config = (workerData as { ivfkit?: ProcessorConfig } | null)?.ivfkit;
let redis: Redis | undefined;
let kernels: Kernels | undefined;
let sourcePromise: Promise<VectorSource> | undefined;
const cache = new Map<string, Float32Array>();
/** Per shard (data key): the distance-bound state kept across iterations, so a worker that serves several
 *  shards in turn keeps each one's bounds. */
const scratches = new Map<string, StatsScratch>();

function cfg(): ProcessorConfig {
  if (!config) throw new IvfkitError('invalid-state', 'ivfkit BullMQ processor: expected workerData.ivfkit settings (start it with startBullmqWorker), got none');
  return config;
}

function client(): Redis {
  return (redis ??= new Redis({ ...cfg().connection, maxRetriesPerRequest: null, lazyConnect: false }));
}

function k(): Kernels {
  return (kernels ??= loadKernelsSync({ build: cfg().build ?? 'auto' }));
}

async function source(): Promise<VectorSource> {
  sourcePromise ??= (async () => {
    const c = cfg();
    const spec = /^[a-z]+:/i.test(c.source) ? c.source : new URL(c.source, 'file://').href;
    const mod = (await import(spec)) as { createSource?: (o?: unknown) => VectorSource | Promise<VectorSource>; default?: unknown };
    const f = mod.createSource ?? (typeof mod.default === 'function' ? (mod.default as (o?: unknown) => VectorSource) : undefined);
    if (!f) throw new IvfkitError('invalid-argument', `source module ${spec}: expected an export createSource(options) or a default function, got neither`);
    return f(c.sourceOptions);
  })();
  sourcePromise.catch(() => { sourcePromise = undefined; });
  return sourcePromise;
}

async function getF32(key: string, cacheIt: boolean): Promise<Float32Array> {
  const hit = cache.get(key);
  if (hit) return hit;
  const b = await client().getBuffer(key);
  if (!b) throw new IvfkitError('missing-blob', `redis key ${key}: expected a blob, got none (expired or never written)`);
  const a = bytesToF32(b);
  if (cacheIt) {
    cache.set(key, a);
    while (cache.size > cfg().cacheEntries) cache.delete(cache.keys().next().value as string);
  }
  return a;
}

async function put(key: string, bytes: Uint8Array): Promise<void> {
  await client().set(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'EX', cfg().ttl);
}

/** The processor: 'sample', 'residual', 'stats' and 'assign' (hierarchical splits) jobs. */
export default async function processor(job: JobLike): Promise<unknown> {
  const d = job.data;
  switch (job.name) {
    case 'sample': {
      const { prefix, run, task } = d as { prefix: string; run: string; task: SampleTask };
      const r = await executeSampleTask(task, await source(), { kernels: k() });
      const { ivf, quant, ...meta } = r;
      await put(runKey(prefix, run, 'ivf', task.taskId), viewBytes(ivf));
      await put(runKey(prefix, run, 'quant', task.taskId), viewBytes(quant));
      const m = { ...meta, ivfMaxAbs: maxAbs(ivf), quantMaxAbs: maxAbs(quant) };
      await put(runKey(prefix, run, 'meta', task.taskId), new TextEncoder().encode(JSON.stringify(m)));
      return { taskId: task.taskId, ivfRows: ivf.length / r.dim, quantRows: quant.length / r.dim };
    }
    case 'residual': {
      const { dataKey, dim, centroidsKey, outKey } = d as { dataKey: string; dim: number; centroidsKey: string; outKey: string };
      const x = await getF32(dataKey, false);
      const c = await getF32(centroidsKey, false);
      const res = residuals(x, dim, c, k());
      await put(outKey, viewBytes(res));
      return { rows: res.length / dim, maxAbs: maxAbs(res) };
    }
    case 'stats': {
      const { dataKey, dim, centroidsKey, biasKey, ctx, outKey } = d as { dataKey: string; dim: number; centroidsKey: string; biasKey?: string; ctx: StatsContext; outKey: string };
      const x = await getF32(dataKey, true);
      const c = await getF32(centroidsKey, false);
      const full: StatsContext = { ...ctx, ...(biasKey ? { bias: await getF32(biasKey, false) } : {}) };
      let scratch = scratches.get(dataKey);
      if (!scratch) {
        scratches.set(dataKey, (scratch = {}));
        while (scratches.size > cfg().cacheEntries) scratches.delete(scratches.keys().next().value as string);
      }
      const s = kmeansPartialStats(x, dim, c, full, k(), scratch);
      await put(outKey, encodeStats(s));
      return { outKey };
    }
    case 'assign': {
      const { dataKey, dim, centroidsKey, rowsKey, metric, outKey } = d as { dataKey: string; dim: number; centroidsKey: string; rowsKey: string;
        metric: 'l2' | 'dot'; outKey: string };
      const x = await getF32(dataKey, true);
      const c = await getF32(centroidsKey, false);
      const b = await client().getBuffer(rowsKey);
      if (!b) throw new IvfkitError('missing-blob', `redis key ${rowsKey}: expected a blob, got none (expired or never written)`);
      const at = bytesToI32(b, Uint32Array);
      const rows = new Float32Array(at.length * dim);
      for (let i = 0; i < at.length; i++) {
        const r = at[i]!;
        if (r >= x.length / dim) throw new IvfkitError('invalid-argument', `assign row ${r} of ${dataKey}: expected one of its ${x.length / dim} rows`);
        rows.set(x.subarray(r * dim, (r + 1) * dim), i * dim);
      }
      await put(outKey, viewBytes(k().assign(rows, dim, c, { metric }).index));
      return { rows: at.length };
    }
    default:
      throw new IvfkitError('invalid-argument', `job name: expected sample, residual, stats or assign, got ${job.name}`);
  }
}
