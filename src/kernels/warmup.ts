import type { Accumulators, AssignBounds } from './types.js';
import { createWasmKernels, type QFilter } from './wasm.js';

type WasmBuild = 'simd' | 'dot8' | 'relaxed' | 'scalar';

/**
 * Runs the hot kernels of k-means training a few times on small synthetic inputs, in `instance`, a
 * throwaway instance of `mod`. V8 starts wasm in its baseline tier and compiles a function's optimized code only
 * after it has run for a while, in the background; a call already running stays in the baseline tier
 * (2–3× slower). Without this, the first map step of a training spends its first, longest calls there.
 * The optimized code belongs to the module, so every instance gets it, also those of workers the module
 * is posted to. About 30 ms of work, once per module; a failure here only costs that speed (returns
 * whether every step ran).
 */
export function warmUp(mod: WebAssembly.Module, build: WasmBuild, instance: WebAssembly.Instance): boolean {
  try {
    exercise(instance, mod, build, 'auto', 128);
    if (build !== 'scalar') exercise(instance, mod, build, 'on', 64);
    return true;
  } catch {
    return false;                                           // the kernels report real errors when they are used
  }
}

/** n rows of d values around 8 levels (row i near i mod 8), from a seeded LCG: inputs for warm-up steps. */
export function syntheticRows(n: number, d: number, seed: number): Float32Array {
  const x = new Float32Array(n * d);
  let s = seed;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = (Math.floor(i / d) % 8) + (s >>> 8) / 2 ** 24;
  }
  return x;
}

function exercise(instance: WebAssembly.Instance, mod: WebAssembly.Module, build: WasmBuild, qFilter: QFilter, d: number): void {
  const K = createWasmKernels(instance, build, undefined, mod, qFilter);
  const n = 256, k = 64, gs = 8, G = k / gs;
  const x = syntheticRows(n, d, 12345);
  const acc = (kk: number, dd: number): Accumulators => ({ shift: 8, lossShift: 8, sums: new BigInt64Array(kk * dd), counts: new Float64Array(kk),
    clusterLoss: new BigInt64Array(kk), radius: new Float32Array(kk).fill(-Infinity) });
  let c = x.slice(0, k * d);
  if (qFilter === 'auto') for (let r = 0; r < 3; r++) K.assignAccumulate(x, d, c, acc(k, d));
  const sq = K.sqNorms(x, d);
  const xnorm = Float64Array.from(sq, (v) => Math.sqrt(v) * 1.001);
  const bounds: AssignBounds = { groupSize: gs, assign: new Int32Array(n).fill(-1), lower: new Float32Array(n * G), epoch: new Uint8Array(n * G),
    decay: new Float64Array(256 * G).fill(Infinity), now: 0, xnorm, cmax: 0 };
  K.centroidOrder(c, d, gs);
  const session = K.boundedSession?.(x, d, k, bounds);
  const pairs = qFilter === 'auto' ? K.boundedSession?.(x, d, k, { groupSize: gs, pairs: true }) : undefined;
  for (let t = 0; t < 5; t++) {
    const next = c.map((v, i) => v + (((i * 7 + t) % 5) - 2) * 0.01);
    bounds.now = t;
    bounds.decay.fill(Infinity).fill(0, t * G, (t + 1) * G);
    if (t > 0) bounds.decay.set(K.groupDrift(next, [c], d, gs).map((v) => Math.sqrt(v) * 1.001), (t - 1) * G);
    c = next;
    bounds.cmax = Math.sqrt(Math.max(...K.sqNorms(c, d))) * 1.001;
    if (session) session.step(c, acc(k, d), bounds); else K.assignAccumulateBounded(x, d, c, acc(k, d), bounds);
    pairs?.step(c, acc(k, d), bounds);
  }
  session?.close();
  pairs?.close();
}
