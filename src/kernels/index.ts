import { IvfkitError } from '../util/errors.js';
import * as dot8Wasm from './generated/dot8.js';
import * as relaxedWasm from './generated/relaxed.js';
import * as scalarWasm from './generated/scalar.js';
import * as simdWasm from './generated/simd.js';
import { createReferenceKernels } from './reference.js';
import type { KernelBuild, KernelBuildRequest, Kernels, LoadKernelsOptions } from './types.js';
import { createWasmKernels, DEFAULT_BLOCK_BYTES, type QFilter } from './wasm.js';
import { warmUp } from './warmup.js';

export type * from './types.js';
export { createReferenceKernels } from './reference.js';
export { createWasmKernels, DEFAULT_BLOCK_BYTES } from './wasm.js';

/** A wasm build of the kernels. */
export type WasmBuild = 'simd' | 'dot8' | 'relaxed' | 'scalar';

/** Build used when none is asked for: dot8 if the runtime validates it, else SIMD, else scalar. */
export const DEFAULT_KERNEL_BUILD: KernelBuildRequest = 'auto';

/** Options of {@link loadKernels} beyond the build choice. */
export interface LoadWasmKernelsOptions extends LoadKernelsOptions {
  /** Bytes of input copied into wasm memory per step (default {@link DEFAULT_BLOCK_BYTES}); mainly for tests. */
  blockBytes?: number;
  /** A module from {@link getWasmModule} (e.g. posted to a worker); `build` must then name its build. */
  module?: WebAssembly.Module;
  /** When l2 assignment without a bias takes the exact 16-bit filter (default 'auto': where it pays — plain
   *  assignment of rows of ≥ 64 values to ≥ 16 centroids, the bounded kernel's full rows likewise and its runs
   *  of rows of ≥ 256 values that need ≥ 8 blocks; 'on': wherever it can, 'off': never); for tests and benchmarks. */
  qFilter?: QFilter;
}

const sources: Record<WasmBuild, { base64: string }> = { simd: simdWasm, dot8: dot8Wasm, relaxed: relaxedWasm, scalar: scalarWasm };
const bytesCache = new Map<WasmBuild, Uint8Array>();
const moduleCache = new Map<WasmBuild, WebAssembly.Module>();
const modulePromises = new Map<WasmBuild, Promise<WebAssembly.Module>>();
const kernelCache = new Map<string, Kernels>();
const kernelPromises = new Map<string, Promise<Kernels>>();
const validCache = new Map<WasmBuild, boolean>();
let reference: Kernels | undefined;

/** The .wasm bytes of one build. */
export function getWasmBytes(build: WasmBuild): Uint8Array {
  let b = bytesCache.get(build);
  if (!b) {
    const s = atob(sources[build].base64);
    b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
    bytesCache.set(build, b);
  }
  return b;
}

/** Whether this runtime accepts a build (`WebAssembly.validate`). */
export function isBuildSupported(build: WasmBuild): boolean {
  let v = validCache.get(build);
  if (v === undefined) {
    v = typeof WebAssembly === 'object' && WebAssembly.validate(getWasmBytes(build) as BufferSource);
    validCache.set(build, v);
  }
  return v;
}

/** Resolves 'auto' to 'dot8', 'simd' or 'scalar' and checks that an explicit wasm build validates here. */
export function resolveBuild(build: KernelBuildRequest = DEFAULT_KERNEL_BUILD): KernelBuild {
  if (build === 'reference') return build;
  if (build === 'auto') return isBuildSupported('dot8') ? 'dot8' : isBuildSupported('simd') ? 'simd' : 'scalar';
  if (build !== 'simd' && build !== 'dot8' && build !== 'relaxed' && build !== 'scalar') {
    throw new IvfkitError('invalid-argument', `build: expected 'auto', 'simd', 'dot8', 'relaxed', 'scalar' or 'reference', got ${String(build)}`);
  }
  if (!isBuildSupported(build)) {
    throw new IvfkitError('unsupported', `build '${build}': expected a runtime whose WebAssembly.validate accepts it, got false` +
      (build === 'relaxed' || build === 'dot8' ? ' (Node 20 needs --experimental-wasm-relaxed-simd)' : ''));
  }
  return build;
}

/** The compiled module of a wasm build (compiled once, cached); post it to workers. */
export async function getWasmModule(build: KernelBuildRequest = DEFAULT_KERNEL_BUILD): Promise<WebAssembly.Module> {
  const b = wasmBuildOf(build);
  const m = moduleCache.get(b);
  if (m) return m;
  let p = modulePromises.get(b);
  if (!p) {
    p = (async () => {
      let mod: WebAssembly.Module;
      try {
        mod = await WebAssembly.compile(getWasmBytes(b) as BufferSource);
      } catch (e) {
        modulePromises.delete(b);
        throw compileError(b, e);
      }
      warmUp(mod, b, await WebAssembly.instantiate(mod, {}));
      moduleCache.set(b, mod);
      return mod;
    })();
    modulePromises.set(b, p);
  }
  return p;
}

