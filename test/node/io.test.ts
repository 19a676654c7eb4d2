import { describe, expect, it, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Field, FixedSizeList, Float16, Float32, Float64, Int32, List, RecordBatch, Schema, Struct, Table, makeData, tableToIPC,
  type DataType,
} from 'apache-arrow';
import {
  fileAccess, fromArrowIPC, fromVecs, openVectorFile, openVectorFiles, readAllRows, toVecs, writeFileAtomic, type RandomAccess,
} from '../../src/node/index.js';
import { floatToHalf, halfToFloat, toNpy } from '../../src/model/npy.js';
import { IvfkitError } from '../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ivfkit-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function data(n: number, d: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n * d }, () => Math.fround(((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 20 - 10));
}

function counting(a: RandomAccess) {
  const c = { reads: 0, bytes: 0 };
  const wrapped: RandomAccess = { size: a.size, read: async (o, n) => { c.reads++; const b = await a.read(o, n); c.bytes += b.length; return b; }, close: () => a.close!() };
  return { access: wrapped, c };
}

/** An Arrow table with one FixedSizeList column per batch; `nullRows` rows are null (row bitmap). */
function vectorTable(batches: Float32Array[], d: number, opts: { type?: 'f16' | 'f32' | 'f64'; nullRows?: number[][] } = {}): Table {
  const T: DataType = opts.type === 'f16' ? new Float16() : opts.type === 'f64' ? new Float64() : new Float32();
  const listType = new FixedSizeList(d, new Field('item', T, false));
  const fields = [new Field('id', new Int32(), false), new Field('emb', listType, true)];
  const schema = new Schema(fields);
  let start = 0;
  const rbs = batches.map((flat, b) => {
    const n = flat.length / d;
    const values = opts.type === 'f16' ? Uint16Array.from(flat, (v) => floatToHalf(v)) : opts.type === 'f64' ? Float64Array.from(flat) : flat;
    const nulls = opts.nullRows?.[b] ?? [];
    let nullBitmap: Uint8Array | undefined;
    if (nulls.length) {
      nullBitmap = new Uint8Array(Math.ceil(n / 8)).fill(255);
      for (const r of nulls) nullBitmap[r >> 3]! &= ~(1 << (r & 7));
    }
    const child = makeData({ type: T, length: n * d, data: values } as never);
    const emb = makeData({ type: listType, length: n, nullCount: nulls.length, child, ...(nullBitmap ? { nullBitmap } : {}) });
    const ids = makeData({ type: new Int32(), length: n, data: Int32Array.from({ length: n }, (_, i) => start + i) });
    start += n;
    return new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children: [ids, emb] }));
  });
  return new Table(rbs);
}

const rowsOf = (flat: Float32Array, d: number, rows: number[]) => rows.flatMap((r) => Array.from(flat.subarray(r * d, r * d + d)));

