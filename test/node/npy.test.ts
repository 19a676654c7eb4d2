import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floatToHalf, fromNpy, halfToFloat, modelToNpyFiles, toNpy } from '../../src/model/npy.js';
import { fromNpyData } from '../../src/sources/npy.js';
import type { TrainedModels } from '../../src/types.js';
import { IvfkitError } from '../../src/util/errors.js';

const PY = '/usr/bin/python3';
function python(code: string): string {
  try {
    return execFileSync(PY, ['-c', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const msg = String((e as { stderr?: string }).stderr ?? e);
    // numpy is required (Debian python3-numpy); missing numpy fails the test, locally and in CI.
    throw new Error(`${PY} with numpy is required for this test: ${msg.split('\n').filter(Boolean).pop()}`);
  }
}

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

describe('npy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ivfkit-npy-'));

  it('numpy reads toNpy output with the right shape, dtype and values (float32/float64/float16)', () => {
    const r = lcg(7);
    const vals = Float64Array.from({ length: 5 * 3 * 4 }, () => r() * 1000);
    for (const dtype of ['float32', 'float64', 'float16'] as const) {
      const p = join(dir, `a_${dtype}.npy`);
      writeFileSync(p, toNpy(vals, [5, 3, 4], dtype));
      const out = JSON.parse(python(`import numpy as np, json; a = np.load(${JSON.stringify(p)}); print(json.dumps({"shape": list(a.shape), "dtype": str(a.dtype), "v": [float(x) for x in a.ravel()], "c": bool(a.flags.c_contiguous)}))`));
      expect(out.shape).toEqual([5, 3, 4]);
      expect(out.dtype).toBe(dtype);
      expect(out.c).toBe(true);
      const expected = dtype === 'float64' ? Array.from(vals) : dtype === 'float32' ? Array.from(Float32Array.from(vals)) : Array.from(vals, (v) => halfToFloat(floatToHalf(v)));
      expect(out.v).toEqual(expected);
    }
  });

  it('float16 rounding matches numpy bit for bit, including subnormals, ties and overflow', () => {
    const vals = [0, -0, 1, -1, 65504, 65520, 70000, 1e-8, 6e-8, 5.96e-8, 2 ** -24 * 1.5, 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, 1 / 3, -2.5e-5, Infinity, -Infinity, 3.14159];
    const ours = vals.map((v) => floatToHalf(v));
    const theirs = JSON.parse(python(`import numpy as np, json; print(json.dumps([int(x) for x in np.array(${JSON.stringify(vals.map((v) => (Object.is(v, -0) ? "-0.0" : String(v))))}, dtype=np.float64).astype(np.float32).astype(np.float16).view(np.uint16)]))`));
    expect(ours).toEqual(theirs);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
  });

  it('fromNpy and the npy source read numpy-written files (v1 and v2 headers, 3 float types)', async () => {
    for (const [dt, ver] of [['float32', '(1, 0)'], ['float64', '(2, 0)'], ['float16', '(1, 0)']] as const) {
      const p = join(dir, `np_${dt}.npy`);
      python(`import numpy as np
from numpy.lib import format as F
a = (np.arange(7*6, dtype=np.float64).reshape(7, 6) * 0.37 - 3).astype(np.${dt})
with open(${JSON.stringify(p)}, 'wb') as f: F.write_array(f, a, version=${ver})`);
      const arr = fromNpy(new Uint8Array(readFileSync(p)));
      expect(arr.shape).toEqual([7, 6]);
      expect(arr.dtype).toBe(dt);
      for (let i = 0; i < 42; i++) {
        const x = i * 0.37 - 3;
        const want = dt === 'float64' ? x : dt === 'float32' ? Math.fround(x) : halfToFloat(floatToHalf(x));
        expect(arr.data[i]).toBe(dt === 'float64' ? want : Math.fround(want));
      }
      const src = await fromNpyData(new Uint8Array(readFileSync(p)), { fragmentRows: 3 });
      expect(src.dim).toBe(6);
      expect(src.fragments()).toEqual([{ id: 0, numRows: 3 }, { id: 1, numRows: 3 }, { id: 2, numRows: 1 }]);
      const rows = await src.readRows(1, Uint32Array.of(0, 2));
      expect(Array.from(rows.data)).toEqual([...Array.from(arr.data.subarray(18, 24)), ...Array.from(arr.data.subarray(30, 36))].map(Math.fround));
    }
  });

  it('rejects bad npy input with expected/actual messages', async () => {
    expect(() => fromNpy(new Uint8Array([1, 2, 3]))).toThrow(/expected the magic/);
    const big = toNpy(new Float32Array(6), [2, 3]);
    expect(() => fromNpy(big.subarray(0, big.length - 1))).toThrow(/expected 88 bytes.*got 87|expected \d+ bytes/);
    expect(() => toNpy(new Float32Array(5), [2, 3])).toThrow(/expected 6 values.*got 5/);
    const p = join(dir, 'int.npy');
    python(`import numpy as np; np.save(${JSON.stringify(p)}, np.zeros((2, 3), dtype=np.int32))`);
    expect(() => fromNpy(new Uint8Array(readFileSync(p)))).toThrow(IvfkitError);
    await expect(fromNpyData(toNpy(new Float32Array(6), [6]))).rejects.toThrow(/expected 2-D.*got \(6\)/);
  });

  it('modelToNpyFiles: numpy sees centroids (k, d) and codebook (M, 2^bits, d/M) in [m][c][j] order', () => {
    const k = 4, d = 8, m = 2, ksub = 16;
    const r = lcg(3);
    const models: TrainedModels = {
      metric: 'cosine', dim: d,
      ivf: { centroids: Float32Array.from({ length: k * d }, r), numPartitions: k, loss: 1.5 },
      pq: { numSubVectors: m, numBits: 4, codebook: Float32Array.from({ length: m * ksub * (d / m) }, r) },
      sample: { rows: 100, dropped: 0 },
    };
    for (const dtype of ['float32', 'float16'] as const) {
      const files = modelToNpyFiles(models, { dtype });
      const sub = join(dir, `m_${dtype}`);
      rmSync(sub, { recursive: true, force: true });
      execFileSync('mkdir', ['-p', sub]);
      for (const [name, c] of Object.entries(files)) if (c !== undefined) writeFileSync(join(sub, name), c);
      const out = JSON.parse(python(`import numpy as np, json
c = np.load(${JSON.stringify(join(sub, 'ivf_centroids.npy'))}); b = np.load(${JSON.stringify(join(sub, 'pq_codebook.npy'))})
print(json.dumps({"cs": list(c.shape), "ct": str(c.dtype), "bs": list(b.shape), "bt": str(b.dtype), "c12": float(c[1, 2]), "b135": float(b[1, 3, 2]), "bflat": [float(x) for x in b.ravel()]}))`));
      expect(out.cs).toEqual([k, d]);
      expect(out.bs).toEqual([m, ksub, d / m]);
      expect(out.ct).toBe(dtype);
      expect(out.bt).toBe(dtype);
      const cv = (v: number) => (dtype === 'float16' ? halfToFloat(floatToHalf(v)) : v);
      expect(out.c12).toBe(cv(models.ivf.centroids[1 * d + 2]!));
      expect(out.b135).toBe(cv(models.pq!.codebook[(1 * ksub + 3) * (d / m) + 2]!));
      expect(out.bflat).toEqual(Array.from(models.pq!.codebook, cv));
      const params = JSON.parse(files['index_params.json']);
      expect(params).toMatchObject({ index_type: 'IVF_PQ', metric: 'cosine', num_partitions: k, num_sub_vectors: m, num_bits: 4 });
    }
  });
});

describe('writeModelFiles', () => {
  it('refuses options that would write nothing', async () => {
    const { writeModelFiles } = await import('../../src/node/files.js');
    const models = { metric: 'l2', dim: 2, ivf: { centroids: new Float32Array(4), numPartitions: 2 }, sample: { rows: 2, dropped: 0 } } as never;
    for (const opts of [{}, { out: '' }, { dtype: 'float16' }] as never[]) {
      await expect(writeModelFiles(models, opts)).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/^writeModelFiles options: expected out .* and\/or npyDir/) });
    }
  });
});
