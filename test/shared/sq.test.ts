import { describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import { trainSq } from '../../src/train/sq.js';
import { IvfkitError } from '../../src/util/errors.js';
import { createRng } from '../../src/util/rng.js';

const kernels = await loadKernels();

describe('trainSq', () => {
  it('bounds = global min / max over rows whose values are all finite', async () => {
    const rng = createRng(3);
    const dim = 5;
    const x = Float32Array.from({ length: 200 * dim }, () => rng.next() * 6 - 2);
    x[7 * dim + 1] = -50; x[7 * dim + 2] = NaN;
    x[9 * dim] = Infinity; x[9 * dim + 1] = 99;
    const sq = await trainSq(x, dim, { kernels });
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < 200; i++) {
      if (i === 7 || i === 9) continue;
      for (let j = 0; j < dim; j++) { lo = Math.min(lo, x[i * dim + j]!); hi = Math.max(hi, x[i * dim + j]!); }
    }
    expect(sq).toEqual({ numBits: 8, lower: lo, upper: hi });
  });

  it('cosine: bounds of the normalized rows (zero rows dropped)', async () => {
    const x = new Float32Array([3, 4, 0, 0, -1, 0, 10, 10]);
    const sq = await trainSq(x, 2, { metric: 'cosine', kernels });
    expect(sq.lower).toBe(-1);
    expect(sq.upper).toBeCloseTo(0.8, 6);
  });

  it("Lance's codes: trunc((v − lo)·255/(hi − lo)), NaN → 0", async () => {
    expect(Array.from(kernels.sqEncode(new Float32Array([0, 1, 2, 3, NaN]), 0, 3))).toEqual([0, 85, 170, 255, 0]);
    const ramp = Float32Array.from({ length: 16 }, (_, i) => i);
    const sq = await trainSq(ramp, 16, { kernels });
    expect([sq.lower, sq.upper]).toEqual([0, 15]);
    expect(Array.from(kernels.sqEncode(ramp, sq.lower, sq.upper))).toEqual(Array.from(ramp, (i) => 17 * i));
    expect(Array.from(kernels.sqEncode(new Float32Array([-5, 20]), 0, 15))).toEqual([0, 255]);
  });

  it('rejects other bit widths and data without a finite row', async () => {
    const e1 = await trainSq(new Float32Array(4), 2, { numBits: 4 as 8, kernels }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(IvfkitError);
    expect((e1 as Error).message).toContain('SQ numBits: expected 8, got 4');
    const e2 = await trainSq(new Float32Array([NaN, 1, 2, Infinity]), 2, { kernels }).catch((e: unknown) => e);
    expect((e2 as IvfkitError).code).toBe('no-finite-rows');
    expect((e2 as Error).message).toContain('got 0 of 2');
  });
});