describe('fvecs / bvecs', () => {
  it('round-trips and reads rows by offset across fragments', async () => {
    const d = 12, n = 1000;
    const x = data(n, d);
    const p = join(dir, 'a.fvecs');
    writeFileSync(p, toVecs(x, d, 'fvecs'));
    const src = await openVectorFile(p, { fragmentRows: 300 });
    expect(src.dim).toBe(d);
    expect(await src.fragments()).toEqual([{ id: 0, numRows: 300 }, { id: 1, numRows: 300 }, { id: 2, numRows: 300 }, { id: 3, numRows: 100 }]);
    const r = await src.readRows(2, Uint32Array.of(0, 5, 299));
    expect(Array.from(r.data)).toEqual(rowsOf(x, d, [600, 605, 899]));
    expect((await readAllRows(src)).data).toEqual(x);
    await src.close();

    const b = Float32Array.from(x, (v) => Math.round((v + 10) * 12));
    const pb = join(dir, 'a.bvecs');
    writeFileSync(pb, toVecs(b, d, 'bvecs'));
    const sb = await openVectorFile(pb);
    expect(sb.dim).toBe(d);
    expect(Array.from((await sb.readRows(0, Uint32Array.of(3, 999))).data)).toEqual(rowsOf(b, d, [3, 999]));
    await sb.close();
    // An .fvecs file opened as bvecs whose size happens to divide by bvecs' row size (1000 · 52 = 3250 · 16): refused at open.
    await expect(openVectorFile(p, { format: 'bvecs' })).rejects.toMatchObject({ code: 'invalid-file', message: expect.stringMatching(/row 1: expected dimension 12 \(row 0's\), got .* — not a bvecs file\?$/) });
    writeFileSync(join(dir, 'empty.fvecs'), new Uint8Array(0));
    await expect(openVectorFile(join(dir, 'empty.fvecs'))).rejects.toMatchObject({ code: 'empty-source' });
    await expect(openVectorFiles(p as unknown as string[])).rejects.toThrow(/^paths: expected an array of file paths \(openVectorFile takes one\)/);
  });

  it('sampling a few rows of a large file reads only a small part of it', async () => {
    const d = 128, n = 20_000; // 10.3 MB
    const p = join(dir, 'big.fvecs');
    writeFileSync(p, toVecs(data(n, d, 9), d));
    const { access, c } = counting(await fileAccess(p));
    const src = await fromVecs(access, 'fvecs', { fragmentRows: n });
    const offs = Uint32Array.from({ length: 50 }, (_, i) => i * 399 + (i % 7));
    const r = await src.readRows(0, offs);
    expect(r.data.length).toBe(50 * d);
    expect(c.reads).toBeGreaterThan(1);
    expect(Array.from(r.data.subarray(d * 30, d * 31))).toEqual(Array.from(data(n, d, 9).subarray(offs[30]! * d, offs[30]! * d + d)));
    expect(c.bytes).toBeLessThan(access.size / 10);
    await src.close();
  });

  it('rejects truncated files and wrong row headers', async () => {
    const p = join(dir, 'bad.fvecs');
    const bytes = toVecs(data(10, 4), 4);
    writeFileSync(p, bytes.subarray(0, bytes.length - 3));
    await expect(openVectorFile(p)).rejects.toThrow(/expected a multiple of the row size 20.*got 197 bytes/);
    const q = join(dir, 'bad2.fvecs');
    const b2 = toVecs(data(10, 4), 4);
    new DataView(b2.buffer).setInt32(20 * 5, 7, true);
    writeFileSync(q, b2);
    const s = await openVectorFile(q);
    await expect(s.readRows(0, Uint32Array.of(5))).rejects.toThrow(/row 5: expected dimension 4, got 7/);
    await s.close();
    await expect(openVectorFile(join(dir, 'missing.fvecs'))).rejects.toThrow(/expected an existing file/);
    await expect(openVectorFile(join(dir, 'x.csv'))).rejects.toThrow(/expected an extension among/);
  });
});

describe('npy files', () => {
  it('reads float16 / float64 rows converted to float32', async () => {
    const d = 5, n = 40;
    const x = data(n, d, 4);
    for (const dt of ['float16', 'float64'] as const) {
      const p = join(dir, `v_${dt}.npy`);
      writeFileSync(p, toNpy(x, [n, d], dt));
      const s = await openVectorFile(p, { fragmentRows: 16 });
      const r = await s.readRows(2, Uint32Array.of(1, 7));
      const want = rowsOf(x, d, [33, 39]).map((v) => (dt === 'float16' ? halfToFloat(floatToHalf(v)) : Math.fround(v)));
      expect(Array.from(r.data)).toEqual(want);
      await s.close();
    }
  });

  it('rejects a file of zero rows, naming it and its shape', async () => {
    const p = join(dir, 'zero.npy');
    writeFileSync(p, toNpy(new Float32Array(0), [0, 7]));
    await expect(openVectorFile(p)).rejects.toMatchObject({ code: 'empty-source', message: `${p}: expected at least one row, got shape (0, 7)` });
  });
});

describe('Arrow IPC', () => {
  const d = 6;
  const b0 = data(50, d, 11), b1 = data(30, d, 12), b2 = data(40, d, 13);

  it('file and stream formats: a fragment per record batch, values and nulls', async () => {
    const t = vectorTable([b0, b1, b2], d, { nullRows: [[], [0, 29], [3]] });
    for (const fmt of ['file', 'stream'] as const) {
      const p = join(dir, `t.${fmt === 'file' ? 'arrow' : 'arrows'}`);
      writeFileSync(p, tableToIPC(t, fmt));
      const s = await openVectorFile(p);
      expect(s.dim).toBe(d);
      expect(await s.fragments()).toEqual([{ id: 0, numRows: 50 }, { id: 1, numRows: 30 }, { id: 2, numRows: 40 }]);
      const r1 = await s.readRows(1, Uint32Array.of(0, 1, 2, 29));
      expect(r1.nulls).toBe(2);
      expect(Array.from(r1.data)).toEqual(rowsOf(b1, d, [1, 2]));
      expect(r1.valid).toEqual(Uint8Array.of(0, 1, 1, 0));
      const r2 = await s.readRows(2, Uint32Array.of(2, 3, 4));
      expect(r2.nulls).toBe(1);
      expect(Array.from(r2.data)).toEqual(rowsOf(b2, d, [2, 4]));
      const all = await readAllRows(s);
      expect(all.nulls).toBe(3);
      expect(all.rows).toBe(117);
      await s.close();
    }
  });

  it('reads only the needed record batch (footer block offsets / stream headers)', async () => {
    const big = Array.from({ length: 8 }, (_, i) => data(2000, d, 20 + i));
    const t = vectorTable(big, d);
    for (const fmt of ['file', 'stream'] as const) {
      const bytes = tableToIPC(t, fmt);
      const p = join(dir, `big.${fmt}.arrow`);
      writeFileSync(p, bytes);
      const { access, c } = counting(await fileAccess(p));
      const s = await fromArrowIPC(access);
      const metaBytes = c.bytes;
      expect(metaBytes).toBeLessThan(bytes.length / 20);
      const r = await s.readRows(5, Uint32Array.of(10, 1999));
      expect(Array.from(r.data)).toEqual(rowsOf(big[5]!, d, [10, 1999]));
      expect(c.bytes - metaBytes).toBeLessThan(bytes.length / 4);
      await s.close();
    }
  });

  it('converts Float16 and Float64 columns; picks a named column; rejects a wrong one', async () => {
    for (const type of ['f16', 'f64'] as const) {
      const p = join(dir, `t_${type}.arrow`);
      writeFileSync(p, tableToIPC(vectorTable([b0], d, { type }), 'file'));
      const s = await openVectorFile(p, { column: 'emb' });
      const r = await s.readRows(0, Uint32Array.of(4));
      expect(Array.from(r.data)).toEqual(rowsOf(b0, d, [4]).map((v) => (type === 'f16' ? halfToFloat(floatToHalf(v)) : v)));
      await s.close();
    }
    const p = join(dir, 't_f32.arrow');
    writeFileSync(p, tableToIPC(vectorTable([b0], d), 'file'));
    await expect(openVectorFile(p, { column: 'nope' })).rejects.toThrow(/expected one of \[id: Int32, emb: FixedSizeList\[6\]<Float32>\], got "nope"/);
    await expect(openVectorFile(p, { column: 'id' })).rejects.toThrow(/column "id": expected a FixedSizeList, List or LargeList of Float16 \| Float32 \| Float64, got Int32/);
    const bytes = readFileSync(p);
    writeFileSync(join(dir, 'trunc.arrow'), bytes.subarray(0, bytes.length - 7));
    await expect(openVectorFile(join(dir, 'trunc.arrow'))).rejects.toThrow(IvfkitError);
  });

  it('several files: fragments concatenated or one per file; dim mismatch rejected', async () => {
    const p1 = join(dir, 'm1.arrow'), p2 = join(dir, 'm2.arrows'), p3 = join(dir, 'm3.fvecs');
    writeFileSync(p1, tableToIPC(vectorTable([b0, b1], d), 'file'));
    writeFileSync(p2, tableToIPC(vectorTable([b2], d), 'stream'));
    writeFileSync(p3, toVecs(data(10, d + 1), d + 1));
    const s = await openVectorFiles([p1, p2]);
    expect(await s.fragments()).toEqual([{ id: 0, numRows: 50 }, { id: 1, numRows: 30 }, { id: 2, numRows: 40 }]);
    expect(Array.from((await s.readRows(2, Uint32Array.of(39))).data)).toEqual(rowsOf(b2, d, [39]));
    await s.close();
    const f = await openVectorFiles([p1, p2], { fragments: 'file' });
    expect(await f.fragments()).toEqual([{ id: 0, numRows: 80 }, { id: 1, numRows: 40 }]);
    expect(Array.from((await f.readRows(0, Uint32Array.of(49, 50, 79))).data)).toEqual([...rowsOf(b0, d, [49]), ...rowsOf(b1, d, [0, 29])]);
    await f.close();
    await expect(openVectorFiles([p1, p3])).rejects.toThrow(/dim of .*m3.fvecs: expected 6 .*got 7/);
    // A column names a column of the Arrow / Parquet files; files without columns ignore it, but one of them must have it.
    const p4 = join(dir, 'm4.fvecs');
    writeFileSync(p4, toVecs(b2, d));
    const mixed = await openVectorFiles([p1, p4], { column: 'emb' });
    expect(await mixed.fragments()).toEqual([{ id: 0, numRows: 50 }, { id: 1, numRows: 30 }, { id: 2, numRows: 40 }]);
    await mixed.close();
    await expect(openVectorFiles([p4], { column: 'emb' })).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/^column "emb": expected an Arrow or Parquet file among the inputs/) });
    await expect(openVectorFile(p4, { column: 'emb' })).rejects.toMatchObject({ code: 'invalid-argument', message: `column "emb": expected an Arrow or Parquet file (they have columns), got ${p4} (fvecs)` });
  });
});

describe('Parquet (parquet-wasm, row groups as fragments)', () => {
  it('reads row groups as fragments with values and nulls', async () => {
    const pw = await import('parquet-wasm');
    const d = 8;
    const x = data(250, d, 31);
    const t = vectorTable([x], d, { nullRows: [[7, 130]] });
    const wt = pw.Table.fromIPCStream(tableToIPC(t, 'stream'));
    const props = new pw.WriterPropertiesBuilder().setMaxRowGroupSize(100).build();
    const p = join(dir, 'v.parquet');
    writeFileSync(p, pw.writeParquet(wt, props));
    const s = await openVectorFile(p);
    expect(s.dim).toBe(d);
    expect(await s.fragments()).toEqual([{ id: 0, numRows: 100 }, { id: 1, numRows: 100 }, { id: 2, numRows: 50 }]);
    const r = await s.readRows(1, Uint32Array.of(29, 30, 31, 99));
    expect(r.nulls).toBe(1);
    expect(Array.from(r.data)).toEqual(rowsOf(x, d, [129, 131, 199]));
    expect(r.valid).toEqual(Uint8Array.of(1, 0, 1, 1));
    const all = await readAllRows(s);
    expect(all.nulls).toBe(2);
    expect(all.rows).toBe(248);
    await expect(openVectorFile(p, { column: 'nope' })).rejects.toThrow(IvfkitError);
    await s.close();
    // A missing Parquet file reads as every missing file (Node 20's openAsBlob calls it an invalid argument).
    const gone = join(dir, 'missing.parquet');
    await expect(openVectorFile(gone)).rejects.toMatchObject({ code: 'file-not-found', message: `${gone}: expected an existing file, got no such file` });
    // A folder given with an explicit format (no extension to refuse it by) is said to be one, for every reader.
    for (const format of ['npy', 'fvecs', 'arrow'] as const) {
      await expect(openVectorFile(dir, { format })).rejects.toMatchObject({ code: 'invalid-argument', message: `${dir}: expected a file, got a directory` });
    }
  });
});

/** The same batches as a List<Float32> column (PyArrow's and pandas' default for vectors). */
function listTable(batches: Float32Array[], d: number): Table {
  const listType = new List(new Field('item', new Float32(), false));
  const fields = [new Field('emb', listType, true)];
  const schema = new Schema(fields);
  return new Table(batches.map((flat) => {
    const n = flat.length / d;
    const child = makeData({ type: new Float32(), length: flat.length, data: flat });
    const emb = makeData({ type: listType, length: n, nullCount: 0, child, valueOffsets: Int32Array.from({ length: n + 1 }, (_, i) => i * d) });
    return new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children: [emb] }));
  }));
}

