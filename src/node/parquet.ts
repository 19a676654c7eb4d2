import type { FragmentInfo, FragmentRows } from '../types.js';
import { IvfkitError, withName } from '../util/errors.js';
import { fromArrowTable, listColumnDim, vectorColumn } from '../sources/arrow.js';
import { fragmentAt, joinParts } from '../sources/memory.js';
import { tableFromIPC } from 'apache-arrow';
import type { ClosableSource } from './files.js';
import { fileBlob } from './files.js';

import type { ParquetFile, Table as PwTable, RowGroupMetaData } from 'parquet-wasm';

type ParquetWasm = typeof import('parquet-wasm');
let wasm: Promise<ParquetWasm> | undefined;
async function loadParquetWasm(): Promise<ParquetWasm> {
  wasm ??= import('parquet-wasm').catch((e: unknown) => {
    wasm = undefined;
    throw new IvfkitError('missing-dependency', `Parquet input: expected the optional package parquet-wasm to be installed (npm i parquet-wasm), got ${(e as Error).message}`);
  });
  return wasm;
}

/**
 * A VectorSource over a Parquet file read with parquet-wasm (arrow-rs in WebAssembly): each row
 * group is one fragment; `readRows` decodes only that row group's vector column. The column is a
 * list of floats: `FixedSizeList` (restored from the embedded Arrow schema), or a plain list (pandas' and
 * PyArrow's default) whose rows hold the first row's number of values. Needs the optional dependency `parquet-wasm`.
 */
export async function openParquet(path: string | Blob, opts: { column?: string } = {}): Promise<ClosableSource> {
  const name = typeof path === 'string' ? path : 'Parquet data';
  const blob = typeof path === 'string' ? await fileBlob(path) : path;
  const pw = await loadParquetWasm();
  let file: ParquetFile;
  try { file = await pw.ParquetFile.fromFile(blob); } catch (e) {
    throw new IvfkitError('invalid-file', `${name}: expected a Parquet file, got an error: ${String((e as Error)?.message ?? e)}`);
  }
  const meta = file.metadata();
  const groups = meta.rowGroups();
  const fragments: FragmentInfo[] = groups.map((g: RowGroupMetaData, id: number) => ({ id, numRows: g.numRows() }));
  const decode = (t: PwTable) => tableFromIPC(t.intoIPCStream());
  // Schema and column check on a one-row read of the first row group (a variable-list column learns dim from that row).
  if (!groups.length) throw new IvfkitError('invalid-file', `${name}: expected at least one row group, got none`);
  const readFirst = (columns?: string[]) => file.read({ rowGroups: [0], limit: 1, ...(columns ? { columns } : {}) }).then(decode);
  const first = await readFirst(opts.column === undefined ? undefined : [opts.column]).catch(async (e: unknown) => {
    const all = await readFirst().then((t) => t.schema.fields.map((f) => `${f.name}: ${String(f.type)}`).join(', '), () => undefined);
    throw new IvfkitError('invalid-argument', `${name}: expected column ${opts.column ?? '(vector)'} to be readable` +
      `${all === undefined ? '' : ` (columns: [${all}])`}, got ${String((e as Error)?.message ?? e)}`);
  });
  let vc;
  try { vc = vectorColumn(first.schema.fields, opts.column); } catch (e) { throw withName(e, name); }
  const { column } = vc;
  // A variable-list column: the first non-null row, row group by row group (the probe's one row may be null).
  const dim = vc.dim ?? await listColumnDim(groups.length, async (id) =>
    id === 0 && first.numRows > 0 && first.getChild(column)?.nullCount === 0 ? first : decode(await file.read({ rowGroups: [id], columns: [column] })),
  column, name);
  let cached: { id: number; source: ReturnType<typeof fromArrowTable> } | undefined;
  return {
    dim,
    numRows: fragments.reduce((a, f) => a + f.numRows, 0),
    fragments: () => fragments.map((f) => ({ ...f })),
    async readRows(fragmentId: number, offsets: Uint32Array): Promise<FragmentRows> {
      fragmentAt(fragments, fragmentId, offsets, name);
      if (offsets.length === 0) return { data: new Float32Array(0), nulls: 0 };
      if (cached?.id !== fragmentId) {
        const t = decode(await file.read({ rowGroups: [fragmentId], columns: [column] }));
        cached = { id: fragmentId, source: fromArrowTable(t, { column, dim }) };
      }
      // a row group may decode into several batches: map offsets through them
      const src = cached.source;
      const frags = src.fragments() as FragmentInfo[];
      if (frags.length === 1) return src.readRows(0, offsets);
      const parts: { at: number; len: number; rows: FragmentRows }[] = [];
      let i = 0, base = 0;
      for (const f of frags) {
        let j = i;
        while (j < offsets.length && offsets[j]! < base + f.numRows) j++;
        if (j > i) parts.push({ at: i, len: j - i, rows: src.readRows(f.id, offsets.slice(i, j).map((o) => o - base)) as FragmentRows });
        i = j; base += f.numRows;
      }
      return joinParts(offsets.length, parts);
    },
    close: async () => { cached = undefined; file.free(); },
  };
}