/** Synchronous {@link getWasmModule} (Node, Deno, Bun, workers). */
export function getWasmModuleSync(build: KernelBuildRequest = DEFAULT_KERNEL_BUILD): WebAssembly.Module {
  const b = wasmBuildOf(build);
  let m = moduleCache.get(b);
  if (!m) {
    try {
      m = new WebAssembly.Module(getWasmBytes(b) as BufferSource);
    } catch (e) {
      throw compileError(b, e);
    }
    warmUp(m, b, new WebAssembly.Instance(m, {}));
    moduleCache.set(b, m);
  }
  return m;
}

/**
 * Loads the kernels (cached per build). 'auto' = the first build `WebAssembly.validate` accepts of 'dot8' (SIMD
 * plus relaxed SIMD's 8-bit dot product, which the assignment filter uses where the engine runs it natively; the same
 * bits as 'simd'), 'simd' and 'scalar'; 'relaxed' (fused multiply-add, rounds differently) only when asked for;
 * 'reference' = plain TS.
 */
export async function loadKernels(opts: LoadWasmKernelsOptions = {}): Promise<Kernels> {
  const build = resolveBuild(opts.build);
  if (build === 'reference') return (reference ??= createReferenceKernels());
  const key = cacheKey(build, opts);
  const hit = key ? kernelCache.get(key) : undefined;
  if (hit) return hit;
  const pending = key ? kernelPromises.get(key) : undefined;
  if (pending) return pending;
  const p = (async () => {
    const mod = opts.module ?? (await getWasmModule(build));
    const instance = await WebAssembly.instantiate(mod, {});
    return remember(key, createWasmKernels(instance, build, opts.blockBytes ?? DEFAULT_BLOCK_BYTES, mod, opts.qFilter ?? 'auto'));
  })();
  if (!key) return p;
  const shared = p.finally(() => kernelPromises.delete(key));
  kernelPromises.set(key, shared);
  return shared;
}

/** Synchronous {@link loadKernels} (Node, Deno, Bun, workers; browsers' main thread limits sync compiles to 4 KB). */
export function loadKernelsSync(opts: LoadWasmKernelsOptions = {}): Kernels {
  const build = resolveBuild(opts.build);
  if (build === 'reference') return (reference ??= createReferenceKernels());
  const key = cacheKey(build, opts);
  const hit = key ? kernelCache.get(key) : undefined;
  if (hit) return hit;
  const mod = opts.module ?? getWasmModuleSync(build);
  const instance = new WebAssembly.Instance(mod, {});
  return remember(key, createWasmKernels(instance, build, opts.blockBytes ?? DEFAULT_BLOCK_BYTES, mod, opts.qFilter ?? 'auto'));
}

/** A compile failure of a build that validated: a page's Content-Security-Policy without 'wasm-unsafe-eval', or a
 *  browser main thread's 4 KB limit on synchronous compiles, said as such. */
function compileError(b: WasmBuild, e: unknown): IvfkitError {
  const msg = (e as Error)?.message ?? String(e);
  const hint = /content.security.policy|unsafe-eval|CSP/i.test(msg)
    ? "; the page's Content-Security-Policy must allow 'wasm-unsafe-eval' in script-src (or use build 'reference', plain TypeScript, ~25× slower)"
    : /4\s?KB|4096|synchronous|main thread/i.test(msg) ? '; on a browser main thread use loadKernels() (async), not loadKernelsSync()' : '';
  const err = new IvfkitError('unsupported', `WebAssembly '${b}' build: expected to compile, got ${(e as Error)?.name ?? 'Error'}: ${msg}${hint}`);
  (err as { cause?: unknown }).cause = e;
  return err;
}

function wasmBuildOf(build: KernelBuildRequest): WasmBuild {
  const b = resolveBuild(build);
  if (b === 'reference') throw new IvfkitError('invalid-argument', "build: expected a wasm build, got 'reference'");
  return b;
}

function cacheKey(build: WasmBuild, opts: LoadWasmKernelsOptions): string | undefined {
  if (opts.module) return undefined;
  const bb = opts.blockBytes ?? DEFAULT_BLOCK_BYTES;
  if (!(Number.isInteger(bb) && bb >= 16)) {
    throw new IvfkitError('invalid-argument', `blockBytes: expected an integer ≥ 16, got ${String(bb)}`);
  }
  const q = opts.qFilter ?? 'auto';
  if (q !== 'auto' && q !== 'on' && q !== 'off') throw new IvfkitError('invalid-argument', `qFilter: expected 'auto', 'on' or 'off', got ${String(q)}`);
  return `${build}:${bb}:${q}`;
}

function remember(key: string | undefined, k: Kernels): Kernels {
  if (key) {
    const prior = kernelCache.get(key);
    if (prior) return prior;
    kernelCache.set(key, k);
  }
  return k;
}
