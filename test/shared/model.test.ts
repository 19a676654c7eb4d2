import { describe, expect, it } from 'vitest';
import { Field, FixedSizeList, Float32, Table, makeData, makeVector, tableFromIPC, tableToIPC } from 'apache-arrow';
import { createReferenceKernels } from '../../src/kernels/index.js';
import {
  assignPartitions, encodePq, encodeSq, evaluateRecall, createRecallEvaluator, exactTopK, modelFromArrowIPC, modelToArrowIPC,
} from '../../src/model/index.js';
import type { TrainedModels } from '../../src/types.js';
import { IvfkitError } from '../../src/util/errors.js';
import { createRng } from '../../src/util/rng.js';

const kernels = createReferenceKernels();

function randomData(n: number, dim: number, seed = 1): Float32Array {
  const rng = createRng(seed, 77);
  return Float32Array.from({ length: n * dim }, () => rng.next() * 2 - 1);
}

function modelOf(base: Float32Array, dim: number, k: number, extra: Partial<TrainedModels> = {}): TrainedModels {
  return { metric: 'l2', dim, ivf: { centroids: base.slice(0, k * dim), numPartitions: k, loss: 0.1 + 1e-12 }, sample: { rows: 123, dropped: 4 }, ...extra };
}

function pqOf(dim: number, m: number, bits: 4 | 8, seed = 3) {
  return { numSubVectors: m, numBits: bits, codebook: randomData(2 ** bits, dim, seed) };
}

describe('model file (Arrow IPC)', () => {
  it('round-trips every model shape exactly', () => {
    const dim = 8;
    const base = randomData(40, dim);
    const shapes: TrainedModels[] = [
      modelOf(base, dim, 5),
      modelOf(base, dim, 5, { metric: 'cosine', pq: pqOf(dim, 4, 8) }),
      modelOf(base, dim, 3, { metric: 'dot', pq: pqOf(dim, 2, 4) }),
      modelOf(base, dim, 4, { sq: { numBits: 8, lower: -0.7071067690849304, upper: 1 / 3 }, ivf: { centroids: base.slice(0, 32), numPartitions: 4, loss: NaN } }),
    ];
    for (const m of shapes) {
      const bytes = modelToArrowIPC(m);
      const back = modelFromArrowIPC(bytes);
      expect(back).toEqual(m);
      expect(modelFromArrowIPC(bytes.slice().buffer)).toEqual(m);    // an ArrayBuffer (as fetch gives) reads the same
      expect(Object.is(back.ivf.loss, m.ivf.loss)).toBe(true);
      expect(back.ivf.centroids.buffer).not.toBe(bytes.buffer);
      const t = tableFromIPC(bytes);
      expect(t.schema.metadata.get('distance_type')).toBe(m.metric);
      expect(t.numRows).toBe(m.ivf.numPartitions + (m.pq ? 2 ** m.pq.numBits : 0));
    }
  });
  it('rejects truncated, foreign, newer and malformed files', () => {
    const m = modelOf(randomData(10, 4), 4, 2, { pq: pqOf(4, 2, 4) });
    const bytes = modelToArrowIPC(m);
    expect(() => modelFromArrowIPC(bytes.subarray(0, bytes.length - 9))).toThrow(/truncated/);
    expect(() => modelFromArrowIPC(bytes.subarray(0, 100))).toThrow(IvfkitError);
    expect(() => modelFromArrowIPC(new TextEncoder().encode('{"not": "arrow"}'))).toThrow(/expected an Arrow IPC file/);
    const child = makeData({ type: new Float32(), length: 4, data: new Float32Array(4) });
    const foreign = new Table({ emb: makeVector(makeData({ type: new FixedSizeList(2, new Field('item', new Float32(), false)), length: 2, nullCount: 0, child })) });
    expect(() => modelFromArrowIPC(tableToIPC(foreign, 'file'))).toThrow(/not an ivfkit model/);
    const newer = tableFromIPC(bytes);
    newer.schema.metadata.set('ivfkit.format_version', '2');
    expect(() => modelFromArrowIPC(tableToIPC(newer, 'file'))).toThrow(/expected ≤ 1, got 2 \(written by a newer ivfkit\)/);
    const wrongRows = tableFromIPC(bytes);
    wrongRows.schema.metadata.set('ivfkit.num_partitions', '3');
    expect(() => modelFromArrowIPC(tableToIPC(wrongRows, 'file'))).toThrow(/expected 3 centroids \+ 16 codebook rows = 19, got 18/);
    expect(() => modelToArrowIPC({ ...m, ivf: { ...m.ivf, numPartitions: 3 } })).toThrow(/expected numPartitions 3 × dim 4 = 12, got 8/);
  });
});

