import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Built files: the workers load dist/, and so does the coordinator here (one copy of the classes).
import { checkRedisConnection, createBullmqCoordinator, startBullmqWorker, trainWithBullmq } from '../../dist/adapters/bullmq.js';
import { createSampleTasks, fragmentOffsets } from '../../dist/train/sample.js';
import { STREAM } from '../../dist/util/rng.js';
import { Queue } from 'bullmq';
import { trainLocal } from '../../dist/train/local.js';
import type { Progress } from '../../dist/types.js';
// @ts-expect-error plain .mjs helpers without type declarations
import { startRedis } from '../../examples/redis-server.mjs';
// @ts-expect-error plain .mjs helpers without type declarations
import { createSource } from '../../examples/synthetic-source.mjs';

type Msg = { pid: number; event: string; job?: string; name?: string; error?: string };
interface Redis { url: string; pid: number; stop(): Promise<void> }

const workerScript = new URL('../../examples/bullmq-worker.mjs', import.meta.url);
const sourceScript = new URL('../../examples/synthetic-source.mjs', import.meta.url);
const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

let redis: Redis | undefined;
const children: ChildProcess[] = [];
const messages: Msg[] = [];
const listeners = new Set<(m: Msg) => void>();

async function startWorkers(count: number, queue: string, sourceOptions: object, sourcePath = sourceScript.pathname): Promise<ChildProcess[]> {
  const started: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    const child = fork(workerScript, [sourcePath, JSON.stringify(sourceOptions)], {
      execArgv: [],                                         // not the test runner's V8 flags (worker threads refuse them)
      env: { ...process.env, IVFKIT_REDIS_URL: redis!.url, IVFKIT_QUEUE: queue, IVFKIT_LOCK_MS: '1500', IVFKIT_STALLED_MS: '1000' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    started.push(child);
    child.on('message', (m: Msg) => { messages.push(m); for (const l of listeners) l(m); });
  }
  await Promise.all(started.map((c) => new Promise<void>((res, rej) => {
    const l = (m: Msg): void => { if (m.pid === c.pid && m.event === 'ready') { listeners.delete(l); res(); } };
    listeners.add(l);
    c.once('exit', (code) => rej(new Error(`worker ${c.pid}: expected to start, got exit code ${code}`)));
  })));
  return started;
}

describe('ivfkit/bullmq: training across worker processes through Redis', () => {
  beforeAll(async () => {
    try {
      redis = (await startRedis()) as Redis;
    } catch (e) {
      throw new Error(`bullmq tests need Debian's redis-server on PATH${process.env.CI === 'true' ? ' (CI=true: this is a failure, not a skip)' : ''}: ${(e as Error).message}`);
    }
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await redis?.stop();
  });

  it('partial-stats IVF + PQ with a worker SIGKILLed mid-task equals trainLocal bit for bit', async () => {
    const queue = 'kill-test';
    const sourceOptions = { readDelayMs: 250 };
    const workers = await startWorkers(3, queue, sourceOptions);
    const source = createSource();
    const params = { numPartitions: 16, sampleRate: 64, maxIters: 12, seed: 21, dim: source.dim as number, pq: { numSubVectors: 4, numBits: 4 as const } };
    let killed: { pid: number; job: string } | undefined;
    listeners.add((m) => {
      if (!killed && m.event === 'active' && m.name === 'sample') {
        killed = { pid: m.pid, job: m.job! };
        workers.find((w) => w.pid === m.pid)!.kill('SIGKILL');
      }
    });
    // Progress past sampling: the same reports as trainLocal's, PQ opened with iteration 0.
    const trace = (into: string[]) => (p: Progress): void => { if (p.stage !== 'sample') into.push(`${p.stage}:${p.iteration}`); };
    const remote: string[] = [], here: string[] = [];
    const t0 = performance.now();
    const model = await trainWithBullmq(await source.fragments(), { ...params, onProgress: trace(remote) }, { connection: redis!.url, queueName: queue, numTasks: 3, run: 'killtest' });
    const took = performance.now() - t0;
    const local = await trainLocal(source, { ...params, onProgress: trace(here) });
    expect(remote).toEqual(here);
    expect(remote).toContain('pq:0');

    expect(killed).toBeDefined();
    const victim = workers.find((w) => w.pid === killed!.pid)!;
    expect(victim.signalCode).toBe('SIGKILL');
    // The killed worker's job was completed by another worker (at-least-once redelivery after the stall).
    const done = messages.filter((m) => m.event === 'completed' && m.job === killed!.job);
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(done.every((m) => m.pid !== killed!.pid)).toBe(true);
    // Every k-means round ran on the survivors.
    expect(messages.some((m) => m.event === 'completed' && m.name === 'stats')).toBe(true);
    expect(messages.some((m) => m.event === 'completed' && m.name === 'residual')).toBe(true);

    expect(model.sample).toEqual(local.sample);
    expect(bits(model.ivf.centroids).equals(bits(local.ivf.centroids))).toBe(true);
    expect(Object.is(model.ivf.loss, local.ivf.loss)).toBe(true);
    expect(bits(model.pq!.codebook).equals(bits(local.pq!.codebook))).toBe(true);
    expect(took).toBeLessThan(60_000);
  });

  it('the simple path (collect samples, trainFromSamples) equals trainLocal for cosine + SQ', async () => {
    const queue = 'samples-test';
    await startWorkers(2, queue, {});
    const source = createSource();
    const params = { numPartitions: 12, sampleRate: 32, maxIters: 10, seed: 5, metric: 'cosine' as const, dim: source.dim as number, sq: { numBits: 8 as const } };
    const viaSamples = await trainWithBullmq(await source.fragments(), params, { connection: redis!.url, queueName: queue, mode: 'samples', numTasks: 4 });
    const viaStats = await trainWithBullmq(await source.fragments(), params, { connection: redis!.url, queueName: queue, numTasks: 2 });
    const local = await trainLocal(source, params);
    for (const m of [viaSamples, viaStats]) {
      expect(bits(m.ivf.centroids).equals(bits(local.ivf.centroids))).toBe(true);
      expect(m.sq).toEqual(local.sq);
      expect(m.metric).toBe('cosine');
    }
  });

  it('partial-stats with more than 256 partitions runs hierarchical k-means as trainLocal does (splits train here, the workers assign): same bits, l2 and dot', async () => {
    const queue = 'hier-test';
    await startWorkers(2, queue, {});
    const source = createSource();
    // 12,000 rows, all of them in the IVF sample: the first split trains on 16 · 512 = 8,192 and the workers assign the other 3,808
    // (fragments 4 and 5, which two of the three tasks hold).
    for (const metric of ['l2', 'dot'] as const) {
      const params = { numPartitions: 300, sampleRate: 40, maxIters: 4, refineIters: 2, seed: 6, metric, dim: source.dim as number, sq: { numBits: 8 as const } };
      const before = messages.filter((m) => m.event === 'completed' && m.name === 'assign').length;
      const model = await trainWithBullmq(await source.fragments(), params, { connection: redis!.url, queueName: queue, numTasks: 3 });
      const local = await trainLocal(source, { ...params, threads: 1 });
      expect(model.sample, metric).toEqual(local.sample);
      expect(bits(model.ivf.centroids).equals(bits(local.ivf.centroids)), metric).toBe(true);
      expect(Object.is(model.ivf.loss, local.ivf.loss), metric).toBe(true);
      expect(model.sq, metric).toEqual(local.sq);
      expect(messages.filter((m) => m.event === 'completed' && m.name === 'assign').length - before, `${metric}: assign jobs`).toBeGreaterThanOrEqual(2);
    }
  });

  it('a job that keeps failing rejects the run with code job-failed, naming the job and the cause', async () => {
    const queue = 'fail-test';
    await startWorkers(1, queue, {}, '/nonexistent/ivfkit-source.mjs');
    const source = createSource();
    const params = { numPartitions: 8, sampleRate: 16, seed: 1, dim: source.dim as number };
    const err = await trainWithBullmq(await source.fragments(), params, { connection: redis!.url, queueName: queue, numTasks: 1, attempts: 2, run: 'failing' })
      .then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(err?.code).toBe('job-failed');
    expect(err?.message).toMatch(/job failing_sample_\w+_0 \(sample\): expected to complete, got: .*ivfkit-source\.mjs/);
  });

  it('a quantizer row beyond f32 range, outside the IVF sample: both modes fail as trainLocal does, before any residual is computed', async () => {
    const queue = 'range-test';
    const params = { numPartitions: 8, sampleRate: 16, maxIters: 4, seed: 2, dim: 16, pq: { numSubVectors: 4 } };
    // A row of fragment 0 that the quantizer sample takes and the IVF sample does not.
    const plain = createSource();
    const [task] = createSampleTasks(await plain.fragments(), 1, params);
    const f0 = task!.fragments.find((f: { id: number }) => f.id === 0)!;
    const ivfRows = new Set(fragmentOffsets(task!.seed, STREAM.IVF_SAMPLE, f0, f0.ivfQuota));
    const hugeRow = [...fragmentOffsets(task!.seed, STREAM.QUANT_SAMPLE, f0, f0.quantQuota)].find((r) => !ivfRows.has(r))!;
    expect(hugeRow).toBeGreaterThanOrEqual(0);
    await startWorkers(2, queue, { hugeRow });
    const source = createSource({ hugeRow });
    const local = await trainLocal(source, params).then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(local?.code).toBe('out-of-range');
    expect(local?.message).toMatch(/^largest \|value\| of the 16-value quantizer sample rows and IVF centroids: expected at most 3\.26e\+18 .*got 1\.00e\+19$/);
    for (const mode of ['partial-stats', 'samples'] as const) {
      const err = await trainWithBullmq(await source.fragments(), params, { connection: redis!.url, queueName: queue, mode, numTasks: 2 })
        .then(() => undefined, (e: unknown) => e as { code?: string; message: string });
      expect(err?.code, mode).toBe('out-of-range');
      expect(err?.message, mode).toBe(local?.message);
    }
    expect(messages.filter((m) => m.event === 'failed' && m.error?.includes('out-of-range')), 'no worker job failed on the range').toEqual([]);
  });

  // Found by a first-user audit (2026-12-02).
  it('an unreachable Redis fails the coordinator and the worker promptly, naming the address', async () => {
    const closed = 'redis://127.0.0.1:1';                    // nothing listens on port 1
    const t0 = performance.now();
    const err = await createBullmqCoordinator({ connection: closed }).then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(err?.code).toBe('connection-failed');
    expect(err?.message).toMatch(/^redis 127\.0\.0\.1:1: expected an answer within 10000 ms, got ECONNREFUSED$/);
    await expect(checkRedisConnection(closed)).rejects.toMatchObject({ code: 'connection-failed' });
    await checkRedisConnection(redis!.url);
    expect(performance.now() - t0).toBeLessThan(15_000);
    // The example worker checks before it starts: it exits 1 with the reason instead of waiting forever.
    const lone = spawnSync(process.execPath, [workerScript.pathname], { env: { ...process.env, IVFKIT_REDIS_URL: closed }, encoding: 'utf8', timeout: 30_000 });
    expect(lone.status).toBe(1);
    expect(lone.stderr).toMatch(/^ivfkit worker: redis 127\.0\.0\.1:1: expected an answer within 10000 ms, got ECONNREFUSED/);
    expect(() => startBullmqWorker({ source: './relative.mjs' })).toThrow(/options\.source: expected an absolute path or a URL/);
    await expect(createBullmqCoordinator({ connection: redis!.url, jobTimeout: -5 })).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/^jobTimeout: expected a positive number/) });
    await expect(createBullmqCoordinator({ connection: redis!.url, queueName: 'a:b' })).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/^queueName: expected a non-empty name without ':'/) });
  });

  it('a run id can be used again after its run; one run id serves one plan; train() checks params against the plan; jobs leave the queue', async () => {
    const queue = 'reuse-test';
    await startWorkers(2, queue, {});
    const source = createSource();
    const params = { numPartitions: 8, sampleRate: 32, maxIters: 6, seed: 3, dim: source.dim as number, pq: { numSubVectors: 4, numBits: 4 as const } };
    const local = await trainLocal(source, params);
    const progress: Progress[] = [];
    for (let i = 0; i < 2; i++) {
      const m = await trainWithBullmq(await source.fragments(), { ...params, onProgress: (p: Progress) => progress.push(p) }, { connection: redis!.url, queueName: queue, numTasks: 2, run: 'nightly' });
      expect(bits(m.ivf.centroids).equals(bits(local.ivf.centroids))).toBe(true);
    }
    const samples = progress.filter((p) => p.stage === 'sample');
    expect(samples.length).toBe(4);
    expect(samples.map((p) => p.fraction)).toEqual([0.5, 1, 0.5, 1]);
    const q = new Queue(queue, { connection: { host: '127.0.0.1', port: Number(new URL(redis!.url).port) } });
    const counts = await q.getJobCounts('completed', 'waiting', 'failed', 'active', 'delayed');
    await q.close();
    expect(counts).toEqual({ completed: 0, waiting: 0, failed: 0, active: 0, delayed: 0 });

    const co = await createBullmqCoordinator({ connection: redis!.url, queueName: queue, run: 'shared' });
    const other = await createBullmqCoordinator({ connection: redis!.url, queueName: queue, run: 'shared' });
    try {
      const metas = await co.sample(createSampleTasks(await source.fragments(), 2, params));
      await expect(other.sample(createSampleTasks(await source.fragments(), 2, { ...params, seed: 4 }))).rejects.toMatchObject({
        code: 'run-in-use', message: expect.stringMatching(/^run shared: expected a run id of its own, got one in use by plan [0-9a-f]{16}/) });
      await expect(co.train(metas, { ...params, metric: 'cosine' })).rejects.toMatchObject({ code: 'invalid-result', message: expect.stringMatching(/^sample plan: expected metric cosine/) });
      await expect(co.train(metas, { ...params, numPartitions: 16 })).rejects.toMatchObject({ code: 'invalid-result' });
      const a = await co.train(metas, params), b = await co.train(metas, params);
      expect(bits(a.ivf.centroids).equals(bits(local.ivf.centroids))).toBe(true);
      expect(bits(b.pq!.codebook).equals(bits(local.pq!.codebook))).toBe(true);
    } finally {
      await co.cleanup();
      await Promise.all([co.close(), other.close()]);
    }
  });
});