describe('List<Float32> vector columns in files', () => {
  it('Arrow IPC file and stream, and Parquet (pandas\' layout) read and train as the FixedSizeList column does', async () => {
    const { trainLocal } = await import('../../src/train/local.js');
    const d = 8;
    const batches = [data(0, d), data(700, d, 5), data(900, d, 6), data(400, d, 7)];   // an empty first batch: dim from the next
    const params = { numPartitions: 6, maxIters: 5, seed: 4, pq: { numSubVectors: 2 } };
    const want = await trainLocal(await openVectorFile(join(dir, 'fixed.arrow'), {}).catch(async () => {
      writeFileSync(join(dir, 'fixed.arrow'), tableToIPC(vectorTable(batches, d), 'file'));
      return openVectorFile(join(dir, 'fixed.arrow'));
    }), params);
    const all = new Float32Array(batches.reduce((a, b) => a + b.length, 0));
    batches.reduce((o, b) => (all.set(b, o), o + b.length), 0);
    const { fromFloat32Array } = await import('../../src/sources/memory.js');
    const oneFragment = await trainLocal(fromFloat32Array(all, d, { fragmentRows: all.length / d }), params);
    writeFileSync(join(dir, 'list.arrow'), tableToIPC(listTable(batches, d), 'file'));
    writeFileSync(join(dir, 'list.arrows'), tableToIPC(listTable(batches, d), 'stream'));
    const pw = await import('parquet-wasm');
    writeFileSync(join(dir, 'list.parquet'), pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(listTable(batches.slice(1), d), 'stream'))));
    for (const f of ['list.arrow', 'list.arrows', 'list.parquet']) {
      const src = await openVectorFile(join(dir, f));
      expect(src.dim, f).toBe(d);
      // Global row 703 (the fourth of the 900-row batch), wherever the file's fragments cut.
      let at = 703, frag = 0;
      for (const x of await src.fragments()) { if (at < x.numRows) { frag = x.id; break; } at -= x.numRows; }
      expect(Array.from((await src.readRows(frag, Uint32Array.of(at))).data), f).toEqual(rowsOf(batches[2]!, d, [3]));
      const got = await trainLocal(src, params);
      // The Parquet file is one row group (one fragment): its model is that of the rows as one fragment.
      const ref = f.endsWith('.parquet') ? oneFragment : want;
      expect(Array.from(got.ivf.centroids), f).toEqual(Array.from(ref.ivf.centroids));
      await src.close?.();
    }
    // Batches (row groups) of null rows, first and later, and a first row that is null: nulls, as in a FixedSizeList column.
    const nullBatch = (n: number) => { const t = listTable([new Float32Array(n * d)], d); return t.batches[0]!; };
    const withNulls = (n: number): RecordBatch => {
      const b = nullBatch(n);
      const emb = b.data.children[0]!;
      const nulled = makeData({ type: emb.type, length: n, nullCount: n, nullBitmap: new Uint8Array(Math.ceil(n / 8)), child: emb.children[0]!, valueOffsets: new Int32Array(n + 1) } as never);
      return new RecordBatch(b.schema, makeData({ type: b.data.type, length: n, nullCount: 0, children: [nulled] }));
    };
    const mixed = new Table([withNulls(5), ...listTable(batches.slice(1, 3), d).batches, withNulls(7)]);
    writeFileSync(join(dir, 'nulls.arrow'), tableToIPC(mixed, 'file'));
    writeFileSync(join(dir, 'nulls.parquet'), pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(new Table([withNulls(5), ...listTable(batches.slice(1, 2), d).batches]), 'stream')),
      new pw.WriterPropertiesBuilder().setMaxRowGroupSize(5).build()));
    for (const f of ['nulls.arrow', 'nulls.parquet']) {
      const src = await openVectorFile(join(dir, f));
      expect(src.dim, f).toBe(d);
      expect(await src.readRows(0, Uint32Array.of(0, 4)), f).toEqual({ data: new Float32Array(0), nulls: 2, valid: Uint8Array.of(0, 0) });
      const frags = await src.fragments();
      const last = frags.at(-1)!;
      const r = await src.readRows(last.id, Uint32Array.of(0));
      expect(r.data.length + (r.nulls ?? 0) * d, f).toBe(d);
      await src.close?.();
    }
    // A later batch whose rows hold another number of values: refused when read, not passed on.
    writeFileSync(join(dir, 'ragged.arrow'), tableToIPC(new Table([...listTable([batches[1]!], d).batches, ...listTable([data(10, d + 2, 9)], d + 2).batches]), 'file'));
    const ragged = await openVectorFile(join(dir, 'ragged.arrow'));
    await expect(ragged.readRows(1, Uint32Array.of(0))).rejects.toMatchObject({ code: 'dimension-mismatch' });
    await ragged.close?.();
    // A column the file does not have: the Parquet error lists the columns there are.
    await expect(openVectorFile(join(dir, 'list.parquet'), { column: 'nope' })).rejects.toThrow(/\(columns: \[emb: List<Float32>\]\)/);
  });
});

