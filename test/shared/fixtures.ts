import { createRng } from '../../src/util/rng.js';

// Seeded test data shared by the test files (this file holds no tests).

/** n rows of dim around `centers` random centers in [−10, 10)^dim, noise of scale `noise`, all shifted by
 *  `offset`; `stream` selects an independent random stream for the same seed. */
export function blobs(n: number, dim: number, centers: number, seed: number, noise = 1, offset = 0, stream = 77): Float32Array {
  const rng = createRng(seed, stream);
  const c = Float32Array.from({ length: centers * dim }, () => rng.next() * 20 - 10);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const b = rng.int(centers);
    for (let j = 0; j < dim; j++) out[i * dim + j] = offset + c[b * dim + j]! + noise * (rng.next() + rng.next() + rng.next() - 1.5);
  }
  return out;
}

/** Small integers with many duplicate rows: exact distance ties everywhere. */
export function integers(n: number, dim: number, seed: number): Float32Array {
  const rng = createRng(seed, 78);
  const base = Float32Array.from({ length: 40 * dim }, () => rng.int(5));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const r = rng.int(40);
    if (rng.next() < 0.5) out.set(base.subarray(r * dim, (r + 1) * dim), i * dim);
    else for (let j = 0; j < dim; j++) out[i * dim + j] = rng.int(4);
  }
  return out;
}
