import { describe, expect, it } from 'vitest';
import { createReferenceKernels } from '../../src/kernels/index.js';
import { fromFloat32Array } from '../../src/sources/index.js';
import {
  SAMPLE_FORMAT_VERSION, createSampleTasks, executeSampleTask, fragmentOffsets, planQuotas, readFragmentSample, validateFragments,
  type SampleResult,
} from '../../src/train/sample.js';
import type { FragmentInfo, VectorSource } from '../../src/types.js';
import { IvfkitError } from '../../src/util/errors.js';
import { STREAM, createRng } from '../../src/util/rng.js';

const kernels = createReferenceKernels();

function randomData(n: number, dim: number, seed = 1): Float32Array {
  const rng = createRng(seed, 99);
  return Float32Array.from({ length: n * dim }, () => rng.next() * 2 - 1);
}

/** A source whose fragments have the given sizes; row r of fragment f holds (f, r, ...). */
function taggedSource(sizes: number[], dim = 3): VectorSource {
  return {
    dim,
    fragments: () => sizes.map((numRows, id) => ({ id: id * 10 + 7, numRows })),
    readRows(id, offsets) {
      const out = new Float32Array(offsets.length * dim);
      offsets.forEach((o, i) => { out[i * dim] = id; out[i * dim + 1] = o; out[i * dim + 2] = 1; });
      return { data: out };
    },
  };
}

describe('planQuotas', () => {
  it('takes every row when the source is not larger than the target', () => {
    expect(planQuotas([{ id: 2, numRows: 3 }, { id: 1, numRows: 4 }], 7).map((f) => f.quota)).toEqual([4, 3]);
  });
  it('is proportional to rows (largest remainder, ties by id) and sums to the target', () => {
    const frags: FragmentInfo[] = [{ id: 5, numRows: 1000 }, { id: 1, numRows: 10 }, { id: 3, numRows: 333 }, { id: 0, numRows: 0 }, { id: 9, numRows: 7001 }];
    const N = 8344;
    for (const target of [1, 17, 100, 1000, 8343]) {
      const q = planQuotas(frags, target);
      expect(q.map((f) => f.id)).toEqual([0, 1, 3, 5, 9]);
      expect(q.reduce((s, f) => s + f.quota, 0)).toBe(target);
      for (const f of q) {
        const exact = (target * f.numRows) / N;
        expect(f.quota).toBeGreaterThanOrEqual(Math.floor(exact));
        expect(f.quota).toBeLessThanOrEqual(Math.ceil(exact));
      }
    }
    // two equal remainders: the lower id gets the extra row
    expect(planQuotas([{ id: 4, numRows: 5 }, { id: 2, numRows: 5 }], 3).map((f) => [f.id, f.quota])).toEqual([[2, 2], [4, 1]]);
  });
  it('validates fragments', () => {
    expect(() => validateFragments([{ id: -1, numRows: 3 }])).toThrow(/non-negative integer, got -1/);
    expect(() => validateFragments([{ id: 1.5, numRows: 3 }])).toThrow(IvfkitError);
    expect(() => validateFragments([{ id: 1, numRows: -2 }])).toThrow(/fragments\[0\] \(id 1\) numRows: expected a non-negative integer, got -2/);
    expect(() => validateFragments([{ id: 1, numRows: 2 }, { id: 1, numRows: 3 }])).toThrow(/distinct ids, got 1 twice/);
    expect(() => planQuotas([], -1)).toThrow(/non-negative integer, got -1/);
  });
});

