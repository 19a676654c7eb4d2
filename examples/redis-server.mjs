// Starts Debian's redis-server on 127.0.0.1 at a free port (no persistence) and stops it by PID.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `redis-server --bind 127.0.0.1 --port <free> --save '' --appendonly no`.
 * Resolves `{ url, port, pid, stop() }` once it answers PING; rejects with a clear message if the binary is missing.
 */
export async function startRedis({ bin = process.env.REDIS_SERVER ?? 'redis-server', timeoutMs = 10_000 } = {}) {
  const port = await freePort();
  const child = spawn(bin, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const spawned = new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new Error(`redis-server: expected ${bin} to start (apt-get install redis-server), got ${e.code ?? e.message}`)));
  });
  await spawned;
  const url = `redis://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server: expected it to keep running, got exit code ${child.exitCode}: ${log.slice(-500)}`);
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') { r.disconnect(); break; }
    } catch { /* not up yet */ }
    r.disconnect();
    if (Date.now() - t0 > timeoutMs) { child.kill('SIGKILL'); throw new Error(`redis-server: expected PONG within ${timeoutMs} ms, got none: ${log.slice(-500)}`); }
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    url, port, pid: child.pid,
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
  };
}
