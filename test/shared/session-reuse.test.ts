import { describe, expect, it } from 'vitest';
import { loadKernels, loadKernelsSync } from '../../src/kernels/index.js';
import type { Accumulators, BoundsPlan, Kernels } from '../../src/kernels/index.js';
import { PQ_GROUPS } from '../../src/kernels/types.js';
import { sessionInstances } from '../../src/kernels/wasm.js';
import { kmeans } from '../../src/train/kmeans.js';
import { trainLocal } from '../../src/train/local.js';
import { pqGroupPerm } from '../../src/train/partial.js';
import { fromFloat32Array } from '../../src/sources/memory.js';
import { IvfkitError } from '../../src/util/errors.js';
import { createRng } from '../../src/util/rng.js';
import { blobs } from './fixtures.js';

// A closed session's instance (and its memory, whose pages are mapped) goes to the next session opened. The next
// session must not see the old bytes: its steps give the bits of a session on a new instance. A closed session refuses
// every call.

const newAcc = (k: number, dim: number): Accumulators => ({ shift: 12, lossShift: 8, sums: new BigInt64Array(k * dim), counts: new Float64Array(k),
  clusterLoss: new BigInt64Array(k), radius: new Float32Array(k).fill(-Infinity) });

/** Moving centroids: k rows of x, then small seeded steps. */
function centroidSteps(x: Float32Array, d: number, k: number, steps: number, seed: number): Float32Array[] {
  const rng = createRng(seed, 3);
  const out = [x.slice(0, k * d)];
  for (let t = 1; t < steps; t++) out.push(out[t - 1]!.map((v) => v + (rng.next() - 0.5) * 0.3 / t));
  return out;
}

interface Trace { index: Int32Array[]; dist: Float32Array[]; acc: Accumulators[]; info: unknown[] }

/** Steps a bounded session through `seq` (group bounds: decay from each step's movement, rounded up; pairs: its own). */
function runBounded(K: Kernels, x: Float32Array, d: number, k: number, seq: Float32Array[], pairs: boolean): { trace: Trace; close(): void } {
  const n = x.length / d, gs = 8, G = Math.ceil(k / gs);
  const s = K.boundedSession!(x, d, k, { groupSize: gs, ...(pairs ? { pairs } : {}) })!;
  expect(s, 'a session').toBeDefined();
  const plan: BoundsPlan = { groupSize: gs, decay: new Float64Array(256 * G), now: 0, cmax: 0 };
  const trace: Trace = { index: [], dist: [], acc: [], info: [] };
  for (let t = 0; t < seq.length; t++) {
    const cs = seq[t]!;
    plan.now = t;
    plan.decay.fill(Infinity).fill(0, t * G, (t + 1) * G);
    for (let e = t - 1; e >= 0; e--) plan.decay.set(K.groupDrift(cs, [seq[e]!], d, gs).map((v) => Math.sqrt(v) * (1 + 1e-9)), e * G);
    plan.cmax = Math.sqrt(Math.max(...K.sqNorms(cs, d))) * (1 + 1e-6);
    const outIndex = new Int32Array(n), outDist = new Float32Array(n), acc = newAcc(k, d);
    trace.info.push(s.step(cs, acc, plan, { outIndex, outDist, full: t === 0 }));
    trace.index.push(outIndex); trace.dist.push(outDist); trace.acc.push(acc);
  }
  return { trace, close: () => s.close() };
}

function sameTrace(a: Trace, b: Trace): void {
  expect(b.info).toEqual(a.info);
  a.index.forEach((v, t) => expect(b.index[t], `step ${t} index`).toEqual(v));
  a.dist.forEach((v, t) => expect(b.dist[t], `step ${t} dist`).toEqual(v));
  a.acc.forEach((v, t) => expect(b.acc[t], `step ${t} sums`).toEqual(v));
}

