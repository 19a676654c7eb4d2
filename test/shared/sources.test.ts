import { describe, expect, it } from 'vitest';
import { Field, FixedSizeList, Float16, Float32, Float64, Int32, LargeList, List, RecordBatch, Schema, Struct, Table, makeData, util } from 'apache-arrow';
import { fromArrowTable, fromFloat32Array, halfToFloat } from '../../src/sources/index.js';
import { IvfkitError } from '../../src/util/errors.js';

function fsl(values: Float32Array | Float64Array | Uint16Array, dim: number, T: typeof Float32 | typeof Float64 | typeof Float16, nullBitmap?: Uint8Array, nullCount = 0) {
  const child = makeData({ type: new T(), length: values.length, data: values as never });
  return makeData({ type: new FixedSizeList(dim, new Field('item', new T(), false)), length: values.length / dim, nullCount, child, ...(nullBitmap ? { nullBitmap } : {}) });
}

function tableOf(batches: { emb: ReturnType<typeof fsl>; id?: Int32Array }[]): Table {
  const rbs = batches.map(({ emb, id }) => {
    const idData = makeData({ type: new Int32(), length: emb.length, data: id ?? new Int32Array(emb.length) });
    const fields = [new Field('id', new Int32(), false), new Field('emb', emb.type, true)];
    return new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: emb.length, nullCount: 0, children: [idData, emb] }));
  });
  return new Table(rbs);
}

const seq = (n: number, f = (i: number) => i) => Float32Array.from({ length: n }, (_, i) => f(i));

describe('fromFloat32Array', () => {
  it('cuts fragments of fragmentRows rows and reads the requested rows', async () => {
    const src = fromFloat32Array(seq(10 * 3), 3, { fragmentRows: 4 });
    expect(src.dim).toBe(3);
    expect(await src.fragments()).toEqual([{ id: 0, numRows: 4 }, { id: 1, numRows: 4 }, { id: 2, numRows: 2 }]);
    const r = await src.readRows(1, Uint32Array.of(0, 3));
    expect(Array.from(r.data)).toEqual([12, 13, 14, 21, 22, 23]);
    expect(r.nulls).toBe(0);
    expect(Array.from((await src.readRows(2, Uint32Array.of(1))).data)).toEqual([27, 28, 29]);
  });
  it('copies runs of consecutive offsets and single rows alike, for narrow and wide rows', async () => {
    for (const dim of [3, 40]) {
      const data = seq(50 * dim, (i) => i * 0.5);
      const src = fromFloat32Array(data, dim, { fragmentRows: 20 });
      const offsets = Uint32Array.of(0, 1, 2, 5, 9, 10, 19);
      const got = (await src.readRows(1, offsets)).data;
      const want = Float32Array.from(Array.from(offsets).flatMap((o) => Array.from(data.subarray((20 + o) * dim, (21 + o) * dim))));
      expect(got).toEqual(want);
    }
  });
  it('rejects bad input with expected and actual values', () => {
    expect(() => fromFloat32Array(seq(7), 3)).toThrow(/multiple of dim 3, got 7/);
    expect(() => fromFloat32Array(seq(6), 3, { fragmentRows: 0 })).toThrow(/fragmentRows: expected a positive integer, got 0/);
    const src = fromFloat32Array(seq(12), 3, { fragmentRows: 2 });
    expect(() => src.readRows(5, Uint32Array.of(0))).toThrow(/fragment id: expected an integer in \[0, 2\), got 5/);
    expect(() => src.readRows(0, Uint32Array.of(2))).toThrow(/expected < 2, got 2/);
    expect(() => src.readRows(0, Uint32Array.of(1, 0))).toThrow(IvfkitError);
  });
  it('has no fragments for an empty array', async () => {
    expect(await fromFloat32Array(new Float32Array(0), 4).fragments()).toEqual([]);
  });
});

