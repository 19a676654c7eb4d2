import { halfToFloat } from '../util/half.js';
import { DataType, Precision, type Data, type FixedSizeList, type Float, type Table } from 'apache-arrow';
import type { FragmentInfo, FragmentRows, VectorSource } from '../types.js';
import { IvfkitError } from '../util/errors.js';
import { checkOffsets } from './memory.js';

/** Options of {@link fromArrowTable}. */
export interface ArrowSourceOptions {
  /** Vector column: a `FixedSizeList<Float16 | Float32 | Float64>`. Default: the only such column. */
  column?: string;
}

/**
 * A {@link VectorSource} over an Arrow table (apache-arrow JS). Each record batch is one fragment,
 * ids 0, 1, 2, ... in batch order. The vector column is a `FixedSizeList` of Float32, Float16 (raw
 * half bits, converted) or Float64 (rounded to f32). Null rows are skipped and counted in
 * `FragmentRows.nulls`; null elements inside a valid row read as NaN (the row is then dropped as
 * non-finite by training, as Lance does). Slices of tables are handled (values are read as-is).
 */
export function fromArrowTable(table: Table, opts: ArrowSourceOptions = {}): VectorSource {
  if (table === null || typeof table !== 'object' || !('schema' in table) || typeof table.getChild !== 'function') {
    throw new IvfkitError('invalid-argument', `table: expected an apache-arrow Table, got ${String(table)}`);
  }
  const candidates = table.schema.fields.filter((f) => isFloatList(f.type)).map((f) => f.name);
  let column = opts.column;
  if (column === undefined) {
    if (candidates.length !== 1) {
      throw new IvfkitError('invalid-argument',
        `column: expected exactly one FixedSizeList<Float> column or an explicit column option, got ${candidates.length} (${candidates.join(', ') || 'none'}) among [${table.schema.fields.map((f) => f.name).join(', ')}]`);
    }
    column = candidates[0]!;
  }
  const field = table.schema.fields.find((f) => f.name === column);
  if (!field) {
    throw new IvfkitError('invalid-argument', `column: expected one of [${table.schema.fields.map((f) => f.name).join(', ')}], got "${column}"`);
  }
  if (!isFloatList(field.type)) {
    throw new IvfkitError('unsupported-type', `column "${column}": expected FixedSizeList<Float16 | Float32 | Float64>, got ${String(field.type)}`);
  }
  const dim = (field.type as FixedSizeList).listSize;
  if (!(dim > 0)) throw new IvfkitError('unsupported-type', `column "${column}": expected list size > 0, got ${dim}`);
  const chunks = (table.getChild(column)!.data as Data<FixedSizeList<Float>>[]);
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
      return gatherRows(data, dim, offsets);
    },
  };
}

function isFloatList(type: DataType): boolean {
  return DataType.isFixedSizeList(type) && DataType.isFloat((type as FixedSizeList).children[0]!.type);
}

function gatherRows(data: Data<FixedSizeList<Float>>, dim: number, offsets: Uint32Array): FragmentRows {
  const child = data.children[0]! as Data<Float>;
  const precision = (child.type as Float).precision;
  const values = child.values as Float32Array | Float64Array | Uint16Array;
  const rowNulls = data.nullCount > 0;
  const elemNulls = child.nullCount > 0;
  let kept = 0;
  for (let i = 0; i < offsets.length; i++) if (!rowNulls || data.getValid(offsets[i]!)) kept++;
  const out = new Float32Array(kept * dim);
  const half = precision === Precision.HALF ? halfTable() : undefined;
  let w = 0;
  for (let i = 0; i < offsets.length; i++) {
    const r = offsets[i]!;
    if (rowNulls && !data.getValid(r)) continue;
    const src = r * dim;
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
  return { data: out, nulls: offsets.length - kept };
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
