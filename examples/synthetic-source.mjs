// A deterministic synthetic VectorSource for the examples and tests: seeded blobs, cut into fragments.
// Options: { rows = 12000, dim = 16, fragmentRows = 2000, centers = 40, seed = 1, readDelayMs = 0, hugeRow }.
// `readDelayMs` makes every readRows call wait (it simulates slow storage, so a test can kill a worker mid-task);
// `hugeRow` (a row index) sets that row's values to 1e19, beyond what f32 distances hold (range errors).
import { fromFloat32Array } from '../dist/sources/memory.js';
import { createRng } from '../dist/util/rng.js';

export function syntheticData({ rows = 12000, dim = 16, centers = 40, seed = 1, hugeRow } = {}) {
  const rng = createRng(seed, 4242);
  const c = new Float32Array(centers * dim).map(() => rng.next() * 10 - 5);
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    const b = rng.int(centers);
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[b * dim + j] + (rng.next() + rng.next() + rng.next() - 1.5);
  }
  if (hugeRow !== undefined) out.fill(1e19, hugeRow * dim, hugeRow * dim + dim);
  return out;
}

export function createSource(options = {}) {
  const { dim = 16, fragmentRows = 2000, readDelayMs = 0 } = options;
  const base = fromFloat32Array(syntheticData(options), dim, { fragmentRows });
  if (!readDelayMs) return base;
  return {
    dim: base.dim,
    fragments: () => base.fragments(),
    async readRows(id, offsets) {
      await new Promise((r) => setTimeout(r, readDelayMs));
      return base.readRows(id, offsets);
    },
  };
}