describe('encode', () => {
  it('assigns partitions by L2, cosine (scale-free) and dot', async () => {
    const dim = 6;
    const data = randomData(200, dim, 2);
    const m = modelOf(randomData(8, dim, 9), dim, 8);
    const idx = await assignPartitions(m, data, { kernels });
    for (let i = 0; i < 200; i++) {
      const d = kernels.l2Many(data.subarray(i * dim, i * dim + dim), m.ivf.centroids, dim);
      expect(idx[i]).toBe(d.indexOf(Math.min(...d)));
    }
    const cos = { ...m, metric: 'cosine' as const };
    const scaled = data.map((v, i) => v * (1 + (Math.floor(i / dim) % 7)));
    expect(await assignPartitions(cos, scaled, { kernels })).toEqual(await assignPartitions(cos, data, { kernels }));
    const dot = await assignPartitions({ ...m, metric: 'dot' }, data, { kernels });
    for (let i = 0; i < 200; i++) {
      const d = kernels.dotMany(data.subarray(i * dim, i * dim + dim), m.ivf.centroids, dim);
      expect(dot[i]).toBe(d.indexOf(Math.max(...d)));
    }
    await expect(assignPartitions(m, new Float32Array(7), { kernels })).rejects.toThrow(/multiple of dim 6, got 7/);
  });
  it('PQ-encodes residuals for l2 and raw rows for dot, 4-bit packed low nibble first', async () => {
    const dim = 8;
    const data = randomData(50, dim, 4);
    const pq = pqOf(dim, 4, 4, 5);
    const m = modelOf(randomData(3, dim, 6), dim, 3, { pq });
    const part = await assignPartitions(m, data, { kernels });
    const codes = await encodePq(m, data, { kernels });
    const raw = await encodePq({ ...m, metric: 'dot' }, data, { kernels });
    expect(codes.length).toBe(50 * 2);
    for (let i = 0; i < 50; i++) {
      for (let s = 0; s < 4; s++) {
        const sub = (x: Float32Array) => x.subarray(s * 2, s * 2 + 2);
        const row = data.slice(i * dim, i * dim + dim);
        const resid = row.map((v, j) => v - m.ivf.centroids[part[i]! * dim + j]!);
        const cb = pq.codebook.subarray(s * 16 * 2, (s + 1) * 16 * 2);
        const best = (v: Float32Array) => { const d = kernels.l2Many(sub(v), cb, 2); return d.indexOf(Math.min(...d)); };
        const nib = (c: Uint8Array) => (c[i * 2 + (s >> 1)]! >> ((s & 1) * 4)) & 15;
        expect(nib(codes)).toBe(best(resid));
        expect(nib(raw)).toBe(best(row));
      }
    }
    await expect(encodePq(modelOf(data, dim, 2), data, { kernels })).rejects.toThrow(/expected a PQ model, got none/);
  });
  it('SQ-encodes with truncation, clamping and NaN → 0 (Lance), normalizing for cosine', async () => {
    const m = modelOf(new Float32Array(5), 5, 1, { sq: { numBits: 8, lower: 0, upper: 3 } });
    expect(Array.from(await encodeSq(m, Float32Array.of(0, 1, 2, 3, NaN), { kernels }))).toEqual([0, 85, 170, 255, 0]);
    expect(Array.from(await encodeSq(m, Float32Array.of(-1, 4, 1.5, 2.99, 0.01), { kernels }))).toEqual([0, 255, 127, 254, 0]);
    const cos = { ...m, metric: 'cosine' as const, sq: { numBits: 8 as const, lower: -1, upper: 1 } };
    const x = Float32Array.of(3, 0, 0, 4, 0);
    expect(await encodeSq(cos, x, { kernels })).toEqual(kernels.sqEncode(kernels.normalize(x, 5), -1, 1));
  });
});

