import { describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import { kmeans, pqSubspaceSeed } from '../../src/train/kmeans.js';
import { residualRows, trainPq } from '../../src/train/pq.js';
import { IvfkitError } from '../../src/util/errors.js';
import { createRng } from '../../src/util/rng.js';

const kernels = await loadKernels();

/** Rows whose sub-vector s is one of `protos` prototypes of sub-space s plus uniform noise of ±noise. */
function productData(n: number, dim: number, m: number, protos: number, seed: number, noise: number, offset = 0): Float32Array {
  const rng = createRng(seed, 17);
  const ds = dim / m;
  const p = Float32Array.from({ length: m * protos * ds }, () => rng.next() * 8 - 4);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++) {
      const c = rng.int(protos);
      for (let j = 0; j < ds; j++) out[i * dim + s * ds + j] = offset + p[(s * protos + c) * ds + j]! + noise * (rng.next() * 2 - 1);
    }
  }
  return out;
}

/** Decodes codes (8-bit: one byte per sub-vector; 4-bit: even sub-vector in the low nibble) with a [m][c][j] codebook. */
function decode(codes: Uint8Array, n: number, dim: number, m: number, bits: 4 | 8, codebook: Float32Array): Float32Array {
  const ds = dim / m, ksub = 1 << bits;
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++) {
      const p = i * m + s;
      const c = bits === 8 ? codes[p]! : (codes[p >> 1]! >> ((p & 1) * 4)) & 15;
      out.set(codebook.subarray((s * ksub + c) * ds, (s * ksub + c + 1) * ds), i * dim + s * ds);
    }
  }
  return out;
}

function mse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s / a.length;
}

function variance(a: Float32Array): number {
  let m = 0;
  for (const v of a) m += v;
  m /= a.length;
  let s = 0;
  for (const v of a) s += (v - m) ** 2;
  return s / a.length;
}

async function rejectsWith(p: Promise<unknown>, code: string, text: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(IvfkitError);
  expect((err as IvfkitError).code).toBe(code);
  expect((err as Error).message).toContain(text);
}