describe('writeFileAtomic', () => {
  it('leaves no temporary or partial file when the target folder is missing', async () => {
    const sub = join(dir, 'atomic');
    await writeFileAtomic(join(dir, 'ok.bin'), new Uint8Array([1, 2, 3]));
    expect(readFileSync(join(dir, 'ok.bin'))).toEqual(Buffer.from([1, 2, 3]));
    await expect(writeFileAtomic(join(sub, 'no', 'x.bin'), new Uint8Array(3))).rejects.toThrow(/expected a writable location/);
    expect(existsSync(join(sub, 'no'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('Arrow IPC over HTTP (fetch with Range)', () => {
  it('reads batches with range requests whatever the HEAD reply says, and falls back to one GET when the server ignores Range', async () => {
    const { createServer } = await import('node:http');
    const d = 4;
    const batches = Array.from({ length: 5 }, (_, i) => data(1000, d, 40 + i));
    const bytes = tableToIPC(vectorTable(batches, d), 'file');
    const log: string[] = [];
    // ranges: the server honours Range; advertise: HEAD says Accept-Ranges (a cross-origin page cannot read it);
    // head: HEAD's status; headLength: HEAD gives Content-Length; contentRange: 206 replies give the total.
    let mode = { ranges: true, advertise: true, head: 200, headLength: true, contentRange: true, missing: false, refuse: false };
    const server = createServer((req, res) => {
      const range = req.headers.range;
      log.push(`${req.method} ${range ?? ''}`);
      if (mode.missing) {
        res.writeHead(404);
        return res.end();
      }
      if (req.method === 'HEAD') {
        res.writeHead(mode.head, { ...(mode.headLength ? { 'content-length': bytes.length } : {}), ...(mode.advertise ? { 'accept-ranges': 'bytes' } : {}) });
        return res.end();
      }
      if (mode.refuse && range) {
        res.writeHead(416);
        return res.end();
      }
      const m = mode.ranges && range ? /bytes=(\d+)-(\d+)/.exec(range) : null;
      if (m) {
        const body = bytes.subarray(+m[1]!, +m[2]! + 1);
        res.writeHead(206, { 'content-length': body.length, ...(mode.contentRange ? { 'content-range': `bytes ${m[1]}-${m[2]}/${bytes.length}` } : {}) });
        return res.end(body);
      }
      res.writeHead(200, { 'content-length': bytes.length });
      res.end(bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v.arrow`;
    const check = async (m: typeof mode, ranged: boolean): Promise<void> => {
      mode = m;
      log.length = 0;
      const s = await fromArrowIPC(url);
      expect(await s.fragments()).toHaveLength(5);
      expect(Array.from((await s.readRows(3, Uint32Array.of(999))).data)).toEqual(rowsOf(batches[3]!, d, [999]));
      expect(Array.from((await s.readRows(0, Uint32Array.of(0, 5))).data)).toEqual(rowsOf(batches[0]!, d, [0, 5]));
      const gets = log.filter((l) => l.startsWith('GET'));
      if (ranged) {
        expect(gets.every((l) => /bytes=\d+-\d+/.test(l))).toBe(true);
        expect(gets.length).toBeGreaterThan(2);
      } else {
        expect(gets.filter((l) => !/bytes=0-0$/.test(l))).toHaveLength(m.ranges ? 1 : 0);
        expect(gets.length).toBeLessThanOrEqual(2);
      }
    };
    try {
      const base = { ranges: true, advertise: true, head: 200, headLength: true, contentRange: true, missing: false, refuse: false };
      await check(base, true);
      await check({ ...base, advertise: false }, true);                               // Accept-Ranges unreadable or absent
      await check({ ...base, headLength: false }, true);                              // no Content-Length: the size from Content-Range
      await check({ ...base, head: 403, headLength: false }, true);                   // HEAD refused (pre-signed GET URLs)
      await check({ ...base, head: 405, headLength: false, contentRange: false }, false); // no way to learn the size: one whole GET
      await check({ ...base, ranges: false }, false);                                 // Range ignored: the probe's body is the file
      await check({ ...base, refuse: true }, false);                                  // every Range refused (416): one plain GET
      mode = { ...base, missing: true };
      await expect(fromArrowIPC(url)).rejects.toMatchObject({ code: 'io-error', message: expect.stringMatching(/got 404 \(HEAD: 404\)/) });
      await expect(fromArrowIPC('data/v.arrow')).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/openVectorFile/) });
    } finally {
      server.close();
    }
  });
});