describe('fragmentOffsets', () => {
  it('draws distinct ascending offsets from the fragment stream, independent per fragment and stream', () => {
    const a = fragmentOffsets(42, STREAM.IVF_SAMPLE, { id: 3, numRows: 1000 }, 100);
    expect(a.length).toBe(100);
    for (let i = 1; i < a.length; i++) expect(a[i]!).toBeGreaterThan(a[i - 1]!);
    expect(a[a.length - 1]!).toBeLessThan(1000);
    expect(fragmentOffsets(42, STREAM.IVF_SAMPLE, { id: 3, numRows: 1000 }, 100)).toEqual(a);
    expect(fragmentOffsets(42, STREAM.QUANT_SAMPLE, { id: 3, numRows: 1000 }, 100)).not.toEqual(a);
    expect(fragmentOffsets(42, STREAM.IVF_SAMPLE, { id: 4, numRows: 1000 }, 100)).not.toEqual(a);
    expect(fragmentOffsets(43, STREAM.IVF_SAMPLE, { id: 3, numRows: 1000 }, 100)).not.toEqual(a);
    expect(Array.from(fragmentOffsets(1, 1, { id: 0, numRows: 4 }, 4))).toEqual([0, 1, 2, 3]);
  });
  it('is roughly uniform', () => {
    const hist = new Array(10).fill(0);
    for (let s = 0; s < 40; s++) for (const o of fragmentOffsets(s, 1, { id: 0, numRows: 1000 }, 100)) hist[Math.floor(o / 100)]++;
    for (const h of hist) expect(Math.abs(h - 400)).toBeLessThan(100);
  });
});

describe('createSampleTasks', () => {
  const sizes = [5000, 100, 2300, 40, 777, 1500, 0, 64];
  const frags = sizes.map((numRows, id) => ({ id: id * 10 + 7, numRows }));
  const params = { numPartitions: 8, sampleRate: 64, seed: 11, pq: { numBits: 4 as const } };

  it('balances rows over workers (largest first to the least loaded) and keeps per-fragment quotas fixed', () => {
    const one = createSampleTasks(frags, 1, params)[0]!;
    const quota = new Map(one.fragments.map((f) => [f.id, [f.ivfQuota, f.quantQuota]]));
    expect(one.fragments.reduce((s, f) => s + f.ivfQuota, 0)).toBe(512);
    expect(one.fragments.reduce((s, f) => s + f.quantQuota, 0)).toBe(16 * 64);
    for (const w of [2, 3, 5, 8, 20]) {
      const tasks = createSampleTasks(frags, w, params);
      expect(tasks.length).toBe(Math.min(w, frags.length));
      expect(new Set(tasks.map((t) => t.planId)).size).toBe(1);
      expect(tasks.map((t) => t.taskId)).toEqual(tasks.map((_, i) => i));
      const all = tasks.flatMap((t) => t.fragments);
      expect(all.map((f) => f.id).sort((a, b) => a - b)).toEqual(frags.map((f) => f.id));
      for (const f of all) expect([f.ivfQuota, f.quantQuota]).toEqual(quota.get(f.id));
      const loads = tasks.map((t) => t.fragments.reduce((s, f) => s + f.numRows, 0));
      expect(Math.max(...loads)).toBeLessThanOrEqual(Math.max(5000, Math.ceil(9781 / w) + 2300));
      if (w === 2) expect(loads.sort((a, b) => a - b)).toEqual([4781, 5000]);
    }
    expect(createSampleTasks(frags, 2, params)[0]!.planId).not.toBe(createSampleTasks(frags, 3, params)[0]!.planId);
    expect(createSampleTasks(frags, 2, { ...params, seed: 12 })[0]!.planId).not.toBe(createSampleTasks(frags, 2, params)[0]!.planId);
  });
  it('rejects bad arguments', () => {
    expect(() => createSampleTasks(frags, 0, params)).toThrow(/numWorkers: expected a positive integer, got 0/);
    expect(() => createSampleTasks([], 1, params)).toThrow(/at least one fragment with rows to sample, got none \(an empty source\)/);
    expect(() => createSampleTasks(frags, 1, { numPartitions: 0 })).toThrow(/numPartitions: expected a positive integer, got 0/);
    expect(() => createSampleTasks(frags, 1, { numPartitions: 2, pq: {}, sq: {} })).toThrow(/expected pq or sq, got both/);
    expect(() => createSampleTasks(frags, 1, { numPartitions: 2, metric: 'hamming' as never })).toThrow(/got "hamming"/);
  });
});

