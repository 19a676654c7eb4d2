import {
  DataType, Field, FixedSizeList, Float32, RecordBatch, Schema, Struct, Table, Uint8, makeData, tableFromIPC, tableToIPC,
  type Data,
} from 'apache-arrow';
import { IvfkitError, shown } from '../util/errors.js';
import { Hasher } from '../util/hash.js';
import { SAMPLE_FORMAT_VERSION, checkResultFragments, checkTask, type SampleResult, type SampleTask } from '../train/sample.js';

/** A {@link SampleTask} as JSON text. */
export function serializeSampleTask(task: SampleTask): string {
  checkTask(task);
  return JSON.stringify(task);
}

/** Parses and validates a task written by {@link serializeSampleTask}. */
export function deserializeSampleTask(json: string): SampleTask {
  const task = parseJson(json, 'sample task') as unknown as SampleTask;
  checkTask(task);
  return task;
}

/**
 * A {@link SampleResult} as `{ json, arrow }`: `json` holds ids, counts, bounds and metadata;
 * `arrow` is an Arrow IPC stream with one batch, columns `sample: Uint8` (0 = IVF row,
 * 1 = quantizer row) and `vector: FixedSizeList<Float32, dim>` — the IVF rows, then the quantizer rows.
 * `json.checksum` (64 bits over the rows' bits) lets {@link deserializeSampleResult} reject rows changed in transit.
 */
export function serializeSampleResult(result: SampleResult): { json: string; arrow: Uint8Array } {
  checkResultShape(result);
  const { ivf, quant, dim, ...meta } = result;
  const ni = ivf.length / dim;
  const nq = quant.length / dim;
  const values = new Float32Array(ivf.length + quant.length);
  values.set(ivf, 0);
  values.set(quant, ivf.length);
  const kinds = new Uint8Array(ni + nq).fill(1, ni);
  const listType = new FixedSizeList(dim, new Field('item', new Float32(), false));
  const fields = [new Field('sample', new Uint8(), false), new Field('vector', listType, false)];
  const children = [
    makeData({ type: new Uint8(), length: ni + nq, data: kinds }),
    makeData({ type: listType, length: ni + nq, nullCount: 0, child: makeData({ type: new Float32(), length: values.length, data: values }) }),
  ];
  const schema = new Schema(fields, new Map([['ivfkit.sample_result_version', String(SAMPLE_FORMAT_VERSION)]]));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length: ni + nq, nullCount: 0, children }));
  const json = JSON.stringify({ ...meta, dim, ivfRows: ni, quantRows: nq, sqBounds: result.sqBounds, checksum: rowsChecksum(values) });
  return { json, arrow: tableToIPC(new Table([batch]), 'stream') };
}

