import { describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import { kmeans, pqSubspaceSeed } from '../../src/train/kmeans.js';
import { trainPq } from '../../src/train/pq.js';
import { createRng } from '../../src/util/rng.js';

const kernels = await loadKernels();

/** n rows of dim 4 in 2 sub-spaces: sub-space 0 = 16 tight prototypes (converges in a few
 *  iterations), sub-space 1 = uniform noise (its loss keeps creeping down). */
function mixed(n: number, seed: number): Float32Array {
  const rng = createRng(seed, 5);
  const protos = Float32Array.from({ length: 16 * 2 }, () => rng.next() * 20 - 10);
  const x = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const c = rng.int(16);
    x[i * 4] = protos[c * 2]! + (rng.next() - 0.5) * 0.01;
    x[i * 4 + 1] = protos[c * 2 + 1]! + (rng.next() - 0.5) * 0.01;
    x[i * 4 + 2] = rng.next();
    x[i * 4 + 3] = rng.next();
  }
  return x;
}

describe('trainPq reports iterations and loss per sub-space', () => {
  it('tolerance > 0: sub-spaces stop on their own (counts differ, each in 1..maxIters), matching flat k-means', async () => {
    const n = 3000, maxIters = 40, seed = 9, tolerance = 1e-3;
    const x = mixed(n, 1);
    const losses: number[] = [];
    const pq = await trainPq(x, 4, { numSubVectors: 2, numBits: 4, maxIters, tolerance, seed, kernels, onProgress: (p) => losses.push(p.loss!) });
    expect(pq.iterations).toHaveLength(2);
    expect(pq.subspaceLoss).toHaveLength(2);
    for (const it of pq.iterations) {
      expect(Number.isSafeInteger(it)).toBe(true);
      expect(it).toBeGreaterThanOrEqual(1);
      expect(it).toBeLessThanOrEqual(maxIters);
    }
    expect(pq.iterations[0]).toBeLessThan(pq.iterations[1]!);
    expect(pq.iterations[1]).toBeLessThan(maxIters);
    // The loop runs until the slowest sub-space stops; its last reported total is the sum of the per-sub-space losses.
    expect(losses).toHaveLength(Math.max(...pq.iterations));
    expect(losses.at(-1)).toBeCloseTo(pq.subspaceLoss[0]! + pq.subspaceLoss[1]!, 9);
    for (let s = 0; s < 2; s++) {
      const sub = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) sub.set(x.subarray(i * 4 + s * 2, i * 4 + s * 2 + 2), i * 2);
      const flat = await kmeans(sub, 2, 16, { seed: pqSubspaceSeed(seed, s), maxIters, tolerance, kernels });
      expect(pq.iterations[s], `sub-space ${s} iterations`).toBe(flat.iterations);
      expect(Math.abs(pq.subspaceLoss[s]! - flat.loss) / flat.loss, `sub-space ${s} loss`).toBeLessThan(1e-5);
    }
  });

  it('tolerance 0: every sub-space runs maxIters', async () => {
    const pq = await trainPq(mixed(2000, 2), 4, { numSubVectors: 2, numBits: 4, maxIters: 7, tolerance: 0, seed: 3, kernels });
    expect(pq.iterations).toEqual([7, 7]);
    for (const l of pq.subspaceLoss) expect(l).toBeGreaterThan(0);
  });
});
