import { describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import { IVF_DEFAULTS, trainIvf } from '../../src/train/ivf.js';
import { kmeans, localExecutor } from '../../src/train/kmeans.js';
import { IvfkitError } from '../../src/util/errors.js';
import { createRng } from '../../src/util/rng.js';

const kernels = await loadKernels();

function blobs(n: number, dim: number, centers: number, seed: number, offset = 0): Float32Array {
  const rng = createRng(seed, 5);
  const c = Float32Array.from({ length: centers * dim }, () => offset + rng.next() * 20 - 10);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const b = rng.int(centers);
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[b * dim + j]! + rng.next() - 0.5;
  }
  return out;
}

describe('trainIvf', () => {
  const dim = 6;
  const x = blobs(2000, dim, 12, 1);

  it("l2: Lance's IVF k-means = kmeans with balance factor 1.0", async () => {
    expect(IVF_DEFAULTS.balanceFactor).toBe(1);
    const ivf = await trainIvf(x, dim, { numPartitions: 12, maxIters: 20, seed: 3, kernels });
    const km = await kmeans(x, dim, 12, { maxIters: 20, seed: 3, balanceFactor: 1, kernels });
    expect(ivf.numPartitions).toBe(12);
    expect(Array.from(ivf.centroids)).toEqual(Array.from(km.centroids));
    expect(ivf.loss).toBe(km.loss);
  });

  it('cosine: normalized rows (zero and NaN rows dropped) trained as L2; centroids not re-normalized', async () => {
    const y = x.slice();
    y.fill(0, 0, dim);
    y[dim * 5 + 2] = NaN;
    const ivf = await trainIvf(y, dim, { numPartitions: 8, metric: 'cosine', seed: 2, kernels });
    const norm = kernels.normalize(y, dim);
    const keep: number[] = [];
    for (let i = 0; i < 2000; i++) if (i !== 0 && i !== 5) keep.push(i);
    const z = new Float32Array(keep.length * dim);
    keep.forEach((r, i) => z.set(norm.subarray(r * dim, (r + 1) * dim), i * dim));
    const km = await kmeans(z, dim, 8, { seed: 2, balanceFactor: 1, kernels });
    expect(Array.from(ivf.centroids)).toEqual(Array.from(km.centroids));
    const norms = kernels.sqNorms(ivf.centroids, dim);
    expect(Math.max(...norms)).toBeLessThanOrEqual(1 + 1e-5);
    expect(Math.min(...norms)).toBeLessThan(0.999);
  });

  it("dot: trained with metric 'dot'", async () => {
    const ivf = await trainIvf(x, dim, { numPartitions: 5, metric: 'dot', seed: 4, kernels });
    const km = await kmeans(x, dim, 5, { metric: 'dot', seed: 4, balanceFactor: 1, kernels });
    expect(Array.from(ivf.centroids)).toEqual(Array.from(km.centroids));
  });

  it('more than 256 partitions: hierarchical, exactly numPartitions centroids, progress stages', async () => {
    const y = blobs(8000, 4, 50, 9);
    const stages = new Set<string>();
    const ivf = await trainIvf(y, 4, { numPartitions: 270, maxIters: 8, kernels, onProgress: (p) => stages.add(p.stage) });
    expect(ivf.centroids.length).toBe(270 * 4);
    expect(ivf.centroids.every(Number.isFinite)).toBe(true);
    expect([...stages].sort()).toEqual(['ivf', 'ivf:kmeans-hierarchical']);
  });

  it('with an executor: trains over its rows', async () => {
    const a = await trainIvf(x, dim, { numPartitions: 7, seed: 5, kernels, executor: localExecutor(x, dim, kernels) });
    const b = await trainIvf(x, dim, { numPartitions: 7, seed: 5, kernels });
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
  });

  it('errors state expected and actual values', async () => {
    const e1 = await trainIvf(x.subarray(0, 40 * dim), dim, { numPartitions: 50, kernels }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(IvfkitError);
    expect((e1 as Error).message).toContain('expected at least numPartitions = 50 rows, got 40');
    const e2 = await trainIvf(x, dim, { numPartitions: 4, metric: 'hamming' as 'l2', kernels }).catch((e: unknown) => e);
    expect((e2 as Error).message).toContain("metric: expected 'l2', 'cosine' or 'dot', got hamming");
    const e3 = await trainIvf(new Float32Array(12).fill(NaN), 3, { numPartitions: 1, kernels }).catch((e: unknown) => e);
    expect((e3 as IvfkitError).code).toBe('no-finite-rows');
  });
});