describe('evaluateRecall', () => {
  const dim = 8;
  const base = randomData(600, dim, 10);
  const queries = randomData(30, dim, 11);

  it('exactTopK matches a full sort', () => {
    const gt = exactTopK(base, queries, dim, 'l2', 5, kernels);
    for (let q = 0; q < 30; q++) {
      const d = kernels.l2Many(queries.subarray(q * dim, q * dim + dim), base, dim);
      const order = Array.from(d.keys()).sort((a, b) => d[a]! - d[b]! || a - b).slice(0, 5);
      expect(Array.from(gt.subarray(q * 5, q * 5 + 5))).toEqual(order);
    }
  });
  it('exactTopK in chunks (over 1,024 queries, over 4,096 rows per call): a full sort per query, l2 and dot', () => {
    const d = 4, n = 5000, nq = 1100, k = 3;
    const b = randomData(n, d, 21), qs = randomData(nq, d, 22);
    b.fill(NaN, 7 * d, 8 * d);                                  // a NaN row never appears
    for (const metric of ['l2', 'dot'] as const) {
      const gt = exactTopK(b, qs, d, metric, k, kernels);
      for (const q of [0, 1, 511, 1023, 1024, 1099]) {
        const one = qs.subarray(q * d, q * d + d);
        const v = metric === 'l2' ? kernels.l2Many(one, b, d) : kernels.dotMany(one, b, d).map((x) => -x);
        const order = Array.from(v.keys()).filter((i) => !Number.isNaN(v[i]!)).sort((x, y) => v[x]! - v[y]! || x - y).slice(0, k);
        expect(Array.from(gt.subarray(q * k, q * k + k)), `${metric} query ${q}`).toEqual(order);
      }
    }
  });

  it('createRecallEvaluator: one index, the reports of evaluateRecall for every nprobes, metric and quantizer; bad input', async () => {
    const cent = randomData(12, dim, 13);
    const pqModel = { ...modelOf(cent, dim, 12), pq: { numSubVectors: 4, numBits: 8 as const, codebook: randomData(4 * 256, 2, 14) } };
    const sqModel = { ...modelOf(cent, dim, 12), sq: { numBits: 8 as const, lower: -3, upper: 3 } };
    for (const metric of ['l2', 'cosine', 'dot'] as const) {
      for (const m of [modelOf(cent, dim, 12), pqModel, sqModel].map((x) => ({ ...x, metric }))) {
        const ev = await createRecallEvaluator(m, base, { kernels });
        for (const nprobes of [1, 3, 12]) {
          const want = await evaluateRecall(m, base, queries, { k: 7, nprobes, kernels });
          const got = await ev.evaluate(queries, { k: 7, nprobes });
          expect(got.recall, `${metric} ${got.index} nprobes ${nprobes}`).toBe(want.recall);
          expect(Array.from(got.perQuery)).toEqual(Array.from(want.perQuery));
          expect({ ...got, perQuery: 0 }).toEqual({ ...want, perQuery: 0 });
        }
      }
    }
    const ev = await createRecallEvaluator(modelOf(cent, dim, 12), base, { kernels });
    await expect(ev.evaluate(new Float32Array(0))).rejects.toThrow(/queries: expected at least one row, got 0/);
    await expect(ev.evaluate(queries, { nprobes: 0 })).rejects.toThrow(/nprobes: expected a positive integer, got 0/);
    await expect(ev.evaluate(queries.subarray(1))).rejects.toThrow(/queries/);
    await expect(createRecallEvaluator(modelOf(cent, dim, 12), new Float32Array(0), { kernels })).rejects.toThrow(/base: expected at least one row, got 0/);
    // Values whose squared norms overflow f32 distances: out-of-range, for base rows and queries; cosine normalizes them.
    const limit = Math.sqrt(3.4028234663852886e38 / (2 * dim));
    const huge = base.map((v, i) => (i === 5 ? limit * 1.5 : v));
    const err = await createRecallEvaluator(modelOf(cent, dim, 12), huge, { kernels }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(IvfkitError);
    expect((err as IvfkitError).code).toBe('out-of-range');
    expect((err as Error).message).toContain(`largest |value| of the ${dim}-value base rows and centroids: expected at most ${limit.toPrecision(3)}`);
    await expect(ev.evaluate(queries.map((v, i) => (i === 0 ? -limit * 2 : v)))).rejects.toThrow(/largest \|value\| of the \d+-value queries: expected at most/);
    const cos = await createRecallEvaluator({ ...modelOf(cent, dim, 12), metric: 'cosine' }, huge, { kernels });
    expect((await cos.evaluate(queries, { k: 3, nprobes: 12 })).recall).toBeGreaterThan(0);
  });

  it('is 1 for IVF-flat probing every partition, lower with one probe, for every metric', async () => {
    for (const metric of ['l2', 'cosine', 'dot'] as const) {
      const m = { ...modelOf(randomData(12, dim, 12), dim, 12), metric };
      const all = await evaluateRecall(m, base, queries, { k: 10, nprobes: 12, kernels });
      expect(all.recall).toBe(1);
      expect(all.index).toBe('ivf_flat');
      expect(all.meanCandidates).toBe(600);
      const one = await evaluateRecall(m, base, queries, { k: 10, nprobes: 1, kernels });
      expect(one.recall).toBeLessThan(0.9);
      expect(one.meanCandidates).toBeLessThan(400);
      expect(one.perQuery.length).toBe(30);
    }
  });
  it('a query with no exact neighbour (NaN, or zero under cosine) is unscored: NaN in perQuery, out of recall, counted', async () => {
    const q = queries.slice();
    q.fill(NaN, 0, dim);                                                    // query 0: NaN
    const m = { ...modelOf(randomData(12, dim, 12), dim, 12), metric: 'cosine' as const };
    q.fill(0, 2 * dim, 3 * dim);                                            // query 2: zero, under cosine
    const got = await evaluateRecall(m, base, q, { k: 10, nprobes: 12, kernels });
    expect(got.unscored).toBe(2);
    expect([got.perQuery[0], got.perQuery[2]]).toEqual([NaN, NaN]);
    expect(got.recall).toBe(1);
    expect(Array.from(got.perQuery).filter((v) => !Number.isNaN(v)).every((v) => v === 1)).toBe(true);
    expect((await evaluateRecall(m, base, queries, { k: 10, nprobes: 12, kernels })).unscored).toBe(0);
  });
  it('scores PQ and SQ codes: recall improves with a finer quantizer', async () => {
    const sqM = modelOf(randomData(4, dim, 13), dim, 4, { sq: { numBits: 8, lower: -1, upper: 1 } });
    const sq = await evaluateRecall(sqM, base, queries, { k: 10, nprobes: 4, kernels });
    expect(sq.index).toBe('ivf_sq');
    expect(sq.recall).toBeGreaterThan(0.85);
    const coarse = await evaluateRecall({ ...sqM, sq: { numBits: 8, lower: -40, upper: 40 } }, base, queries, { k: 10, nprobes: 4, kernels });
    expect(coarse.recall).toBeLessThan(sq.recall);
    // PQ whose codebook is the base rows themselves at M = 1: each base row encodes exactly → recall 1
    const pqExact = modelOf(randomData(1, dim, 14).fill(0), dim, 1, { pq: { numSubVectors: 1, numBits: 8, codebook: base.slice(0, 256 * dim) } });
    const sub = base.slice(0, 256 * dim);
    const r = await evaluateRecall(pqExact, sub, queries, { k: 10, nprobes: 1, kernels });
    expect(r.index).toBe('ivf_pq');
    expect(r.recall).toBe(1);
    const rDot = await evaluateRecall({ ...pqExact, metric: 'dot' }, sub, queries, { k: 10, nprobes: 1, kernels });
    expect(rDot.recall).toBe(1);
    const rough = await evaluateRecall({ ...pqExact, pq: pqOf(dim, 2, 4, 15) }, sub, queries, { k: 10, nprobes: 1, kernels });
    expect(rough.recall).toBeLessThan(0.8);
  });
  it('validates its arguments', async () => {
    const m = modelOf(base, dim, 2);
    await expect(evaluateRecall(m, base, queries, { k: 0, kernels })).rejects.toThrow(/k: expected a positive integer, got 0/);
    await expect(evaluateRecall(m, base, new Float32Array(5), { kernels })).rejects.toThrow(/queries length: expected a multiple of dim 8, got 5/);
    await expect(evaluateRecall(m, base, queries, { kernels, groundTruth: new Int32Array(3) })).rejects.toThrow(/expected queries 30 × k 10 = 300, got 3/);
  });
});
