#!/usr/bin/env node
// One ivfkit BullMQ worker process.
//   IVFKIT_REDIS_URL=redis://127.0.0.1:6379 node examples/bullmq-worker.mjs [source-module] [source-options-json]
// Env: IVFKIT_CONCURRENCY (processor threads, default 1), IVFKIT_LOCK_MS, IVFKIT_STALLED_MS, IVFKIT_QUEUE.
// When forked, it reports { event: 'ready' | 'active' | 'completed', job, name } to its parent.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { checkRedisConnection, startBullmqWorker } from '../dist/adapters/bullmq.js';

const source = process.argv[2] ? pathToFileURL(resolve(process.argv[2])).href : new URL('./synthetic-source.mjs', import.meta.url).href;
const sourceOptions = process.argv[3] ? JSON.parse(process.argv[3]) : undefined;
const num = (v) => (v ? Number(v) : undefined);
const connection = process.env.IVFKIT_REDIS_URL ?? 'redis://127.0.0.1:6379';
const tell = (m) => process.send?.({ pid: process.pid, ...m });
try {
  await checkRedisConnection(connection);                  // Redis answers, or this process says why it cannot start
} catch (e) {
  console.error(`ivfkit worker: ${e.message}`);
  tell({ event: 'error', error: e.message });
  process.exit(1);
}
const { worker, close } = startBullmqWorker({
  connection,
  source, sourceOptions,
  ...(process.env.IVFKIT_QUEUE ? { queueName: process.env.IVFKIT_QUEUE } : {}),
  concurrency: num(process.env.IVFKIT_CONCURRENCY) ?? 1,
  lockDuration: num(process.env.IVFKIT_LOCK_MS),
  stalledInterval: num(process.env.IVFKIT_STALLED_MS),
});
worker.on('active', (job) => tell({ event: 'active', job: job.id, name: job.name }));
worker.on('completed', (job) => tell({ event: 'completed', job: job.id, name: job.name }));
worker.on('failed', (job, err) => { tell({ event: 'failed', job: job?.id, name: job?.name, error: err.message }); console.error(`job ${job?.id} failed: ${err.message}`); });
await worker.waitUntilReady();
tell({ event: 'ready' });
const stop = async () => { await close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