/** A List (or LargeList) column of float rows of any lengths; null where rows[i] is null. */
function listOf(rows: (number[] | null)[], T: typeof Float32 | typeof Float64 = Float32, large = false) {
  const values = (T === Float64 ? Float64Array : Float32Array).from(rows.flatMap((r) => r ?? []));
  const child = makeData({ type: new T(), length: values.length, data: values as never });
  const ends = rows.reduce<number[]>((a, r) => [...a, a.at(-1)! + (r?.length ?? 0)], [0]);
  const valueOffsets = large ? BigInt64Array.from(ends.map(BigInt)) : Int32Array.from(ends);
  const nulls = rows.map((r) => r === null);
  const nullCount = nulls.filter(Boolean).length;
  const nullBitmap = nullCount ? Uint8Array.from({ length: Math.ceil(rows.length / 8) }, (_, b) =>
    nulls.slice(b * 8, b * 8 + 8).reduce((m, isNull, i) => m | (isNull ? 0 : 1 << i), 0)) : undefined;
  const type = large ? new LargeList(new Field('item', new T(), false)) : new List(new Field('item', new T(), false));
  return makeData({ type: type as never, length: rows.length, nullCount, child, valueOffsets: valueOffsets as never, ...(nullBitmap ? { nullBitmap } : {}) }) as never as ReturnType<typeof fsl>;
}