describe('trainPq', () => {
  it('8-bit: [m][c][j] codebook; encoding then decoding reconstructs rows with small error', async () => {
    const dim = 16, m = 4;
    const x = productData(3000, dim, m, 40, 1, 0.05);
    const pq = await trainPq(x, dim, { numSubVectors: m, numBits: 8, maxIters: 15, kernels });
    expect(pq.numSubVectors).toBe(m);
    expect(pq.numBits).toBe(8);
    expect(pq.codebook.length).toBe(256 * dim);
    const codes = kernels.pqEncode(x, dim, pq.codebook, m, 8);
    const err = mse(decode(codes, 3000, dim, m, 8, pq.codebook), x);
    expect(err).toBeLessThan(0.01 * variance(x));
  });

  it('4-bit: 16 codes per sub-space recover 16 prototypes per sub-space', async () => {
    const dim = 12, m = 6;
    const x = productData(2000, dim, m, 16, 2, 0.02);
    const pq = await trainPq(x, dim, { numSubVectors: m, numBits: 4, kernels });
    expect(pq.codebook.length).toBe(16 * dim);
    const codes = kernels.pqEncode(x, dim, pq.codebook, m, 4);
    expect(codes.length).toBe(2000 * m / 2);
    const err = mse(decode(codes, 2000, dim, m, 4, pq.codebook), x);
    expect(err).toBeLessThan(0.05 * variance(x));
  });

  it('each sub-space equals an independent flat k-means run with pqSubspaceSeed(seed, m)', async () => {
    const dim = 8, m = 2, seed = 77;
    const x = productData(1500, dim, m, 30, 3, 0.5);
    const pq = await trainPq(x, dim, { numSubVectors: m, numBits: 4, maxIters: 20, seed, kernels });
    const ds = dim / m;
    for (let s = 0; s < m; s++) {
      const sub = new Float32Array(1500 * ds);
      for (let i = 0; i < 1500; i++) sub.set(x.subarray(i * dim + s * ds, i * dim + (s + 1) * ds), i * ds);
      const flat = await kmeans(sub, ds, 16, { seed: pqSubspaceSeed(seed, s), maxIters: 20, kernels });
      const mine = pq.codebook.subarray(s * 16 * ds, (s + 1) * 16 * ds);
      let maxDiff = 0;
      for (let i = 0; i < mine.length; i++) maxDiff = Math.max(maxDiff, Math.abs(mine[i]! - flat.centroids[i]!));
      expect(maxDiff).toBeLessThan(1e-4);
    }
  });

  it('residual mode for l2 / cosine with ivfCentroids; raw rows for dot', async () => {
    const dim = 8, m = 2;
    const centers = Float32Array.from({ length: 3 * dim }, (_, i) => 1000 + 100 * Math.floor(i / dim));
    const noise = productData(900, dim, m, 20, 4, 0.1);
    const x = noise.map((v, i) => v + centers[(Math.floor(i / dim) % 3) * dim + (i % dim)]!);
    const res = await trainPq(x, dim, { numSubVectors: m, numBits: 4, ivfCentroids: centers, kernels });
    const raw = await trainPq(x, dim, { numSubVectors: m, numBits: 4, kernels });
    const dot = await trainPq(x, dim, { numSubVectors: m, numBits: 4, ivfCentroids: centers, metric: 'dot', kernels });
    expect(Math.max(...res.codebook.map(Math.abs))).toBeLessThan(5);
    expect(Math.min(...raw.codebook)).toBeGreaterThan(990);
    expect(Math.min(...dot.codebook)).toBeGreaterThan(990);
    const r = residualRows(x, dim, centers, kernels);
    const codes = kernels.pqEncode(r, dim, res.codebook, m, 4);
    expect(mse(decode(codes, 900, dim, m, 4, res.codebook), r)).toBeLessThan(0.2 * variance(r));
  });

  it('cosine normalizes rows first (codebook within [-1, 1]) and drops zero rows', async () => {
    const dim = 8;
    const x = productData(500, dim, 2, 10, 5, 0.3, 2);
    x.fill(0, 0, dim);
    const pq = await trainPq(x, dim, { numSubVectors: 2, numBits: 4, metric: 'cosine', kernels });
    expect(pq.codebook.every((v) => Number.isFinite(v) && Math.abs(v) <= 1)).toBe(true);
  });

  it('is seeded: same seed same codebook, other seed another', async () => {
    const x = productData(600, 8, 2, 30, 6, 0.5);
    const a = await trainPq(x, 8, { numSubVectors: 2, numBits: 4, seed: 1, kernels });
    const b = await trainPq(x, 8, { numSubVectors: 2, numBits: 4, seed: 1, kernels });
    const c = await trainPq(x, 8, { numSubVectors: 2, numBits: 4, seed: 2, kernels });
    expect(Array.from(b.codebook)).toEqual(Array.from(a.codebook));
    expect(Array.from(c.codebook)).not.toEqual(Array.from(a.codebook));
  });

  it('reports progress as stage pq and honours an aborted signal', async () => {
    const x = productData(600, 8, 2, 30, 7, 0.5);
    const stages = new Set<string>();
    await trainPq(x, 8, { numSubVectors: 2, numBits: 4, maxIters: 3, kernels, onProgress: (p) => stages.add(p.stage) });
    expect([...stages]).toEqual(['pq']);
    const ac = new AbortController();
    ac.abort();
    await rejectsWith(trainPq(x, 8, { numSubVectors: 2, numBits: 4, kernels, signal: ac.signal }), 'aborted', 'aborted');
  });

  it('rejects bad parameters with expected and actual values', async () => {
    const x = productData(300, 8, 2, 4, 8, 0.5);
    await rejectsWith(trainPq(x, 8, { numSubVectors: 3, kernels }), 'invalid-argument', 'expected a divisor of dim 8, got 3');
    await rejectsWith(trainPq(x, 8, { numSubVectors: 2, seed: NaN, kernels }), 'invalid-argument', 'seed: expected a non-negative integer, got NaN');
    await rejectsWith(trainPq(x, 8, { numSubVectors: 2, tolerance: Infinity, kernels }), 'invalid-argument', 'tolerance: expected a finite number ≥ 0, got Infinity');
    await rejectsWith(trainPq(x, 8, { numSubVectors: 2, maxIters: Infinity, kernels }), 'invalid-argument', 'maxIters: expected an integer ≥ 1, got Infinity');
    await rejectsWith(trainPq(x, 8, { numSubVectors: 2, numBits: 5 as 8, kernels }), 'invalid-argument', 'numBits: expected 8 or 4, got 5');
    const y = productData(300, 9, 3, 4, 8, 0.5);
    await rejectsWith(trainPq(y, 9, { numSubVectors: 3, numBits: 4, kernels }), 'invalid-argument', 'expected an even number, got 3');
    await rejectsWith(trainPq(x.subarray(0, 200 * 8), 8, { numSubVectors: 2, numBits: 8, kernels }), 'too-few-rows', 'expected at least 2^8 = 256 (finite) rows, got 200');
    await rejectsWith(trainPq(x, 8, { numSubVectors: 2, ivfCentroids: new Float32Array(7), kernels }), 'dimension-mismatch', 'ivfCentroids length');
  });
});
