import { halfToFloat } from '../util/half.js';
import { DataType, Precision, Type, type Data, type FixedSizeList, type Float, type Table } from 'apache-arrow';
import type { FragmentInfo, FragmentRows, VectorSource } from '../types.js';
import { IvfkitError, withName } from '../util/errors.js';
import { checkOffsets } from './memory.js';

/** Options of {@link fromArrowTable}. */
export interface ArrowSourceOptions {
  /** Vector column: a `FixedSizeList`, `List` or `LargeList` of Float16 | Float32 | Float64. Default: the only
   *  `FixedSizeList` of floats, else the only list of floats. */
  column?: string;
  /** The row length to expect: for a `List` column, instead of the first non-null row's (a table of one batch of a
   *  larger file, which may hold no non-null row); checked against a `FixedSizeList` column's size. */
  dim?: number;
}

/** A vector column's type: a fixed-size list of floats (its size is the dim), or a variable list of floats (pandas, PyArrow's
 *  default) whose rows must all hold the same number of values. */
export type VectorColumnKind = 'fixed' | 'list';

/**
 * The vector column of a schema: `column` when given (checked), else the only list-of-floats column. Throws
 * `IvfkitError` naming every column with its type when there is none or more than one.
 */
export function vectorColumn(fields: readonly { name: string; type: DataType }[], column?: string): { column: string; kind: VectorColumnKind; dim?: number } {
  const listed = (): string => `[${fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ')}]`;
  let name = column;
  if (name === undefined) {
    // A fixed-size list of floats is a vector column by its type; plain lists (scores, tags) only when no such column is there.
    const fixed = fields.filter((f) => kindOf(f.type) === 'fixed').map((f) => f.name);
    const candidates = fixed.length ? fixed : fields.filter((f) => kindOf(f.type) !== undefined).map((f) => f.name);
    if (candidates.length !== 1) {
      throw new IvfkitError('invalid-argument',
        `column: expected exactly one list-of-floats column (FixedSizeList, List or LargeList of Float16/32/64) or an explicit column option, got ${candidates.length} (${candidates.join(', ') || 'none'}) among ${listed()}`);
    }
    name = candidates[0]!;
  }
  const field = fields.find((f) => f.name === name);
  if (!field) throw new IvfkitError('invalid-argument', `column: expected one of ${listed()}, got "${name}"`);
  const kind = kindOf(field.type);
  if (!kind) {
    throw new IvfkitError('unsupported-type', `column "${name}": expected a FixedSizeList, List or LargeList of Float16 | Float32 | Float64, got ${String(field.type)}`);
  }
  if (kind === 'fixed') {
    const dim = (field.type as FixedSizeList).listSize;
    if (!(dim > 0)) throw new IvfkitError('unsupported-type', `column "${name}": expected list size > 0, got ${dim}`);
    return { column: name, kind, dim };
  }
  return { column: name, kind };
}

/**
 * A {@link VectorSource} over an Arrow table (apache-arrow JS). Each record batch is one fragment,
 * ids 0, 1, 2, ... in batch order. The vector column is a `FixedSizeList` of Float32, Float16 (raw
 * half bits, converted) or Float64 (rounded to f32), or a `List` / `LargeList` of those (as pandas and
 * PyArrow write by default): then dim is the length of the first non-null row, and a row of another length
 * fails the read that meets it (`dimension-mismatch`). Null rows are skipped and counted in
 * `FragmentRows.nulls`; null elements inside a valid row read as NaN (the row is then dropped as
 * non-finite by training, as Lance does). Slices of tables are handled (values are read as-is).
 */
export function fromArrowTable(table: Table, opts: ArrowSourceOptions = {}): VectorSource {
  if (table === null || typeof table !== 'object' || !('schema' in table) || typeof table.getChild !== 'function') {
    throw new IvfkitError('invalid-argument', `table: expected an apache-arrow Table, got ${String(table)}`);
  }
  const { column, kind, dim: fixedDim } = vectorColumn(table.schema.fields, opts.column);
  const chunks = table.getChild(column)!.data as Data<FixedSizeList<Float>>[];
  if (opts.dim !== undefined && !(Number.isSafeInteger(opts.dim) && opts.dim > 0)) {
    throw new IvfkitError('invalid-argument', `dim: expected a positive integer, got ${String(opts.dim)}`);
  }
  if (fixedDim !== undefined && opts.dim !== undefined && opts.dim !== fixedDim) {
    throw new IvfkitError('dimension-mismatch', `column "${column}": expected lists of ${opts.dim} values, got FixedSizeList[${fixedDim}]`);
  }
  const dim = fixedDim ?? opts.dim ?? firstListLength(chunks as unknown as ListData[], column);
  const fragments: FragmentInfo[] = chunks.map((d, id) => ({ id, numRows: d.length }));
  return {
    dim,
    fragments: () => fragments.map((f) => ({ ...f })),
    readRows(fragmentId: number, offsets: Uint32Array): FragmentRows {
      const data = chunks[fragmentId];
      if (!Number.isInteger(fragmentId) || data === undefined) {
        throw new IvfkitError('unknown-fragment', `fragment id: expected an integer in [0, ${chunks.length}), got ${fragmentId}`);
      }
      checkOffsets(offsets, data.length, fragmentId);
      return gatherRows(data, dim, offsets, kind === 'list' ? listStarts(data as unknown as ListData, dim, offsets, column, fragmentId) : undefined);
    },
  };
}

