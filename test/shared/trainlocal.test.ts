import { describe, expect, it } from 'vitest';
import { Field, FixedSizeList, Float32, RecordBatch, Schema, Struct, Table, makeData } from 'apache-arrow';
import { loadKernels } from '../../src/kernels/index.js';
import { deserializeSampleResult, deserializeSampleTask, serializeSampleResult, serializeSampleTask } from '../../src/distributed/serialize.js';
import { createSampleTasks, executeSampleTask, mergeSampleResults, trainFromSamples } from '../../src/distributed/protocol.js';
import { fromArrowTable, fromFloat32Array } from '../../src/sources/index.js';
import { TRAIN_DEFAULTS, trainLocal, type TrainParams } from '../../src/train/local.js';
import type { Progress, TrainedModels, VectorSource } from '../../src/types.js';
import { createRng } from '../../src/util/rng.js';
import { modelFromArrowIPC, modelToArrowIPC } from '../../src/model/io.js';

const kernels = await loadKernels();

/** Seeded Gaussian-ish mixture: `clusters` centres in [-5, 5)^dim plus uniform noise, shifted by `offset`. */
function mixture(n: number, dim: number, clusters: number, seed: number, offset = 0): Float32Array {
  const rng = createRng(seed, 31);
  const centres = Float32Array.from({ length: clusters * dim }, () => rng.next() * 10 - 5);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters);
    for (let j = 0; j < dim; j++) out[i * dim + j] = offset + centres[c * dim + j]! + (rng.next() + rng.next() + rng.next() - 1.5);
  }
  return out;
}

const bits = (a: Float32Array | undefined) => (a ? Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)) : undefined);
const same = (a: TrainedModels, b: TrainedModels) => {
  expect(bits(a.ivf.centroids)).toEqual(bits(b.ivf.centroids));
  expect(bits(a.pq?.codebook)).toEqual(bits(b.pq?.codebook));
  expect(a.sq).toEqual(b.sq);
  expect(Object.is(a.ivf.loss, b.ivf.loss)).toBe(true);
  expect(a.sample).toEqual(b.sample);
};

const dim = 16;
const data = mixture(3000, dim, 12, 1);
const source = fromFloat32Array(data, dim, { fragmentRows: 420 });
const base: TrainParams = { numPartitions: 8, sampleRate: 64, maxIters: 8, seed: 77, pq: { numSubVectors: 4, numBits: 4 }, kernels };

async function distributed(src: VectorSource, params: TrainParams, workers: number, wire = false): Promise<TrainedModels> {
  const tasks = createSampleTasks(await src.fragments(), workers, params);
  const results = await Promise.all(tasks.map(async (t) => {
    const task = wire ? deserializeSampleTask(serializeSampleTask(t)) : t;
    const r = await executeSampleTask(task, src, { kernels });
    return wire ? deserializeSampleResult(serializeSampleResult(r)) : r;
  }));
  return trainFromSamples(results.reverse(), params);
}