describe('fromArrowTable', () => {
  it('reads List and LargeList columns of one length (pandas, PyArrow): dim from the first non-null row, nulls counted, other lengths refused', async () => {
    for (const large of [false, true]) {
      const t = tableOf([{ emb: listOf([null, [1, 2, 3], [4, 5, 6]], Float32, large) }, { emb: listOf([[7, 8, 9], null, [10, 11, 12.5]], Float32, large) }]);
      const src = fromArrowTable(t);
      expect(src.dim).toBe(3);
      expect(await src.fragments()).toEqual([{ id: 0, numRows: 3 }, { id: 1, numRows: 3 }]);
      expect(await src.readRows(0, Uint32Array.of(0, 1, 2))).toEqual({ data: Float32Array.of(1, 2, 3, 4, 5, 6), nulls: 1, valid: Uint8Array.of(0, 1, 1) });
      expect(await src.readRows(1, Uint32Array.of(0, 1, 2))).toEqual({ data: Float32Array.of(7, 8, 9, 10, 11, 12.5), nulls: 1, valid: Uint8Array.of(1, 0, 1) });
      const f64 = fromArrowTable(tableOf([{ emb: listOf([[0.1, 2], [3, 4]], Float64, large) }]));
      expect(Array.from((await f64.readRows(0, Uint32Array.of(0))).data)).toEqual([Math.fround(0.1), 2]);
      const sliced = fromArrowTable(tableOf([{ emb: listOf([[0, 1], [2, 3], [4, 5], [6, 7]], Float32, large) }]).slice(1, 3));
      expect(Array.from((await sliced.readRows(0, Uint32Array.of(0, 1))).data)).toEqual([2, 3, 4, 5]);
      const ragged = fromArrowTable(tableOf([{ emb: listOf([[1, 2], [3, 4], [5, 6, 7]], Float32, large) }]));
      expect(Array.from((await ragged.readRows(0, Uint32Array.of(0, 1))).data)).toEqual([1, 2, 3, 4]);
      await expect(async () => ragged.readRows(0, Uint32Array.of(1, 2))).rejects.toMatchObject({
        code: 'dimension-mismatch', message: 'column "emb" fragment 0 row 2: expected 2 values (the first row\'s), got 3' });
      expect(() => fromArrowTable(tableOf([{ emb: listOf([null, null], Float32, large) }]))).toThrow(/expected a non-null row to learn the length of its lists from, got none/);
      // With the dim known (a batch of a larger file): null rows only, and rows of another length refused.
      expect(await fromArrowTable(tableOf([{ emb: listOf([null, null], Float32, large) }]), { dim: 3 }).readRows(0, Uint32Array.of(0, 1))).toEqual({ data: new Float32Array(0), nulls: 2, valid: Uint8Array.of(0, 0) });
      await expect(async () => fromArrowTable(tableOf([{ emb: listOf([[1, 2]], Float32, large) }]), { dim: 3 }).readRows(0, Uint32Array.of(0))).rejects.toMatchObject({ code: 'dimension-mismatch' });
    }
  });

  it('treats record batches as fragments and reads Float32 rows', async () => {
    const t = tableOf([{ emb: fsl(seq(8), 2, Float32) }, { emb: fsl(seq(6, (i) => 100 + i), 2, Float32) }]);
    const src = fromArrowTable(t);
    expect(src.dim).toBe(2);
    expect(await src.fragments()).toEqual([{ id: 0, numRows: 4 }, { id: 1, numRows: 3 }]);
    expect(Array.from((await src.readRows(1, Uint32Array.of(0, 2))).data)).toEqual([100, 101, 104, 105]);
  });
  it('converts Float16 (raw half bits) and Float64 to f32', async () => {
    const halves = Uint16Array.from([1.5, -2, 65504, 2 ** -14, 3.140625, 0], (v) => util.float64ToUint16(v));
    const src16 = fromArrowTable(tableOf([{ emb: fsl(halves, 3, Float16) }]));
    expect(Array.from((await src16.readRows(0, Uint32Array.of(0, 1))).data)).toEqual([1.5, -2, 65504, 2 ** -14, 3.140625, 0].map(Math.fround));
    for (const h of [0x0001, 0x3c00, 0x7bff, 0x8400, 0x7c00, 0xfc00]) expect(halfToFloat(h)).toBe(util.uint16ToFloat64(h));
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
    const f64 = Float64Array.of(0.1, 0.2, 1e300, 4);
    const src64 = fromArrowTable(tableOf([{ emb: fsl(f64, 2, Float64) }]));
    expect(Array.from((await src64.readRows(0, Uint32Array.of(0, 1))).data)).toEqual([Math.fround(0.1), Math.fround(0.2), Infinity, 4]);
  });
  it('skips and counts null rows', async () => {
    // rows 0..4, row 1 and row 3 null
    const emb = fsl(seq(10), 2, Float32, Uint8Array.of(0b10101), 2);
    const src = fromArrowTable(tableOf([{ emb }]));
    const r = await src.readRows(0, Uint32Array.of(0, 1, 2, 3, 4));
    expect(r.nulls).toBe(2);
    expect(Array.from(r.data)).toEqual([0, 1, 4, 5, 8, 9]);
    expect(r.valid, 'which offsets were null').toEqual(Uint8Array.of(1, 0, 1, 0, 1));
    expect((await src.readRows(0, Uint32Array.of(0, 2))).valid, 'no nulls among them: no flags').toBeUndefined();
  });
  it('reads slices of tables without re-applying offsets', async () => {
    const t = tableOf([{ emb: fsl(seq(20), 2, Float32) }]).slice(3, 7);
    const src = fromArrowTable(t);
    expect(await src.fragments()).toEqual([{ id: 0, numRows: 4 }]);
    expect(Array.from((await src.readRows(0, Uint32Array.of(0, 3))).data)).toEqual([6, 7, 12, 13]);
  });
  it('a FixedSizeList of floats is the vector column beside plain lists of floats (scores, tags)', async () => {
    const fixed = fsl(seq(8), 2, Float32);
    const fields = [new Field('scores', listOf([[1], [2, 3], [4], []]).type, true), new Field('vector', fixed.type, true)];
    const t = new Table([new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: 4, nullCount: 0, children: [listOf([[1], [2, 3], [4], []]), fixed] }))]);
    const src = fromArrowTable(t);
    expect(src.dim).toBe(2);
    expect(Array.from((await src.readRows(0, Uint32Array.of(1))).data)).toEqual([2, 3]);
  });
  it('rejects missing, ambiguous and non-float columns', () => {
    const t = tableOf([{ emb: fsl(seq(4), 2, Float32) }]);
    expect(() => fromArrowTable(t, { column: 'nope' })).toThrow(/expected one of \[id: Int32, emb: FixedSizeList\[2\]<Float32>\], got "nope"/);
    expect(() => fromArrowTable(t, { column: 'id' })).toThrow(/column "id": expected a FixedSizeList, List or LargeList of Float16 \| Float32 \| Float64, got Int32/);
    expect(() => fromArrowTable({} as Table)).toThrow(IvfkitError);
  });
});
