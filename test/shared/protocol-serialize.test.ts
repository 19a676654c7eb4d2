import { describe, expect, it } from 'vitest';
import { createReferenceKernels } from '../../src/kernels/index.js';
import { fromFloat32Array } from '../../src/sources/index.js';
import { SAMPLE_FORMAT_VERSION, checkCoverage, createSampleTasks, executeSampleTask, mergeSampleResults, type SampleResult } from '../../src/train/sample.js';
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
    expect(() => deserializeSampleTask(JSON.stringify({ ...t, version: SAMPLE_FORMAT_VERSION + 1 }))).toThrow(new RegExp(`version: expected ${SAMPLE_FORMAT_VERSION}, got ${SAMPLE_FORMAT_VERSION + 1}`));
    expect(() => deserializeSampleTask(JSON.stringify({ ...t, fragments: [{ id: 0, numRows: 5, ivfQuota: 9, quantQuota: 0 }] }))).toThrow(/task\.fragments\[0\] \(id 0\) ivfQuota: expected an integer in \[0, 5\], got 9/);
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

describe('a plan cannot be passed off with other data (found by a first-user audit, 2026-12-02)', () => {
  const rethrow = (f: () => unknown): string => { try { f(); } catch (e) { return `${(e as { code?: string }).code}: ${(e as Error).message}`; } return 'no error'; };
  const wire = async (workers = 3) => (await results(workers)).map((r) => serializeSampleResult(r));
  const edited = (w: { json: string; arrow: Uint8Array }, edit: (j: Record<string, any>) => void) => {
    const j = JSON.parse(w.json) as Record<string, any>;
    edit(j);
    return { json: JSON.stringify(j), arrow: w.arrow };
  };

  it('a task run on a source whose fragments hold other row counts is refused before any read', async () => {
    const [task] = createSampleTasks(await source.fragments(), 1, params);
    const other = fromFloat32Array(data, dim, { fragmentRows: 800 });
    await expect(executeSampleTask(task!, other, { kernels })).rejects.toMatchObject({
      code: 'fragment-mismatch', message: expect.stringMatching(/^fragment 0 numRows: expected 700 \(task 0 of plan [0-9a-f]{16}\), got 800 \(source\)/),
    });
    const fewer = fromFloat32Array(data.subarray(0, 2100 * dim), dim, { fragmentRows: 700 });
    await expect(executeSampleTask(task!, fewer, { kernels })).rejects.toMatchObject({ code: 'unknown-fragment', message: expect.stringMatching(/^fragment 3 of task 0: expected in the source/) });
  });

  it('tasks edited by hand give results that do not merge (fragments dropped, quotas or row counts changed)', async () => {
    const tasks = createSampleTasks(await source.fragments(), 3, params);
    const run = (ts: typeof tasks) => Promise.all(ts.map((t) => executeSampleTask(t, source, { kernels })));
    const good = await run(tasks);
    expect(() => mergeSampleResults(good)).not.toThrow();
    const dropped = await run([{ ...tasks[0]!, fragments: [] }, tasks[1]!, tasks[2]!]);
    expect(rethrow(() => mergeSampleResults(dropped))).toMatch(/^invalid-result: sample results: expected the fragments and quotas of plan [0-9a-f]{16}, got \d+ fragments \(\d+ rows\) over 3 tasks that plan as [0-9a-f]{16}: a task or result was changed/);
    const f0 = tasks[0]!.fragments[0]!;
    const quota = await run([{ ...tasks[0]!, fragments: [{ ...f0, ivfQuota: f0.ivfQuota - 7 }, ...tasks[0]!.fragments.slice(1)] }, tasks[1]!, tasks[2]!]);
    expect(rethrow(() => mergeSampleResults(quota))).toMatch(new RegExp(`^invalid-result: fragment ${f0.id} of task 0: expected ${f0.ivfQuota} IVF and ${f0.quantQuota} quantizer rows read`));
    const moved = await run([{ ...tasks[0]!, fragments: tasks[0]!.fragments.slice(1) }, { ...tasks[1]!, fragments: [f0, ...tasks[1]!.fragments] }, tasks[2]!]);
    expect(rethrow(() => mergeSampleResults(moved))).toMatch(/^invalid-result: fragments of task 0: expected \[.*\] \(plan [0-9a-f]{16}\), got \[.*\]/);
  });

  it('results edited in transit are refused: structure, counts, ids, bounds, and the rows (checksum)', async () => {
    const w = await wire();
    const back = (ws: { json: string; arrow: Uint8Array }[]) => () => mergeSampleResults(ws.map((x) => deserializeSampleResult(x)));
    expect(back(w)).not.toThrow();
    expect(rethrow(back([edited(w[0]!, (j) => { delete j.fragments; }), w[1]!, w[2]!]))).toMatch(/^invalid-result: result of task 0: expected fragments \(an array\), got undefined/);
    expect(rethrow(back([edited(w[0]!, (j) => { j.fragments = 'x'; }), w[1]!, w[2]!]))).toMatch(/^invalid-result: result of task 0: expected fragments \(an array\), got String/);
    expect(rethrow(back([edited(w[0]!, (j) => { j.fragments[0].ivfDropped = -5; }), w[1]!, w[2]!]))).toMatch(/^invalid-result: result of task 0 fragments\[0\]\.ivfDropped: expected a non-negative integer, got -5/);
    // One row moved from one fragment's count to the next: same total, other fragments.
    expect(rethrow(back([edited(w[0]!, (j) => { j.fragments[0].ivfRows -= 1; j.fragments[1].ivfRows += 1; }), w[1]!, w[2]!]))).toMatch(/^invalid-result: fragment \d+ of task 0: expected \d+ IVF and \d+ quantizer rows read/);
    expect(rethrow(back([edited(w[0]!, (j) => { j.fragments[0].id = 99; }), w[1]!, w[2]!]))).toMatch(/^invalid-result: (sample results: expected the fragments and quotas of plan|result fragments ids)/);
    expect(rethrow(back([edited(w[0]!, (j) => { j.sqBounds = { lower: -1e9, upper: 1e9 }; }), w[1]!, w[2]!]))).toMatch(/^invalid-result: sqBounds of task 0: expected \{"lower":.*\} \(its quantizer rows\), got \{"lower":-1000000000,"upper":1000000000\}/);
    expect(rethrow(back([edited(w[0]!, (j) => { j.sqBounds = { lower: 'a', upper: null }; }), w[1]!, w[2]!]))).toMatch(/^invalid-result: sqBounds of task 0: expected null or finite \{ lower ≤ upper \}/);
    expect(rethrow(back([edited(w[0]!, (j) => { j.ivfRows = '3'; }), w[1]!, w[2]!]))).toMatch(/^invalid-result: sample result ivfRows: expected a non-negative integer, got "3"/);
    // 16 bytes of vector data flipped near the end of the Arrow stream: the checksum in the JSON catches it.
    const arrow = w[0]!.arrow.slice();
    for (let i = arrow.length - 2000; i < arrow.length - 1984; i++) arrow[i] ^= 0x5a;
    expect(rethrow(back([{ json: w[0]!.json, arrow }, w[1]!, w[2]!]))).toMatch(/^invalid-result: sample result rows: expected checksum "[0-9a-f]{16}" \(json\), got [0-9a-f]{16} \(arrow\): the bytes changed/);
    // An ArrayBuffer is as good as a Uint8Array; an empty Arrow part is named as such.
    expect(deserializeSampleResult({ json: w[1]!.json, arrow: w[1]!.arrow.slice().buffer })).toEqual(deserializeSampleResult(w[1]!));
    expect(rethrow(() => deserializeSampleResult({ json: w[1]!.json, arrow: new Uint8Array(0) }))).toMatch(/^invalid-result: sample result arrow: expected vector: FixedSizeList<Float32, 6>, got no vector column \(0 bytes, 0 columns\)|^invalid-result: sample result arrow: expected an Arrow IPC stream/);
  });

  it('messages show what they got: quoted strings, the fragment index, the task prefix', async () => {
    const [t] = createSampleTasks(await source.fragments(), 1, params);
    const task = JSON.parse(serializeSampleTask(t!)) as Record<string, any>;
    const msg = (edit: (j: Record<string, any>) => void) => { const j = structuredClone(task); edit(j); return rethrow(() => deserializeSampleTask(JSON.stringify(j))); };
    expect(msg((j) => { j.version = String(SAMPLE_FORMAT_VERSION); })).toBe(`unsupported-version: sample task version: expected ${SAMPLE_FORMAT_VERSION}, got "${SAMPLE_FORMAT_VERSION}"`);
    expect(msg((j) => { j.fragments[0].ivfQuota = '171'; })).toMatch(/^invalid-task: task\.fragments\[0\] \(id 0\) ivfQuota: expected an integer in \[0, 700\], got "171"/);
    expect(msg((j) => { j.fragments[1].id = -3; })).toMatch(/^invalid-task: task\.fragments\[1\]\.id: expected a non-negative integer, got -3/);
    expect(msg((j) => { j.planId = ''; })).toBe('invalid-task: task.planId: expected a non-empty string, got ""');
    expect(msg((j) => { j.seed = -1; })).toBe('invalid-task: task.seed: expected a non-negative integer, got -1');
    expect(() => createSampleTasks([{ id: 0, numRows: 0 }, { id: 1, numRows: 0 }], 2, params)).toThrow(/^fragments: expected rows to sample, got 2 fragment\(s\) of 0 rows$/);
  });

  it('aborting executeSampleTask rejects with the AbortError of every other call, also during a fragment read', async () => {
    const [task] = createSampleTasks([{ id: 0, numRows: 50 }], 1, params);
    for (const reason of [undefined, 'stop', new Error('mine')]) {
      const ac = new AbortController();
      const slow = { dim, fragments: () => [{ id: 0, numRows: 50 }],
        readRows: async (_id: number, offsets: Uint32Array) => { ac.abort(reason); return { data: new Float32Array(offsets.length * dim).fill(1) }; } };
      const err = await executeSampleTask(task!, slow, { kernels, signal: ac.signal }).then(() => undefined, (e: unknown) => e) as { name?: string; code?: string; cause?: unknown; message?: string };
      expect(err?.name).toBe('AbortError');
      expect(err?.code).toBe('aborted');
      expect(err?.cause).toBe(ac.signal.reason);
      expect(err?.message).toMatch(/^sampling: expected to run to the end, got aborted/);
    }
  });
});
