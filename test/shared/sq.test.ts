import { describe, expect, it } from 'vitest';
import { createWasmKernels, getWasmModule, isBuildSupported, loadKernels, loadKernelsSync } from '../../src/kernels/index.js';
import type { Kernels } from '../../src/kernels/index.js';
import { SQ_BOUNDS_BLOCK_BYTES } from '../../src/kernels/wasm.js';
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

describe('sqBounds kernel: every build equals the reference bit for bit', () => {
  const ref = loadKernelsSync({ build: 'reference' });
  const builds = (['simd', 'scalar', 'dot8', 'relaxed'] as const).filter((b) => (b !== 'relaxed' && b !== 'dot8') || isBuildSupported(b));
  const withBlock = async (build: (typeof builds)[number], blockBytes?: number): Promise<Kernels> =>
    createWasmKernels(await WebAssembly.instantiate(await getWasmModule(build), {}), build, blockBytes);

  /** Rows of random values with some of them overwritten by `edits` ([row, col, value]). */
  const data = (seed: number, n: number, dim: number, edits: [number, number, number][] = []): Float32Array => {
    const rng = createRng(seed, 7);
    const x = Float32Array.from({ length: n * dim }, () => (rng.next() * 2 - 1) * 4);
    for (const [r, c, v] of edits) x[r * dim + c] = v;
    return x;
  };
  const same = (a: { lower: number; upper: number; rows: number }, b: typeof a, what: string) => {
    expect(Object.is(a.lower, b.lower) && Object.is(a.upper, b.upper) && a.rows === b.rows,
      `${what}: ${JSON.stringify([a.lower, a.upper, a.rows, Object.is(a.lower, -0), Object.is(a.upper, -0)])} vs reference ` +
      `${JSON.stringify([b.lower, b.upper, b.rows, Object.is(b.lower, -0), Object.is(b.upper, -0)])}`).toBe(true);
  };

  for (const build of builds) {
    it(`${build}: non-finite values in the vector part and in the tail, every width 1..9, 127, 128, 130`, async () => {
      const blocks = [await withBlock(build, 256), await withBlock(build)];
      for (const dim of [1, 2, 3, 4, 5, 6, 7, 8, 9, 127, 128, 130]) {
        const n = 37;
        const edits: [number, number, number][] = [
          [0, 0, NaN], [3, dim - 1, Infinity], [5, Math.floor(dim / 2), -Infinity], [36, dim - 1, NaN],
          [10, dim - 1, 1e30], [11, 0, -1e30], // large finite values in the last and first columns
        ];
        const x = data(dim, n, dim, edits);
        const r = ref.sqBounds(x, dim);
        expect(r.rows).toBe(n - 4);
        for (const K of blocks) same(K.sqBounds(x, dim), r, `${build} dim ${dim}`);
      }
    });

    it(`${build}: signed zeros (min −0 beats +0, max +0 beats −0) wherever they sit`, async () => {
      const K = await withBlock(build, 256);
      for (const dim of [3, 4, 8, 13]) {
        for (let col = 0; col < dim; col++) {
          for (const [a, b] of [[0, -0], [-0, 0], [-0, -0], [0, 0]] as const) {
            // Non-negative rows put the lower bound at a zero; non-positive rows put the upper bound at one.
            const pos = Float32Array.from({ length: 4 * dim }, (_, i) => 1 + (i % 5));
            pos[col] = a; pos[2 * dim + ((col + 1) % dim)] = b;
            same(K.sqBounds(pos, dim), ref.sqBounds(pos, dim), `${build} dim ${dim} col ${col} lower ${Object.is(a, -0)}/${Object.is(b, -0)}`);
            const neg = pos.map((v) => (v === 0 ? v : -v));
            same(K.sqBounds(neg, dim), ref.sqBounds(neg, dim), `${build} dim ${dim} col ${col} upper ${Object.is(a, -0)}/${Object.is(b, -0)}`);
          }
        }
      }
      const z = new Float32Array([0, -0, 1, -0, 0, -1]);
      expect(Object.is(K.sqBounds(z, 3).lower, -1)).toBe(true);
      const only = K.sqBounds(new Float32Array([0, -0, -0, 0]), 2);
      expect(Object.is(only.lower, -0) && Object.is(only.upper, 0)).toBe(true);
    });

    it(`${build}: inputs over several ${SQ_BOUNDS_BLOCK_BYTES}-byte blocks, the extremes and bad rows in late blocks`, async () => {
      const K = await withBlock(build);
      const dim = 128, n = Math.ceil((3 * SQ_BOUNDS_BLOCK_BYTES) / (dim * 4)) + 5;
      const x = data(11, n, dim, [[n - 2, 7, -9], [n - 3, 100, 9], [n - 1, 3, NaN], [n - 4, 0, -20], [n - 4, 1, Infinity]]);
      const r = ref.sqBounds(x, dim);
      expect([r.lower, r.upper, r.rows]).toEqual([-9, 9, n - 2]);
      same(K.sqBounds(x, dim), r, build);
      same(K.sqBounds(new Float32Array(0), dim), { lower: Infinity, upper: -Infinity, rows: 0 }, `${build} empty`);
      same(K.sqBounds(new Float32Array([NaN, 1, 2, 3]), 4), { lower: Infinity, upper: -Infinity, rows: 0 }, `${build} no finite row`);
    });
  }
});
