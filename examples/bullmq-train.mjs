#!/usr/bin/env node
// Distributed training through Redis in one command:
//   npm run build && node examples/bullmq-train.mjs            (starts redis-server on loopback itself)
//   IVFKIT_REDIS_URL=redis://127.0.0.1:6379 node examples/bullmq-train.mjs
// Env: IVFKIT_WORKERS (worker processes, default 3), IVFKIT_MODE ('partial-stats' | 'samples').
// It forks the worker processes, trains IVF (k = 32) + PQ (M = 4, 8 bits) on a synthetic source
// through BullMQ, checks the model against trainLocal bit for bit, and stops everything it started.
import { fork } from 'node:child_process';
import { trainWithBullmq } from '../dist/adapters/bullmq.js';
import { trainLocal } from '../dist/train/local.js';
import { startRedis } from './redis-server.mjs';
import { createSource } from './synthetic-source.mjs';

const workers = Number(process.env.IVFKIT_WORKERS ?? 3);
const mode = process.env.IVFKIT_MODE === 'samples' ? 'samples' : 'partial-stats';
const redis = process.env.IVFKIT_REDIS_URL ? null : await startRedis();
const url = process.env.IVFKIT_REDIS_URL ?? redis.url;
const queueName = `ivfkit-example-${process.pid}`;
const children = [];
try {
  for (let i = 0; i < workers; i++) {
    const child = fork(new URL('./bullmq-worker.mjs', import.meta.url), [], {
      env: { ...process.env, IVFKIT_REDIS_URL: url, IVFKIT_QUEUE: queueName }, stdio: 'inherit',
    });
    children.push(child);
    await new Promise((res, rej) => {
      child.on('message', (m) => { if (m.event === 'ready') res(); });
      child.on('message', (m) => { if (m.event === 'error') rej(new Error(`worker ${i}: expected to start, got: ${m.error}`)); });
      child.once('exit', (code) => rej(new Error(`worker ${i}: expected to start, got exit code ${code}`)));
    });
  }
  const source = createSource();
  const params = { numPartitions: 32, sampleRate: 64, maxIters: 20, seed: 7, dim: source.dim, pq: { numSubVectors: 4, numBits: 8 } };
  const t0 = performance.now();
  const model = await trainWithBullmq(await source.fragments(), params, { connection: url, queueName, mode });
  const t1 = performance.now();
  const local = await trainLocal(source, params);
  const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
  const equal = same(model.ivf.centroids, local.ivf.centroids) && same(model.pq.codebook, local.pq.codebook) && model.ivf.loss === local.ivf.loss;
  console.log(`trained on ${workers} worker processes via ${url} (${mode}) in ${(t1 - t0).toFixed(0)} ms: ` +
    `IVF loss ${model.ivf.loss.toFixed(3)}, ${model.sample.rows} sample rows; equal to trainLocal bit for bit: ${equal}`);
  process.exitCode = equal ? 0 : 1;
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  // This example's queue is its own: remove it, so a shared Redis keeps no keys of it.
  if (!redis) {
    const { Queue } = await import('bullmq');
    const q = new Queue(queueName, { connection: parseRedisUrl(url) });
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
  await redis?.stop();
}

function parseRedisUrl(u) {
  const x = new URL(u);
  return { host: x.hostname || '127.0.0.1', port: Number(x.port || 6379), ...(x.pathname.length > 1 ? { db: Number(x.pathname.slice(1)) } : {}) };
}
