/**
 * A pool of pinned workers over the portable entry `worker.js`: worker i keeps shard i resident.
 * Node: one piscina instance per shard (one thread each, so the shard never moves). Browsers, Deno,
 * Bun: module Web Workers driven by a small id-matched postMessage protocol. Cancelling = terminating.
 */
import { IvfkitError } from '../util/errors.js';
import type { WorkerRequest } from './worker.js';

/** One pinned worker: sends a request (with a transfer list) and resolves with the reply value. */
export interface PinnedWorker {
  call<T>(msg: WorkerRequest, transfer?: ArrayBuffer[]): Promise<T>;
  terminate(): Promise<void>;
}

/** Options of {@link spawnWorkers}. */
export interface SpawnOptions {
  /** URL of worker.js (`ivfkit/worker`; default: next to this module, or the chunk a bundler emitted for it). */
  workerUrl?: URL | string;
}

type G = { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown }; Deno?: unknown; Bun?: unknown;
  navigator?: { hardwareConcurrency?: number }; location?: { href?: string } };
const g = globalThis as unknown as G;

/** True in Node (not Deno or Bun, which get Web Workers). */
export const IS_NODE = typeof g.process !== 'undefined' && !!g.process.versions?.node && typeof g.Deno === 'undefined' && typeof g.Bun === 'undefined';

/** Logical cores: `os.availableParallelism()` in Node, `navigator.hardwareConcurrency` elsewhere (1 if unknown). */
export async function defaultThreads(): Promise<number> {
  if (IS_NODE) {
    const os = (await nodeBuiltin('os')) as { availableParallelism?: () => number; cpus(): unknown[] };
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
}

/** A Node built-in module (`getBuiltinModule` where Node has it, else a dynamic import bundlers leave alone). */
async function nodeBuiltin(name: 'fs' | 'os'): Promise<unknown> {
  return g.process!.getBuiltinModule?.(`node:${name}`) ?? (await import(/* @vite-ignore */ /* webpackIgnore: true */ ['node', name].join(':')));
}

const PISCINA = 'piscina';
// Not literals in `new URL(…, import.meta.url)`: bundlers would emit raw copies of the files (only webWorker's literal is meant for them).
const WORKER_FILE = './worker.js', DIST_WORKER_FILE = '../../dist/workers/worker.js';

/** Starts `count` pinned workers. */
export async function spawnWorkers(count: number, opts: SpawnOptions = {}): Promise<PinnedWorker[]> {
  const url = opts.workerUrl === undefined ? undefined : workerUrlOf(opts.workerUrl);
  if (IS_NODE) {
    if (url) await expectWorkerFile(url);
    return spawnPiscina(count, url ?? (await nodeWorkerUrl()));
  }
  const out: PinnedWorker[] = [];
  for (let i = 0; i < count; i++) out.push(webWorker(url));
  return out;
}

/** A worker URL as given: a URL, or a string resolved against the page (browsers) or the working directory (Node). */
function workerUrlOf(u: URL | string): URL {
  if (u instanceof URL) return u;
  // Node, Deno and Bun (no page): the working directory.
  const cwd = g.location ? undefined : (g.process as { cwd?: () => string } | undefined)?.cwd?.();
  const toFile = (g.process?.getBuiltinModule?.('node:url') as { pathToFileURL?: (p: string) => URL } | undefined)?.pathToFileURL
    ?? ((p: string) => new URL(`file://${p.split('/').map(encodeURIComponent).join('/')}`));
  const base = g.location?.href ?? (cwd ? toFile(cwd.endsWith('/') ? cwd : `${cwd}/`).href : import.meta.url);
  try {
    if (typeof u !== 'string') throw new TypeError('not a string');
    return new URL(u, base);
  } catch {
    throw new IvfkitError('invalid-argument', `workerUrl: expected a URL or a URL string, got ${typeof u === 'string' ? JSON.stringify(u) : String(u)}`);
  }
}

/** Node: a worker URL must name a file that exists (piscina's thread would die on it with an uncaught error instead). */
async function expectWorkerFile(url: URL): Promise<void> {
  const fs = (await nodeBuiltin('fs')) as { existsSync(p: URL): boolean };
  if (url.protocol !== 'file:' || !fs.existsSync(url)) {
    throw new IvfkitError('worker-error', `worker ${url.href}: expected ivfkit's worker file (ivfkit/worker) there, got ${url.protocol !== 'file:' ? 'a URL Node cannot start a worker thread from' : 'no such file'}`);
  }
}

/**
 * dist/workers/worker.js next to this module; when this module runs from TypeScript sources
 * (src/workers/pool.ts under a test runner), the compiled ../../dist/workers/worker.js.
 */
async function nodeWorkerUrl(): Promise<URL> {
  const here = new URL(WORKER_FILE, import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  const fs = (await nodeBuiltin('fs')) as { existsSync(p: URL): boolean };
  if (fs.existsSync(here)) return here;
  const dist = new URL(DIST_WORKER_FILE, import.meta.url);
  if (fs.existsSync(dist)) return dist;
  throw new IvfkitError('unsupported', `worker entry: expected ${here.href} or a built ${dist.href} (run npm run build), got neither`);
}

interface PiscinaLike {
  run(task: unknown, opts?: { transferList?: ArrayBuffer[]; signal?: AbortSignal }): Promise<unknown>;
  destroy(): Promise<void>;
}

async function spawnPiscina(count: number, url: URL): Promise<PinnedWorker[]> {
  const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ PISCINA)) as { Piscina: new (o: object) => PiscinaLike };
  const out: PinnedWorker[] = [];
  for (let i = 0; i < count; i++) {
    const pool = new mod.Piscina({ filename: url.href, minThreads: 1, maxThreads: 1, idleTimeout: 2 ** 31 - 1, concurrentTasksPerWorker: 1 });
    let dead = false;
    out.push({
      call: <T>(msg: WorkerRequest, transfer: ArrayBuffer[] = []) => {
        if (dead) return Promise.reject(closedError());
        return pool.run(msg, { transferList: transfer }) as Promise<T>;
      },
      async terminate() {
        if (dead) return;
        dead = true;
        await pool.destroy();
      },
    });
  }
  return out;
}

