import { describe, expect, it } from 'vitest';
import { Field, FixedSizeList, Float32, Int32, RecordBatch, Schema, Struct, Table, makeData, tableToIPC } from 'apache-arrow';
import { fromArrowIPC, type RandomAccess } from '../../src/sources/ipc.js';
import { fromVecs, toVecs } from '../../src/sources/fvecs.js';
import { fromNpyData } from '../../src/sources/npy.js';
import { toNpy } from '../../src/model/npy.js';
import { trainLocal } from '../../src/train/local.js';

const d = 16;

/** Four Gaussian blobs, seeded; one record batch per `batchRows` rows; rows 3 and 40 of batch 1 null. */
function blobs(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    for (let j = 0; j < d; j++) out[i * d + j] = (j % 4 === c ? 10 : 0) + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) * 0.5;
  }
  return out;
}

function ipcTable(flat: Float32Array, batchRows: number, nulls: Map<number, number[]>): Table {
  const listType = new FixedSizeList(d, new Field('item', new Float32(), false));
  const fields = [new Field('id', new Int32(), false), new Field('vector', listType, true)];
  const schema = new Schema(fields);
  const n = flat.length / d;
  const batches: RecordBatch[] = [];
  for (let b = 0, start = 0; start < n; b++, start += batchRows) {
    const rows = Math.min(batchRows, n - start);
    const nr = nulls.get(b) ?? [];
    const bitmap = new Uint8Array(Math.ceil(rows / 8)).fill(255);
    for (const r of nr) bitmap[r >> 3]! &= ~(1 << (r & 7));
    const child = makeData({ type: new Float32(), length: rows * d, data: flat.slice(start * d, (start + rows) * d) });
    const vec = makeData({ type: listType, length: rows, nullCount: nr.length, nullBitmap: bitmap, child });
    const ids = makeData({ type: new Int32(), length: rows, data: Int32Array.from({ length: rows }, (_, i) => start + i) });
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: [ids, vec] })));
  }
  return new Table(batches);
}

describe('Arrow IPC Blob → VectorSource → trainLocal', () => {
  it('trains IVF+PQ from an Arrow IPC Blob, reading record batches as fragments and counting nulls', async () => {
    const n = 2000;
    const flat = blobs(n, 5);
    const table = ipcTable(flat, 500, new Map([[1, [3, 40]]]));
    const blob = new Blob([tableToIPC(table, 'file')]);
    let bytesRead = 0;
    const access: RandomAccess = { size: blob.size, read: async (o, len) => { const b = new Uint8Array(await blob.slice(o, o + len).arrayBuffer()); bytesRead += b.length; return b; } };
    const src = await fromArrowIPC(access);
    expect(src.format).toBe('file');
    expect(src.dim).toBe(d);
    expect(await src.fragments()).toEqual([0, 1, 2, 3].map((id) => ({ id, numRows: 500 })));
    expect(bytesRead).toBeLessThan(blob.size / 10);
    const r = await src.readRows(1, Uint32Array.of(2, 3, 4, 40));
    expect(r.nulls).toBe(2);
    expect(Array.from(r.data)).toEqual([...flat.subarray(502 * d, 503 * d), ...flat.subarray(504 * d, 505 * d)]);

    const models = await trainLocal(await fromArrowIPC(blob), { numPartitions: 4, sampleRate: 512, pq: { numSubVectors: 4, numBits: 4 }, seed: 7 });
    expect(models.dim).toBe(d);
    expect(models.sample.rows + models.sample.dropped).toBe(n);
    expect(models.sample.dropped).toBe(2);
    // the four blobs are found: each centroid has one coordinate group near 10
    const found = new Set<number>();
    for (let c = 0; c < 4; c++) {
      const row = models.ivf.centroids.subarray(c * d, c * d + d);
      const hot = [0, 1, 2, 3].filter((g) => row[g]! > 8);
      expect(hot.length).toBe(1);
      found.add(hot[0]!);
    }
    expect(found.size).toBe(4);
    expect(models.pq!.codebook.length).toBe(16 * d);

    // the stream format and the same data give the same model (fragments and sample are the same)
    const again = await trainLocal(await fromArrowIPC(new Blob([tableToIPC(table, 'stream')])), { numPartitions: 4, sampleRate: 512, pq: { numSubVectors: 4, numBits: 4 }, seed: 7 });
    expect(again.ivf.centroids).toEqual(models.ivf.centroids);
    expect(again.pq!.codebook).toEqual(models.pq!.codebook);
  });

  it('fvecs and npy Blobs read rows by offset in the browser too', async () => {
    const flat = blobs(100, 9);
    const f = await fromVecs(new Blob([toVecs(flat, d)]), 'fvecs', { fragmentRows: 40 });
    expect(Array.from((await f.readRows(2, Uint32Array.of(19))).data)).toEqual(Array.from(flat.subarray(99 * d)));
    const p = await fromNpyData(new Blob([toNpy(flat, [100, d], 'float64')]));
    expect(Array.from((await p.readRows(0, Uint32Array.of(0, 50))).data)).toEqual([...flat.subarray(0, d), ...flat.subarray(50 * d, 51 * d)]);
  });
});