describe('executeSampleTask', () => {
  it('gives the same union sample, in canonical order, for any number of workers', async () => {
    const src = taggedSource([5000, 100, 2300, 40, 777, 1500, 0, 64]);
    const frags = await src.fragments();
    const params = { numPartitions: 4, sampleRate: 100, seed: 5, sq: {} };
    const union = async (w: number) => {
      const results = await Promise.all(createSampleTasks(frags, w, params).map((t) => executeSampleTask(t, src, { kernels })));
      const parts = results.flatMap((r) => {
        let io = 0;
        return r.fragments.map((f) => { const s = r.ivf.subarray(io * 3, (io + f.ivfRows) * 3); io += f.ivfRows; return { id: f.id, s }; });
      }).sort((a, b) => a.id - b.id);
      return { rows: Float32Array.from(parts.flatMap((p) => Array.from(p.s))), results };
    };
    const base = await union(1);
    expect(base.rows.length).toBe(400 * 3);
    for (let i = 1; i < 400; i++) {
      const [f0, o0, f1, o1] = [base.rows[(i - 1) * 3]!, base.rows[(i - 1) * 3 + 1]!, base.rows[i * 3]!, base.rows[i * 3 + 1]!];
      expect(f1 > f0 || (f1 === f0 && o1 > o0)).toBe(true);
    }
    for (const w of [2, 3, 8]) expect((await union(w)).rows).toEqual(base.rows);
    const r = base.results[0]!;
    expect(r.quant.length).toBe(9781 * 3); // fewer rows than the 25,600-row SQ target: every row
    expect(r.sqBounds).toEqual({ lower: 0, upper: 4999 });
  });
  it('normalizes for cosine and drops zero, NaN and null rows, counting them', async () => {
    const dim = 4;
    const data = randomData(50, dim);
    data.fill(0, 4 * dim, 5 * dim); // zero row → NaN under cosine
    data[7 * dim + 2] = NaN;
    data[9 * dim] = Infinity;
    const mem = fromFloat32Array(data, dim, { fragmentRows: 50 });
    const src: VectorSource = {
      dim, fragments: () => mem.fragments(),
      async readRows(id, offsets) { // row 11 is null
        const keep = Uint32Array.from(Array.from(offsets).filter((o) => o !== 11));
        return { data: (await mem.readRows(id, keep)).data, nulls: offsets.length - keep.length };
      },
    };
    const cos = await readFragmentSample(src, 0, Uint32Array.from({ length: 50 }, (_, i) => i), dim, 'cosine', kernels);
    expect(cos.rows).toBe(46);
    expect(cos.dropped).toBe(4);
    for (let i = 0; i < cos.rows; i++) {
      const n = Math.hypot(...cos.data.subarray(i * dim, i * dim + dim));
      expect(Math.abs(n - 1)).toBeLessThan(1e-6);
    }
    const l2 = await readFragmentSample(src, 0, Uint32Array.from({ length: 50 }, (_, i) => i), dim, 'l2', kernels);
    expect(l2.rows).toBe(47);
    expect(l2.dropped).toBe(3);
    const [task] = createSampleTasks(await src.fragments(), 1, { numPartitions: 2, metric: 'cosine', sq: {} });
    const res: SampleResult = await executeSampleTask(task!, src, { kernels });
    expect(res.fragments).toEqual([{ id: 0, numRows: 50, ivfRows: 46, ivfDropped: 4, quantRows: 46, quantDropped: 4 }]);
    const b = kernels.sqBounds(res.quant, dim);
    expect(res.sqBounds).toEqual({ lower: b.lower, upper: b.upper });
    expect(res.sqBounds!.upper).toBeLessThanOrEqual(1);
  });
  it('rejects rows of the wrong dimension naming the fragment, and a task for another dim', async () => {
    const bad: VectorSource = { dim: 4, fragments: () => [{ id: 3, numRows: 10 }], readRows: (_id, offsets) => ({ data: new Float32Array(offsets.length * 3) }) };
    const [task] = createSampleTasks(await bad.fragments(), 1, { numPartitions: 2 });
    await expect(executeSampleTask(task!, bad, { kernels })).rejects.toThrow(/rows of fragment 3: expected 10 rows × dim 4 = 40 values .* got 30 values/);
    const [t8] = createSampleTasks(await bad.fragments(), 1, { numPartitions: 2, dim: 8 });
    await expect(executeSampleTask(t8!, bad, { kernels })).rejects.toThrow(/source dim: expected 8 \(task 0\), got 4/);
    await expect(executeSampleTask({ ...task!, version: 99 }, bad, { kernels })).rejects.toThrow(new RegExp(`version: expected ${SAMPLE_FORMAT_VERSION}, got 99`));
  });
  it('stops when aborted', async () => {
    const src = taggedSource([10, 10]);
    const [task] = createSampleTasks(await src.fragments(), 1, { numPartitions: 1 });
    const ac = new AbortController();
    ac.abort(new Error('stop now'));
    await expect(executeSampleTask(task!, src, { kernels, signal: ac.signal })).rejects.toThrow(/stop now/);
  });
  it('lets a timer abort it between fragments (sources that answer without waiting never give the event loop a turn otherwise)', async () => {
    const src = taggedSource(Array.from({ length: 40 }, () => 50));
    let read = 0;
    const counting: VectorSource = { ...src, readRows: (id, offsets) => { read++; const t = Date.now(); while (Date.now() - t < 2); return src.readRows(id, offsets); } };
    const [task] = createSampleTasks(await counting.fragments(), 1, { numPartitions: 1 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('timer')), 10);
    await expect(executeSampleTask(task!, counting, { kernels, signal: ac.signal })).rejects.toThrow(/timer/);
    expect(read).toBeLessThan(40);
  });
});

