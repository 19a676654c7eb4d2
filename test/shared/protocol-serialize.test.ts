import { describe, expect, it } from 'vitest';
import { createReferenceKernels } from '../../src/kernels/index.js';
import { fromFloat32Array } from '../../src/sources/index.js';
import { checkCoverage, createSampleTasks, executeSampleTask, mergeSampleResults, type SampleResult } from '../../src/train/sample.js';
import { deserializeSampleResult, deserializeSampleTask, serializeSampleResult, serializeSampleTask } from '../../src/distributed/serialize.js';
import { Hasher } from '../../src/util/hash.js';
import { createRng } from '../../src/util/rng.js';

const kernels = createReferenceKernels();
const dim = 6;
const rng = createRng(21, 1);
const data = Float32Array.from({ length: 3000 * dim }, () => rng.next() * 4 - 2);
for (let j = 0; j < dim; j++) data[17 * dim + j] = 0; // a zero row, dropped under cosine
data[40 * dim + 1] = NaN;
const source = fromFloat32Array(data, dim, { fragmentRows: 700 });
const params = { numPartitions: 4, sampleRate: 100, metric: 'cosine' as const, seed: 9, sq: {} };

async function results(workers: number): Promise<SampleResult[]> {
  const tasks = createSampleTasks(await source.fragments(), workers, params);
  return Promise.all(tasks.map((t) => executeSampleTask(t, source, { kernels })));
}

describe('sample tasks and results on the wire', () => {
  it('round-trips tasks through JSON and results through JSON + Arrow IPC and structured clone', async () => {
    const tasks = createSampleTasks(await source.fragments(), 3, { ...params, dim });
    for (const t of tasks) {
      const back = deserializeSampleTask(serializeSampleTask(t));
      expect(back).toEqual(t);
      expect(structuredClone(t)).toEqual(t);
      const r = await executeSampleTask(back, source, { kernels });
      const wire = serializeSampleResult(r);
      expect(typeof wire.json).toBe('string');
      expect(wire.arrow).toBeInstanceOf(Uint8Array);
      const r2 = deserializeSampleResult({ json: wire.json, arrow: wire.arrow.slice() });
      expect(r2).toEqual(r);
      expect(structuredClone(r)).toEqual(r);
    }
  });
  it('rejects malformed tasks and results', async () => {
    const [t] = createSampleTasks(await source.fragments(), 1, params);
    expect(() => deserializeSampleTask('{oops')).toThrow(/expected JSON of an object/);
    expect(() => deserializeSampleTask(JSON.stringify({ ...t, version: 2 }))).toThrow(/version: expected 1, got 2/);
    expect(() => deserializeSampleTask(JSON.stringify({ ...t, fragments: [{ id: 0, numRows: 5, ivfQuota: 9, quantQuota: 0 }] }))).toThrow(/fragment 0 ivfQuota: expected an integer in \[0, 5\], got 9/);
    const [r] = await results(1);
    const wire = serializeSampleResult(r!);
    const other = serializeSampleResult({ ...r!, fragments: r!.fragments.map((f, i) => (i ? f : { ...f, ivfRows: f.ivfRows - 1 })), ivf: r!.ivf.subarray(dim) });
    expect(() => deserializeSampleResult({ json: wire.json, arrow: other.arrow })).toThrow(/expected .* \(json\), got .* \(arrow\)/);
    expect(() => deserializeSampleResult({ json: wire.json, arrow: new Uint8Array(10) })).toThrow(/sample result arrow/);
  });
});

describe('coverage of a plan', () => {
  it('merges the same canonical sample for any worker count and any result order', async () => {
    const one = mergeSampleResults(await results(1));
    expect(one.ivfRows).toBe(398);
    expect(one.ivfDropped + one.ivfRows).toBe(400);
    for (const w of [2, 3, 5]) {
      const rs = await results(w);
      const m = mergeSampleResults([...rs].reverse());
      expect(m.ivf).toEqual(one.ivf);
      expect(m.quant).toEqual(one.quant);
      expect(m.sqBounds).toEqual(one.sqBounds);
      expect([m.ivfDropped, m.quantDropped, m.maxAbs]).toEqual([one.ivfDropped, one.quantDropped, one.maxAbs]);
    }
  });
  it('names missing, duplicate and foreign results in one error', async () => {
    const rs = await results(4);
    expect(() => checkCoverage(rs.slice(1))).toThrow(/missing tasks \[0\]/);
    expect(() => checkCoverage([...rs, rs[2]!])).toThrow(/duplicate tasks \[2\]/);
    const foreign = (await results(2))[1]!;
    let msg = '';
    try { checkCoverage([rs[0]!, rs[1]!, rs[1]!, foreign]); } catch (e) { msg = (e as Error).message; }
    expect(msg).toMatch(/expected tasks 0\.\.3 exactly once/);
    expect(msg).toMatch(/missing tasks \[2, 3\]/);
    expect(msg).toMatch(/duplicate tasks \[1\]/);
    expect(msg).toMatch(new RegExp(`foreign results results\\[3\\] \\(plan ${foreign.planId}, task 1 of 2\\)`));
    expect(() => checkCoverage([])).toThrow(/non-empty array/);
  });
});

describe('fingerprints on the wire', () => {
  it('Hasher gives the same values as every earlier version (stats fingerprints are compared across workers and machines)', () => {
    const a = new Float32Array(1001).map((_, i) => Math.sin(i) * 100);
    const u8 = new Uint8Array(a.buffer, 1, 4 * 1000 + 2);
    expect(new Hasher(7).bytes(a).hex()).toBe('08c1a674f5ede2c7');
    expect(new Hasher().bytes(a.subarray(3, 900)).hex()).toBe('a217c4d50b2e36e3');
    expect(new Hasher(1).word(5).bytes(u8).num(0.1).hex(), 'unaligned bytes with a tail').toBe('9d0aa3a2cb848bdd');
    expect(new Hasher(2).bytes(new Int32Array([-1, 0, 2 ** 31 - 1, -(2 ** 31)])).hex()).toBe('7325549a8f7082d3');
  });
});