function webWorker(url?: URL): PinnedWorker {
  // Keep the literal `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })` so bundlers emit the file.
  const w = url ? new Worker(url, { type: 'module' }) : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let next = 1;
  let dead = false;
  const failAll = (e: unknown): void => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  w.addEventListener('message', (e: MessageEvent) => {
    const { id, ok, value, error } = e.data as { id: number; ok: boolean; value?: unknown; error?: { name: string; message: string; code?: string } };
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (ok) p.resolve(value);
    else {
      const err = new IvfkitError(error?.code ?? 'worker-error', error?.message ?? 'worker error');
      err.name = error?.name ?? 'Error';
      p.reject(err);
    }
  });
  w.addEventListener('error', (e: Event) => {
    e.preventDefault?.();                                   // handled here (Deno would otherwise end the process)
    const where = url ? url.href : `${new URL(WORKER_FILE, import.meta.url).href} (or the chunk a bundler emitted for it)`;
    const what = (e as ErrorEvent).message;
    failAll(new IvfkitError('worker-error', `worker ${where}: expected to run, got ${what ? `an error: ${what}` : 'an error event (no script at that URL, or one that failed to load)'}` +
      '; with a bundler that does not emit ivfkit\'s worker, serve the file of \'ivfkit/worker\' and pass its URL as workerUrl, or train with threads: 1'));
  });
  return {
    call<T>(msg: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<T> {
      if (dead) return Promise.reject(closedError());
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        w.postMessage({ id, msg }, transfer);
      });
    },
    async terminate() {
      if (dead) return;
      dead = true;
      w.terminate();
      failAll(closedError());
    },
  };
}

function closedError(): IvfkitError {
  return new IvfkitError('closed', 'worker pool: expected an open pool, got a closed (or aborted) one');
}