describe('trainLocal', () => {
  it('is deterministic for a seed and changes with the seed', async () => {
    const a = await trainLocal(source, base);
    const b = await trainLocal(source, base);
    same(a, b);
    expect(a.ivf.centroids.length).toBe(8 * dim);
    expect(a.pq!.codebook.length).toBe(16 * dim);
    expect(a.sample).toEqual({ rows: 512, dropped: 0, quant: { rows: 1024, dropped: 0 } });   // 8 × 64 and 2^4 × 64
    const c = await trainLocal(source, { ...base, seed: 78 });
    expect(bits(c.ivf.centroids)).not.toEqual(bits(a.ivf.centroids));
  });

  it('seeds from 2^32 up to 2^53 (Date.now(), 64-bit ids) give models of their own, not those of their low 32 bits folded', async () => {
    const ivf = async (seed: number) => bits((await trainLocal(source, { ...base, pq: undefined, seed })).ivf.centroids);
    const pairs: [number, number][] = [[2 ** 33 + 7, 5], [2 ** 32, 1], [2 ** 32 + 77, 77], [Number.MAX_SAFE_INTEGER, 2 ** 21 - 1]];
    for (const [big, small] of pairs) expect(await ivf(big), `seed ${big} against ${small}`).not.toEqual(await ivf(small));
    expect(await ivf(2 ** 40 + 3)).toEqual(await ivf(2 ** 40 + 3));
  });

  for (const metric of ['l2', 'cosine', 'dot'] as const) {
    it(`equals the distributed path bit for bit with any number of workers (${metric})`, async () => {
      const params: TrainParams = { ...base, metric };
      const local = await trainLocal(source, params);
      for (const w of [2, 3, 8]) same(await distributed(source, params, w, w === 3), local);
      const sq = await trainLocal(source, { ...params, pq: undefined, sq: {} });
      same(await distributed(source, { ...params, pq: undefined, sq: {} }, 5), sq);
    });
  }

  it('gives the same bits on a worker pool (threads: 2) as on one thread', async () => {
    for (const metric of ['l2', 'cosine'] as const) {
      const params: TrainParams = { ...base, metric };
      same(await trainLocal(source, { ...params, threads: 2 }), await trainLocal(source, params));
    }
  });

  it('trains the same model from an Arrow table (record batches = fragments) as from the array; null rows count as dropped', async () => {
    const batch = (lo: number, hi: number, nullRow = -1) => {
      const type = new FixedSizeList(dim, new Field('item', new Float32(), false));
      const rows = hi - lo;
      const bitmap = new Uint8Array(Math.ceil(rows / 8)).fill(255);
      if (nullRow >= 0) bitmap[nullRow >> 3]! &= ~(1 << (nullRow & 7));
      const emb = makeData({ type, length: rows, nullCount: nullRow >= 0 ? 1 : 0, nullBitmap: bitmap,
        child: makeData({ type: new Float32(), length: rows * dim, data: data.slice(lo * dim, hi * dim) }) });
      const fields = [new Field('emb', type, true)];
      return new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: [emb] }));
    };
    const cuts = Array.from({ length: 8 }, (_, i) => [i * 420, Math.min(3000, (i + 1) * 420)] as const);
    const table = new Table(cuts.map(([lo, hi]) => batch(lo, hi)));
    same(await trainLocal(fromArrowTable(table), base), await trainLocal(source, base));
    const withNulls = new Table(cuts.map(([lo, hi]) => batch(lo, hi, 3)));
    const all = await trainLocal(fromArrowTable(withNulls), { ...base, sampleRate: 1000, pq: undefined });
    expect(all.sample).toEqual({ rows: 2992, dropped: 8 });
  });

  it('leaves the caller\'s rows and sample results as they were (trainLocal turns only its own sample into residuals), with the same bits either way', async () => {
    const dim = 8;
    const data = mixture(3000, dim, 12, 5);
    data[17 * dim + 3] = NaN;
    const before = data.slice();
    for (const metric of ['l2', 'cosine'] as const) {
      // Every row sampled, both samples the same rows: the in-memory source's view is read, PQ residuals are made in place.
      const params: TrainParams = { numPartitions: 8, sampleRate: 512, maxIters: 4, seed: 4, metric, threads: 1, pq: { numSubVectors: 4, numBits: 8 } };
      const source = fromFloat32Array(data, dim, { fragmentRows: 1000 });
      const local = await trainLocal(source, { ...params, kernels });
      expect(data, metric).toEqual(before);
      const [task] = createSampleTasks(await source.fragments(), 1, params);
      const result = await executeSampleTask(task!, source, { kernels });
      const rows = { ivf: result.ivf.slice(), quant: result.quant.slice() };
      const viaResults = await trainFromSamples([result], { ...params, kernels });
      expect(result.ivf, metric).toEqual(rows.ivf);
      expect(result.quant, metric).toEqual(rows.quant);
      expect(viaResults.ivf.centroids, metric).toEqual(local.ivf.centroids);
      expect(viaResults.pq!.codebook, metric).toEqual(local.pq!.codebook);
    }
  });

  it('trains PQ on residuals for l2 and cosine, on raw vectors for dot; SQ bounds are the quantizer sample min/max', async () => {
    const shifted = fromFloat32Array(mixture(2000, dim, 6, 2, 100), dim);
    const l2 = await trainLocal(shifted, base);
    const dot = await trainLocal(shifted, { ...base, metric: 'dot' });
    const maxAbs = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(maxAbs(l2.pq!.codebook)).toBeLessThan(10);
    expect(Math.min(...dot.pq!.codebook)).toBeGreaterThan(90);
    const params = { ...base, pq: undefined, sq: {} };
    const sq = await trainLocal(shifted, params);
    const [task] = createSampleTasks(await shifted.fragments(), 1, params);
    const merged = mergeSampleResults([await executeSampleTask(task!, shifted, { kernels })]);
    const b = kernels.sqBounds(merged.quant, dim);
    expect(sq.sq).toEqual({ numBits: 8, lower: b.lower, upper: b.upper });
    expect(sq.sq!.lower).toBeGreaterThan(90);
  });

  it('drops and counts zero vectors under cosine and NaN rows, without topping up', async () => {
    const d = data.slice(0, 600 * dim);
    for (let i = 0; i < 600; i += 10) d.fill(0, i * dim, i * dim + dim);
    d[5 * dim + 3] = NaN;
    const src = fromFloat32Array(d, dim, { fragmentRows: 100 });
    const cos = await trainLocal(src, { ...base, pq: undefined, metric: 'cosine', sampleRate: 1000 });
    expect(cos.sample).toEqual({ rows: 539, dropped: 61 });
    const l2 = await trainLocal(src, { ...base, pq: undefined, sampleRate: 1000 });
    expect(l2.sample).toEqual({ rows: 599, dropped: 1 });
    for (const v of cos.ivf.centroids) expect(Number.isFinite(v)).toBe(true);
  });

  it('counts the quantizer sample apart (PQ and SQ): its rows and dropped rows, as executeSampleTask does; kept by the model file', async () => {
    const d = data.slice();
    for (let i = 0; i < 3000; i += 30) d[i * dim + 5] = NaN;                    // 100 rows
    const src = fromFloat32Array(d, dim, { fragmentRows: 420 });
    for (const q of [{ pq: { numSubVectors: 4, numBits: 8 as const } }, { pq: undefined, sq: {} }]) {
      const params = { ...base, ...q };
      const m = await trainLocal(src, params);
      const merged = mergeSampleResults(await Promise.all(createSampleTasks(await src.fragments(), 3, params).map((t) => executeSampleTask(t, src, { kernels }))));
      expect(m.sample).toEqual({ rows: merged.ivfRows, dropped: merged.ivfDropped, quant: { rows: merged.quantRows, dropped: merged.quantDropped } });
      expect(m.sample.quant).toEqual({ rows: 2900, dropped: 100 });              // 8-bit PQ and SQ sample every row here
      expect(m.sample.rows).toBeLessThan(2900);
      expect(modelFromArrowIPC(modelToArrowIPC(m)).sample).toEqual(m.sample);
    }
    const ivfOnly = await trainLocal(src, { ...base, pq: undefined });
    expect(ivfOnly.sample.quant).toBeUndefined();
    expect(modelFromArrowIPC(modelToArrowIPC(ivfOnly)).sample).toEqual(ivfOnly.sample);
  });

  it('reports the sample stage first, then training stages', async () => {
    const stages: string[] = [];
    await trainLocal(source, { ...base, onProgress: (p: Progress) => stages.push(p.stage) });
    expect(stages[0]).toBe('sample');
    expect(stages.filter((s) => s === 'sample').length).toBe(8);
    expect(stages.some((s) => s !== 'sample')).toBe(true);
    expect(stages.lastIndexOf('sample')).toBeLessThan(stages.findIndex((s) => s !== 'sample'));
  });

  it('opens the PQ stage with iteration 0 (before the residuals), then reports PQ iterations 1, 2, …', async () => {
    const events: Progress[] = [];
    await trainLocal(source, { ...base, onProgress: (p: Progress) => events.push(p) });
    const first = events.findIndex((p) => p.stage === 'pq');
    expect(events[first]).toEqual({ stage: 'pq', iteration: 0, maxIters: base.pq!.maxIters ?? base.maxIters ?? 50, fraction: 0 });
    expect(events.slice(first + 1).some((p) => p.stage !== 'pq')).toBe(false);
    expect(events.slice(0, first).some((p) => p.stage.startsWith('ivf'))).toBe(true);
    const its = events.slice(first, -1).map((p) => p.iteration);
    expect(its).toEqual(its.map((_, i) => i));
    // Both stages end with fraction 1 (IVF just before PQ opens, PQ last).
    expect(events[first - 1]).toEqual({ stage: 'ivf', fraction: 1 });
    expect(events.at(-1)).toEqual({ stage: 'pq', fraction: 1 });
  });

  it('warns through the logger when the merged sample exceeds the memory budget', async () => {
    const warnings: string[] = [];
    await trainLocal(source, { ...base, memoryBudget: 1000, logger: { warn: (m) => warnings.push(m) } });
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/above memoryBudget 1000.*partial-stats/);
  });

  it('warns through the logger when more than 10 % of the IVF partitions end empty (fewer distinct rows than partitions), and only then', async () => {
    const few = new Float32Array(3000 * dim);
    for (let i = 0; i < 3000; i++) few.set(data.subarray((i % 5) * dim, (i % 5 + 1) * dim), i * dim);
    const { pq: _, ...noPq } = base;
    const warnings: string[] = [];
    const models = await trainLocal(fromFloat32Array(few, dim, { fragmentRows: 420 }), { ...noPq, logger: { warn: (m) => warnings.push(m) } });
    expect(models.ivf.centroids.length).toBe(8 * dim);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^ivfkit: IVF k-means: [3-7] of 8 partitions had no rows in its last iteration \(more than 10 %; each was then split from a large one; \d+ iterations\): either the training rows hold fewer distinct vectors than numPartitions, or k-means stopped before the split partitions settled/);
    const none: string[] = [];
    await trainLocal(source, { ...base, logger: { warn: (m) => none.push(m) } });
    expect(none).toEqual([]);
  });

  it('tolerance: default 1e-4 (Lance), 0 runs every IVF and PQ iteration, a loose one (0.5) stops both earlier; local == distributed', async () => {
    expect(TRAIN_DEFAULTS.tolerance).toBe(1e-4);
    const lastIter = async (params: TrainParams) => {
      const last: Record<string, number> = {};
      const models = await trainLocal(source, { ...params, onProgress: (p: Progress) => { if (p.iteration !== undefined) last[p.stage] = p.iteration; } });
      return { models, last };
    };
    const p = { ...base, maxIters: 30, pq: { numSubVectors: 4, numBits: 4 as const } };
    const dflt = await lastIter(p);
    const explicit = await lastIter({ ...p, tolerance: 1e-4 });
    same(dflt.models, explicit.models);
    expect(explicit.last).toEqual(dflt.last);
    const all = await lastIter({ ...p, tolerance: 0 });
    expect(all.last).toEqual({ ivf: 30, pq: 30 });
    const loose = await lastIter({ ...p, tolerance: 0.5 });
    expect(loose.last.ivf).toBeLessThan(dflt.last.ivf!);
    expect(loose.last.pq).toBeLessThan(dflt.last.pq!);
    expect(dflt.last.ivf).toBeLessThan(30);
    expect(bits(loose.models.ivf.centroids)).not.toEqual(bits(all.models.ivf.centroids));
    same(await distributed(source, { ...p, tolerance: 0.5 }, 3, true), loose.models);
  });

  it('refineIters (k > 256): the number of Lloyd passes after the hierarchical splits; 0 keeps the splits; local == distributed', async () => {
    const x = mixture(6000, 8, 40, 5);
    const src = fromFloat32Array(x, 8, { fragmentRows: 1000 });
    const p: TrainParams = { numPartitions: 300, sampleRate: 20, maxIters: 10, seed: 3, kernels, logger: { warn: () => {} } };
    const passes = async (params: TrainParams) => {
      let n = 0;
      const models = await trainLocal(src, { ...params, onProgress: (q: Progress) => { if (q.stage === 'ivf' && q.iteration !== undefined) n++; } });
      expect(models.ivf.centroids.length).toBe(300 * 8);
      expect(models.ivf.centroids.every(Number.isFinite)).toBe(true);
      return { models, n };
    };
    const dflt = await passes(p), none = await passes({ ...p, refineIters: 0 }), two = await passes({ ...p, refineIters: 2 });
    expect([dflt.n, none.n, two.n]).toEqual([5, 0, 2]);
    same(await passes({ ...p, refineIters: 5 }).then((r) => r.models), dflt.models);
    expect(bits(none.models.ivf.centroids)).not.toEqual(bits(two.models.ivf.centroids));
    expect(two.models.ivf.loss).toBeLessThan(none.models.ivf.loss);
    same(await distributed(src, { ...p, refineIters: 2 }, 3, true), two.models);
    await expect(trainLocal(src, { ...p, refineIters: -1 })).rejects.toThrow('refineIters: expected an integer ≥ 0, got -1');
  });

  it('rejects a tolerance that is not a finite number ≥ 0', async () => {
    for (const bad of [-1e-9, NaN, Infinity, '1e-4' as unknown as number]) {
      await expect(trainLocal(source, { ...base, tolerance: bad })).rejects.toThrow(`tolerance: expected a finite number ≥ 0, got ${typeof bad === 'string' ? JSON.stringify(bad) : String(bad)}`);
      const results = await Promise.all(createSampleTasks(await source.fragments(), 1, base).map((t) => executeSampleTask(t, source, { kernels })));
      await expect(trainFromSamples(results, { ...base, tolerance: bad })).rejects.toThrow(/tolerance: expected a finite number ≥ 0/);
    }
  });

  it('rejects bad input with expected and actual values', async () => {
    const small = fromFloat32Array(data.slice(0, 5 * dim), dim);
    await expect(trainLocal(small, { numPartitions: 6, kernels })).rejects.toThrow(/expected at least numPartitions 6, got 5/);
    await expect(trainLocal(source, { ...base, pq: { numSubVectors: 5 } })).rejects.toThrow(/expected a divisor of dim 16, got 5/);
    await expect(trainLocal(source, { ...base, pq: { numSubVectors: 3, numBits: 4 } })).rejects.toThrow(/expected an even number, got 3/);
    await expect(trainLocal(source, { ...base, maxIters: 0 })).rejects.toThrow(/maxIters: expected an integer ≥ 1, got 0/);
    await expect(trainLocal(source, { ...base, dim: 8 })).rejects.toThrow(/dim: expected 8 \(params\), got 16 \(source\)/);
    await expect(trainLocal(fromFloat32Array(new Float32Array(0), dim), base)).rejects.toThrow(/at least one fragment with rows to sample, got none/);
    const nan = fromFloat32Array(new Float32Array(40 * dim).fill(NaN), dim);
    await expect(trainLocal(nan, { numPartitions: 2, kernels })).rejects.toThrow(/expected finite rows, got 0 \(40 rows dropped/);
    const tooFewPq = fromFloat32Array(data.slice(0, 100 * dim), dim);
    await expect(trainLocal(tooFewPq, { numPartitions: 4, pq: { numSubVectors: 4 }, kernels })).rejects.toThrow(/PQ sample rows: expected at least 2\^8 = 256, got 100/);
    const tasks = createSampleTasks(await source.fragments(), 2, base);
    const results = await Promise.all(tasks.map((t) => executeSampleTask(t, source, { kernels })));
    await expect(trainFromSamples(results, { ...base, numPartitions: 9 })).rejects.toThrow(/sample targets 576\/1024 \(from params\), got .* targets 512\/1024/);
    await expect(trainFromSamples(results.slice(1), base)).rejects.toThrow(/missing tasks \[0\]/);
    // Values of the wrong type (configuration read from JSON or the environment) show as what they are.
    await expect(trainLocal(source, { ...base, numPartitions: '8' as unknown as number })).rejects.toThrow(/numPartitions: expected a positive integer, got "8"/);
    await expect(trainLocal(source, { ...base, pq: { numSubVectors: 4, numBits: '8' as unknown as 8 } })).rejects.toThrow(/pq.numBits: expected 8 or 4, got "8"/);
    await expect(trainLocal(source, { ...base, maxIters: '8' as unknown as number })).rejects.toThrow(/maxIters: expected an integer ≥ 1, got "8"/);
    // A misplaced or misspelt option is refused, not ignored (it would train without what it meant).
    await expect(trainLocal(source, { ...base, pq: undefined, numSubVectors: 4 } as TrainParams)).rejects.toThrow(/^params\.numSubVectors: expected one of .*, got an unknown option \(pq\.numSubVectors goes inside pq: \{ numSubVectors: … \}\)$/);
    await expect(trainLocal(source, { ...base, pq: { numSubVectors: 4, bits: 4 } } as unknown as TrainParams)).rejects.toThrow(/^params\.pq\.bits: expected one of numSubVectors, numBits, maxIters, got an unknown option$/);
    await expect(trainLocal(source, { ...base, maxIter: 3 } as TrainParams)).rejects.toMatchObject({ code: 'invalid-argument' });
    // The exported defaults spread into params (they carry sqBits and pqBits) are taken.
    expect((await trainLocal(source, { ...TRAIN_DEFAULTS, numPartitions: 4, maxIters: 2, kernels })).ivf.numPartitions).toBe(4);
    await expect(trainLocal(source, { ...base, logger: {} as { warn(m: string): void } })).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/^logger: expected an object with a warn\(message\) method/) });
  });

  it('warns when the rows share an offset far larger than their spread (f32 distances blur there), and not at offset 0', async () => {
    const rng = createRng(43);
    const noise = Float32Array.from({ length: 20_000 * dim }, () => rng.next() * 2 - 1);
    const { pq: _, ...noPq } = base;
    // 3,000 rows: every row checked; 20,000 rows: every second one (the check looks at 8,192 rows at most).
    for (const [offset, warned, rows] of [[100, true, 3000], [0, false, 3000], [100, true, 20_000], [0, false, 20_000]] as const) {
      const warnings: string[] = [];
      await trainLocal(fromFloat32Array(noise.subarray(0, rows * dim).map((v) => v + offset), dim),
        { ...noPq, sampleRate: 4096, maxIters: 2, threads: 1, logger: { warn: (m) => warnings.push(m) } });
      expect(warnings.filter((w) => /share an offset \d+ times their spread .* subtract the mean vector/.test(w)).length, `offset ${offset}`).toBe(warned ? 1 : 0);
    }
  });

  it("the empty-partition warning for metric 'dot' names dot k-means' pull towards long rows", async () => {
    const rng = createRng(41);
    // Non-negative rows (pixels, counts) of different norms: 1 − x·c sends most rows to the longest centroids.
    const x = new Float32Array(4000 * dim);
    for (let i = 0; i < 4000; i++) { const len = 0.5 + 3 * rng.next(); for (let j = 0; j < dim; j++) x[i * dim + j] = rng.next() * len; }
    const warnings: string[] = [];
    const { pq: _, ...noPq } = base;
    await trainLocal(fromFloat32Array(x, dim), { ...noPq, metric: 'dot', numPartitions: 16, maxIters: 20, logger: { warn: (m) => warnings.push(m) } });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/partitions had no rows .*with metric 'dot' the rows of largest norm draw the partitions/);
  });
});