describe('executeSampleTask reads', () => {
  it('an in-memory source read whole: the rows come from a view of the caller\'s array (no readRows copy), the same sample bits, the array untouched', async () => {
    const dim = 6;
    const data = randomData(900, dim);
    data.fill(0, 3 * dim, 4 * dim);                                                  // zero row: NaN under cosine, dropped
    data[10 * dim + 1] = NaN;
    const before = data.slice();
    const mem = fromFloat32Array(data, dim, { fragmentRows: 300 });
    let reads = 0;
    const counted = { ...mem, readRows: (id: number, offsets: Uint32Array) => { reads++; return mem.readRows(id, offsets); } } as VectorSource;
    const plain: VectorSource = { dim, fragments: () => mem.fragments(), readRows: (id, offsets) => mem.readRows(id, offsets) };
    for (const metric of ['l2', 'cosine'] as const) {
      // Every row of every fragment in both samples (targets above 900 rows): one view per fragment.
      const [task] = createSampleTasks(await mem.fragments(), 1, { numPartitions: 4, metric, seed: 3, pq: { numSubVectors: 2, numBits: 8 } });
      reads = 0;
      const viaView = await executeSampleTask(task!, counted, { kernels });
      expect(reads, metric).toBe(0);
      const viaCopy = await executeSampleTask(task!, plain, { kernels });
      expect(viaView.ivf, metric).toEqual(viaCopy.ivf);
      expect(viaView.quant, metric).toEqual(viaCopy.quant);
      expect(viaView.fragments, metric).toEqual(viaCopy.fragments);
      expect(viaView.ivf.buffer === data.buffer, metric).toBe(false);
      expect(Object.is(viaView.ivf[0], data[0]) || metric === 'cosine', metric).toBe(true);
      expect(data, metric).toEqual(before);
    }
    // Offsets that are not one run (a sample of part of a fragment) go through readRows.
    const [part] = createSampleTasks(await mem.fragments(), 1, { numPartitions: 1, sampleRate: 100, seed: 3 });
    reads = 0;
    const sampled = await executeSampleTask(part!, counted, { kernels });
    expect(reads).toBe(3);
    expect(sampled.ivf).toEqual((await executeSampleTask(part!, plain, { kernels })).ivf);
  });

  it('both samples of a fragment in one readRows call (the union of their offsets), each the rows of its own offsets', async () => {
    const base = taggedSource([5000, 3000, 40]);
    const calls: number[] = [];
    const source: VectorSource = { ...base, readRows: (id, offsets) => { calls.push(id); return base.readRows(id, offsets); } };
    const params = { numPartitions: 4, sampleRate: 64, seed: 21, pq: { numSubVectors: 1, numBits: 8 as const } };
    const [task] = createSampleTasks(await source.fragments(), 1, params);
    const res = await executeSampleTask(task!, source, { kernels: createReferenceKernels() });
    expect(calls).toEqual([7, 17, 27]);                                              // one call per fragment
    let ia = 0, qa = 0;
    for (const f of task!.fragments) {
      const want = (stream: number, quota: number) => Array.from(fragmentOffsets(task!.seed, stream, f, quota), (o) => [f.id, o, 1]).flat();
      expect(Array.from(res.ivf.subarray(ia, ia + f.ivfQuota * 3)), `ivf rows of fragment ${f.id}`).toEqual(want(STREAM.IVF_SAMPLE, f.ivfQuota));
      expect(Array.from(res.quant.subarray(qa, qa + f.quantQuota * 3)), `quantizer rows of fragment ${f.id}`).toEqual(want(STREAM.QUANT_SAMPLE, f.quantQuota));
      ia += f.ivfQuota * 3; qa += f.quantQuota * 3;
    }
    expect([ia, qa]).toEqual([res.ivf.length, res.quant.length]);
  });

  it('null rows: a source that says which offsets were null (valid) is read once per fragment, with the samples of separate reads', async () => {
    const base = taggedSource([5000, 3000, 40]);
    const isNull = (id: number, o: number): boolean => (o * 7 + id) % 5 === 0;
    const calls: number[] = [];
    const withNulls = (tellWhere: boolean): VectorSource => ({
      ...base,
      readRows: async (id, offsets) => {
        calls.push(id);
        const keep = offsets.filter((o) => !isNull(id, o));
        const valid = Uint8Array.from(offsets, (o) => (isNull(id, o) ? 0 : 1));
        return { data: (await base.readRows(id, keep)).data, nulls: offsets.length - keep.length, ...(tellWhere ? { valid } : {}) };
      },
    });
    const params = { numPartitions: 4, sampleRate: 64, seed: 21, pq: { numSubVectors: 1, numBits: 8 as const } };
    const [task] = createSampleTasks(await base.fragments(), 1, params);
    const told = await executeSampleTask(task!, withNulls(true), { kernels });
    expect(calls).toEqual([7, 17, 27]);
    calls.length = 0;
    const apart = await executeSampleTask(task!, withNulls(false), { kernels });
    expect(calls, 'the union, then each sample again').toEqual([7, 7, 7, 17, 17, 17, 27, 27, 27]);
    expect(told.ivf).toEqual(apart.ivf);
    expect(told.quant).toEqual(apart.quant);
    expect(told.fragments).toEqual(apart.fragments);
    const dropped = (key: 'ivfDropped' | 'quantDropped'): number => told.fragments.reduce((a, f) => a + f[key], 0);
    expect(dropped('ivfDropped'), 'null IVF rows dropped').toBeGreaterThan(10);
    expect(dropped('quantDropped'), 'null quantizer rows dropped').toBeGreaterThan(1000);
    for (let r = 0; r < told.ivf.length; r += 3) expect(isNull(told.ivf[r]!, told.ivf[r + 1]!), `row ${r / 3}`).toBe(false);
    // A `valid` that contradicts nulls (or holds other values) is not trusted: the fragment is read apart.
    for (const bad of [(v: Uint8Array) => v.fill(1), (v: Uint8Array) => { v[v.indexOf(1)] = 2; return v; }]) {
      calls.length = 0;
      const lying: VectorSource = { ...base, readRows: async (id, offsets) => {
        const r = await withNulls(true).readRows(id, offsets);
        return { ...r, valid: bad(r.valid!.slice()) };
      } };
      const res = await executeSampleTask(task!, lying, { kernels });
      expect(res.ivf).toEqual(apart.ivf);
      expect(res.quant).toEqual(apart.quant);
    }
  });
});