/** Rebuilds a {@link SampleResult} from {@link serializeSampleResult}'s output; checks that both parts agree. */
export function deserializeSampleResult(parts: { json: string; arrow: Uint8Array | ArrayBuffer }): SampleResult {
  const meta = parseJson(parts?.json, 'sample result') as Omit<SampleResult, 'ivf' | 'quant'> & { ivfRows: number; quantRows: number; checksum: string };
  if (meta.kind !== 'ivfkit.sample-result') throw new IvfkitError('invalid-result', `sample result kind: expected 'ivfkit.sample-result', got ${JSON.stringify(meta.kind)}`);
  if (meta.version !== SAMPLE_FORMAT_VERSION) throw new IvfkitError('unsupported-version', `sample result version: expected ${SAMPLE_FORMAT_VERSION}, got ${shown(meta.version)}`);
  for (const key of ['dim', 'ivfRows', 'quantRows'] as const) {
    const v = meta[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (key === 'dim' ? 1 : 0)) {
      throw new IvfkitError('invalid-result', `sample result ${key}: expected ${key === 'dim' ? 'a positive' : 'a non-negative'} integer, got ${shown(v)}`);
    }
  }
  const bytes = parts.arrow instanceof ArrayBuffer ? new Uint8Array(parts.arrow) : parts.arrow;
  if (!(bytes instanceof Uint8Array)) {
    throw new IvfkitError('invalid-result', `sample result arrow: expected a Uint8Array or ArrayBuffer, got ${(parts.arrow as object | null)?.constructor?.name ?? typeof parts.arrow}`);
  }
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (e) {
    throw new IvfkitError('invalid-result', `sample result arrow: expected an Arrow IPC stream, got an error: ${(e as Error).message}`);
  }
  const { dim, ivfRows, quantRows, checksum, ...rest } = meta;
  const col = table.getChild('vector');
  if (!col || !DataType.isFixedSizeList(col.type) || (col.type as FixedSizeList).listSize !== dim) {
    throw new IvfkitError('invalid-result', `sample result arrow: expected vector: FixedSizeList<Float32, ${dim}>, got ${col ? String(col.type) : `no vector column (${bytes.length} bytes, ${table.numCols} columns)`}`);
  }
  if (table.numRows !== ivfRows + quantRows) {
    throw new IvfkitError('invalid-result', `sample result rows: expected ${ivfRows} IVF + ${quantRows} quantizer = ${ivfRows + quantRows} (json), got ${table.numRows} (arrow)`);
  }
  const values = new Float32Array(table.numRows * dim);
  let o = 0;
  for (const d of col.data as Data<FixedSizeList<Float32>>[]) {
    values.set((d.children[0]!.values as Float32Array).subarray(0, d.length * dim), o);
    o += d.length * dim;
  }
  const sum = rowsChecksum(values);
  if (sum !== checksum) {
    throw new IvfkitError('invalid-result', `sample result rows: expected checksum ${shown(checksum)} (json), got ${sum} (arrow): the bytes changed after serializeSampleResult`);
  }
  const result: SampleResult = { ...rest, dim, ivf: values.slice(0, ivfRows * dim), quant: values.slice(ivfRows * dim) } as SampleResult;
  checkResultShape(result);
  return result;
}

/** 64 bits over the bits of the rows (IVF then quantizer), 16 hex digits. */
function rowsChecksum(values: Float32Array): string {
  return new Hasher(0x5a3c).bytes(values).hex();
}

function checkResultShape(r: SampleResult): void {
  if (!r || r.kind !== 'ivfkit.sample-result') throw new IvfkitError('invalid-result', `sample result kind: expected 'ivfkit.sample-result', got ${JSON.stringify((r as { kind?: unknown } | null)?.kind)}`);
  if (!Number.isSafeInteger(r.dim) || r.dim < 1) throw new IvfkitError('invalid-result', `sample result dim: expected a positive integer, got ${shown(r.dim)}`);
  checkResultFragments(r);
  if (!(r.ivf instanceof Float32Array) || !(r.quant instanceof Float32Array) || r.ivf.length % r.dim || r.quant.length % r.dim) {
    throw new IvfkitError('invalid-result', `sample result rows: expected Float32Arrays of whole rows of dim ${r.dim}, got ${r.ivf?.length} and ${r.quant?.length} values`);
  }
  const ivfRows = r.fragments.reduce((s, f) => s + f.ivfRows, 0);
  const quantRows = r.fragments.reduce((s, f) => s + f.quantRows, 0);
  if (ivfRows * r.dim !== r.ivf.length || quantRows * r.dim !== r.quant.length) {
    throw new IvfkitError('invalid-result', `sample result rows: expected ${ivfRows} IVF and ${quantRows} quantizer rows (fragment counts), got ${r.ivf.length / r.dim} and ${r.quant.length / r.dim}`);
  }
}

function parseJson(json: string, what: string): Record<string, unknown> {
  if (typeof json !== 'string') throw new IvfkitError('invalid-argument', `${what}: expected a JSON string, got ${typeof json}`);
  try {
    const v = JSON.parse(json) as unknown;
    if (v === null || typeof v !== 'object') throw new Error(`not an object: ${json.slice(0, 40)}`);
    return v as Record<string, unknown>;
  } catch (e) {
    throw new IvfkitError('invalid-argument', `${what}: expected JSON of an object, got an error: ${(e as Error).message}`);
  }
}