describe('sessions reuse the memory of closed ones', () => {
  for (const build of ['auto', 'scalar'] as const) {
    for (const pairs of [false, true]) {
      it(`${build}, ${pairs ? 'pair' : 'group'} bounds: a session on a closed one's instance gives the bits of one on a new instance`, async () => {
        const K = await loadKernels({ build });
        const d = 64, k = 40;
        const x = blobs(300, d, 12, 31), y = blobs(900, d, 7, 32, 4, 3);
        const seq = centroidSteps(x, d, k, 5, 1), other = centroidSteps(y, d, 96, 4, 2);
        // Take any spare first, so that the baseline runs on a new instance.
        const spare = K.boundedSession!(x, d, k, { groupSize: 8 })!;
        const created = sessionInstances.created;
        const fresh = runBounded(K, x, d, k, seq, pairs);
        expect(sessionInstances.created, 'the baseline opened a new instance').toBe(created + 1);
        // A larger session over other rows fills more memory with its bytes, then closes.
        const dirty = runBounded(K, y, d, 96, other, !pairs);
        dirty.close();
        const reused = sessionInstances.reused;
        const again = runBounded(K, x, d, k, seq, pairs);
        expect(sessionInstances.reused, 'the next session took the closed one\'s instance').toBe(reused + 1);
        sameTrace(fresh.trace, again.trace);
        for (const s of [fresh, again]) s.close();
        spare.close();
      });
    }
  }

  it('a PQ group session on a closed k-means session\'s instance gives the bits of one on a new instance', () => {
    const K = loadKernelsSync({ build: 'simd' });
    const n = 600, d = 16, m = 2, ds = 8;
    const x = blobs(n, d, 9, 41);
    const rng = createRng(5, 2);
    const cb0 = Float32Array.from({ length: m * 256 * ds }, (_, p) => x[(p * 7) % x.length]! + (rng.next() - 0.5));
    const perm = pqGroupPerm(cb0, m, 256, ds);
    const run = (): { codes: Int32Array[]; accs: Accumulators[]; skipped: number[]; close(): void } => {
      const s = K.pqGroupSession!(x, d, m, perm)!;
      const out = { codes: [] as Int32Array[], accs: [] as Accumulators[], skipped: [] as number[] };
      let cb = cb0;
      for (let it = 0; it < 4; it++) {
        const acc = newAcc(m * 256, ds), outIndex = new Int32Array(n * m);
        out.skipped.push(s.step(cb, acc, new Float64Array(m * PQ_GROUPS).fill(it === 0 ? 0 : 0.05), { outIndex }));
        out.codes.push(outIndex); out.accs.push(acc);
        cb = cb.map((v, p) => v + (((p * 13 + it) % 7) - 3) * 0.004);
      }
      return { ...out, close: () => s.close() };
    };
    const spare = K.pqGroupSession!(x, d, m, perm)!;
    const created = sessionInstances.created;
    const fresh = run();
    expect(sessionInstances.created).toBe(created + 1);
    const y = blobs(2000, 32, 5, 42, 3, -2);
    const dirty = runBounded(K, y, 32, 64, centroidSteps(y, 32, 64, 3, 9), false);
    dirty.close();
    const reused = sessionInstances.reused;
    const again = run();
    expect(sessionInstances.reused).toBe(reused + 1);
    expect(again.skipped).toEqual(fresh.skipped);
    fresh.codes.forEach((c, t) => expect(again.codes[t], `step ${t} codes`).toEqual(c));
    fresh.accs.forEach((a, t) => expect(again.accs[t], `step ${t} sums`).toEqual(a));
    for (const s of [fresh, again, spare]) s.close();
  });

  it('a closed session refuses every call with invalid-state; close is idempotent', () => {
    const K = loadKernelsSync({ build: 'simd' });
    const d = 8, k = 16, x = blobs(64, d, 4, 51);
    const s = K.boundedSession!(x, d, k, { groupSize: 8 })!, p = K.boundedSession!(x, d, k, { groupSize: 8, pairs: true })!;
    const plan: BoundsPlan = { groupSize: 8, decay: new Float64Array(256 * 2).fill(Infinity).fill(0, 0, 2), now: 0, cmax: 100 };
    s.step(x.slice(0, k * d), newAcc(k, d), plan);
    s.close(); s.close(); p.close();
    const bounds = { ...plan, assign: new Int32Array(64), lower: new Float32Array(128), epoch: new Uint8Array(128), xnorm: new Float64Array(64) };
    const calls: [string, () => unknown][] = [
      ['step', () => s.step(x.slice(0, k * d), newAcc(k, d), plan)], ['read', () => s.read(bounds)], ['write', () => s.write(bounds)],
      ['readPairs', () => p.readPairs()],
    ];
    for (const [name, call] of calls) {
      let err: unknown;
      try { call(); } catch (e) { err = e; }
      expect(err, name).toBeInstanceOf(IvfkitError);
      expect((err as IvfkitError).code, name).toBe('invalid-state');
      expect((err as Error).message, name).toMatch(/bounded session: expected an open session, got a closed one/);
    }
    const perm = Int32Array.from({ length: 512 }, (_, q) => q % 256);
    const q = K.pqGroupSession!(blobs(20, 8, 2, 1), 8, 2, perm)!;
    q.close();
    expect(() => q.step(blobs(512, 4, 3, 2), newAcc(512, 4), new Float64Array(32))).toThrow(/PQ group session: expected an open session, got a closed one/);
    expect(() => q.state()).toThrow(/PQ group session: expected an open session/);
  });

  it('training closes its sessions: later sessions reuse them, and repeated runs give the same bits', async () => {
    const kernels = await loadKernels();
    const d = 32, x = blobs(3000, d, 24, 61);
    const a = await kmeans(x, d, 20, { seed: 4, maxIters: 8, kernels });
    const reused = sessionInstances.reused;
    const b = await kmeans(x, d, 20, { seed: 4, maxIters: 8, kernels });
    expect(sessionInstances.reused, 'the second run took the first run\'s instance').toBeGreaterThan(reused);
    expect(b.centroids).toEqual(a.centroids);
    expect(b.loss).toBe(a.loss);
    // IVF (hierarchical sub-runs, then all rows) and PQ on one thread: the stages hand their memory on.
    const params = { numPartitions: 300, sampleRate: 12, maxIters: 4, seed: 9, kernels, threads: 1, pq: { numSubVectors: 4, maxIters: 3 } };
    const before = { ...sessionInstances };
    const m1 = await trainLocal(fromFloat32Array(blobs(3600, d, 40, 62), d), params);
    const opened = sessionInstances.created + sessionInstances.reused - before.created - before.reused;
    expect(opened, 'sessions opened').toBeGreaterThan(2);
    expect(sessionInstances.created - before.created, 'new instances').toBeLessThanOrEqual(1);
    const m2 = await trainLocal(fromFloat32Array(blobs(3600, d, 40, 62), d), params);
    expect(m2.ivf.centroids).toEqual(m1.ivf.centroids);
    expect(m2.pq!.codebook).toEqual(m1.pq!.codebook);
  });
});