/**
 * The row length of a variable-list column in a file read part by part (`part(i)` for i < parts: a record batch or row
 * group as a table, undefined to skip it): its first non-null row's. `name` prefixes errors.
 */
export async function listColumnDim(parts: number, part: (i: number) => Promise<Table | undefined>, column: string, name: string): Promise<number> {
  for (let i = 0; i < parts; i++) {
    const t = await part(i);
    if (!t) continue;
    try { return fromArrowTable(t, { column }).dim; } catch (e) {
      if (e instanceof IvfkitError && e.code === 'empty-source') continue;      // only null rows in this part
      throw withName(e, name);
    }
  }
  throw new IvfkitError('empty-source', `${name}: expected a non-null row to learn the length of column "${column}"'s lists from, got none`);
}

function kindOf(type: DataType): VectorColumnKind | undefined {
  const fixed = DataType.isFixedSizeList(type);
  if (!fixed && !DataType.isList(type) && !(type.typeId === Type.LargeList)) return undefined;
  const child = (type as FixedSizeList).children?.[0]?.type;
  if (!child || !DataType.isFloat(child)) return undefined;
  return fixed ? 'fixed' : 'list';
}

type ListData = Data & { valueOffsets: Int32Array | BigInt64Array };

const rowStart = (d: ListData, r: number): number => Number(d.valueOffsets[r]!);

/** The length of the first non-null row of a list column (its dim). */
function firstListLength(chunks: ListData[], column: string): number {
  for (const d of chunks) {
    for (let r = 0; r < d.length; r++) {
      if (d.nullCount > 0 && !d.getValid(r)) continue;
      const len = rowStart(d, r + 1) - rowStart(d, r);
      if (!(len > 0)) throw new IvfkitError('unsupported-type', `column "${column}": expected rows of at least one value, got a row of ${len}`);
      return len;
    }
  }
  throw new IvfkitError('empty-source', `column "${column}": expected a non-null row to learn the length of its lists from, got none`);
}

/** Where each requested row of a list column starts in the child values; every non-null one must hold `dim` values. */
function listStarts(d: ListData, dim: number, offsets: Uint32Array, column: string, fragmentId: number): Float64Array {
  const starts = new Float64Array(offsets.length);
  for (let i = 0; i < offsets.length; i++) {
    const r = offsets[i]!;
    const s = rowStart(d, r), len = rowStart(d, r + 1) - s;
    if (len !== dim && (d.nullCount === 0 || d.getValid(r))) {
      throw new IvfkitError('dimension-mismatch', `column "${column}" fragment ${fragmentId} row ${r}: expected ${dim} values (the first row's), got ${len}`);
    }
    starts[i] = s;
  }
  return starts;
}

function gatherRows(data: Data<FixedSizeList<Float>>, dim: number, offsets: Uint32Array, starts?: Float64Array): FragmentRows {
  const child = data.children[0]! as Data<Float>;
  const precision = (child.type as Float).precision;
  const values = child.values as Float32Array | Float64Array | Uint16Array;
  const rowNulls = data.nullCount > 0;
  const elemNulls = child.nullCount > 0;
  let kept = offsets.length;
  const valid = rowNulls ? new Uint8Array(offsets.length) : undefined;
  if (valid) {
    kept = 0;
    for (let i = 0; i < offsets.length; i++) if (data.getValid(offsets[i]!)) { valid[i] = 1; kept++; }
  }
  const out = new Float32Array(kept * dim);
  const half = precision === Precision.HALF ? halfTable() : undefined;
  let w = 0;
  for (let i = 0; i < offsets.length; i++) {
    const r = offsets[i]!;
    if (valid && !valid[i]) continue;
    const src = starts ? starts[i]! : r * dim;
    if (half) {
      for (let j = 0; j < dim; j++) out[w + j] = half[values[src + j]!]!;
    } else if (values instanceof Float32Array) {
      out.set(values.subarray(src, src + dim), w);
    } else {
      for (let j = 0; j < dim; j++) out[w + j] = values[src + j]!;
    }
    if (elemNulls) for (let j = 0; j < dim; j++) if (!child.getValid(src + j)) out[w + j] = NaN;
    w += dim;
  }
  return { data: out, nulls: offsets.length - kept, ...(valid && kept < offsets.length ? { valid } : {}) };
}

let HALF: Float32Array | undefined;
/** All 65,536 IEEE half-precision bit patterns as f32 (exact: every half is an f32). */
function halfTable(): Float32Array {
  if (HALF) return HALF;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfToFloat(h);
  return (HALF = t);
}

export { halfToFloat };
