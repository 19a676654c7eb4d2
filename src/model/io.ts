import {
  DataType, Field, FixedSizeList, Float32, RecordBatch, Schema, Struct, Table, Utf8, makeData, tableFromIPC, tableToIPC, vectorFromArray,
  type Data,
} from 'apache-arrow';
import type { Metric, TrainedModels } from '../types.js';
import { IvfkitError } from '../util/errors.js';

/** Version written to `ivfkit.format_version`; readers reject newer files. */
export const MODEL_FORMAT_VERSION = 1;

/**
 * Model file layout (one Arrow IPC *file*, one record batch):
 * - column `kind: Utf8` — `"centroid"` for the k IVF centroids, then `"codebook"` for the 2^bits
 *   PQ codebook rows (absent without PQ);
 * - column `vector: FixedSizeList<Float32, dim>` — centroid rows; the codebook rows hold the flat
 *   `[m][c][j]` codebook exactly as Lance's `FixedSizeList<float, dim>` with 2^bits rows.
 * Schema metadata (strings): `ivfkit.format_version`, `ivfkit.metric`, `ivfkit.dim`,
 * `ivfkit.num_partitions`, `ivfkit.ivf_loss`, `ivfkit.sample_rows`, `ivfkit.sample_dropped`,
 * `ivfkit.quant_sample_rows`, `ivfkit.quant_sample_dropped` (when the model has the quantizer sample's counts),
 * `ivfkit.pq.num_sub_vectors`, `ivfkit.pq.num_bits`, `ivfkit.sq.num_bits`, `ivfkit.sq.lower`,
 * `ivfkit.sq.upper` (present when the model has them), and Lance's `distance_type`.
 * Numbers are written with `String(x)`, so doubles round-trip exactly.
 */
export function modelToArrowIPC(models: TrainedModels): Uint8Array {
  checkModels(models);
  const { dim, ivf, pq, sq } = models;
  const k = ivf.numPartitions;
  const codeRows = pq ? 2 ** pq.numBits : 0;
  const values = new Float32Array((k + codeRows) * dim);
  values.set(ivf.centroids, 0);
  if (pq) values.set(pq.codebook, k * dim);
  const meta = new Map<string, string>([
    ['ivfkit.format_version', String(MODEL_FORMAT_VERSION)],
    ['ivfkit.metric', models.metric],
    ['distance_type', models.metric],
    ['ivfkit.dim', String(dim)],
    ['ivfkit.num_partitions', String(k)],
    ['ivfkit.ivf_loss', String(ivf.loss)],
    ['ivfkit.sample_rows', String(models.sample.rows)],
    ['ivfkit.sample_dropped', String(models.sample.dropped)],
  ]);
  if (models.sample.quant) {
    meta.set('ivfkit.quant_sample_rows', String(models.sample.quant.rows));
    meta.set('ivfkit.quant_sample_dropped', String(models.sample.quant.dropped));
  }
  if (pq) {
    meta.set('ivfkit.pq.num_sub_vectors', String(pq.numSubVectors));
    meta.set('ivfkit.pq.num_bits', String(pq.numBits));
  }
  if (sq) {
    meta.set('ivfkit.sq.num_bits', String(sq.numBits));
    meta.set('ivfkit.sq.lower', String(sq.lower));
    meta.set('ivfkit.sq.upper', String(sq.upper));
  }
  const listType = new FixedSizeList(dim, new Field('item', new Float32(), false));
  const n = k + codeRows;
  const vector = makeData({ type: listType, length: n, nullCount: 0, child: makeData({ type: new Float32(), length: values.length, data: values }) });
  const kinds = vectorFromArray(Array.from({ length: n }, (_, i) => (i < k ? 'centroid' : 'codebook')), new Utf8());
  const fields = [new Field('kind', new Utf8(), false), new Field('vector', listType, false)];
  const schema = new Schema(fields, meta);
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children: [kinds.data[0]!, vector] }));
  return tableToIPC(new Table([batch]), 'file');
}

/** Reads a file written by {@link modelToArrowIPC}. Truncated, foreign or newer files throw `IvfkitError`. */
export function modelFromArrowIPC(input: Uint8Array | ArrayBuffer): TrainedModels {
  const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : input;
  if (!(bytes instanceof Uint8Array)) {
    throw new IvfkitError('invalid-argument', `model bytes: expected a Uint8Array or ArrayBuffer, got ${(input as object | null)?.constructor?.name ?? String(input)}`);
  }
  const magic = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 6));
  if (bytes.length < 12 || magic(0) !== 'ARROW1') {
    throw new IvfkitError('invalid-model', `model file: expected an Arrow IPC file (starting with "ARROW1"), got ${bytes.length} bytes starting with ${JSON.stringify(magic(0))}`);
  }
  if (magic(bytes.length - 6) !== 'ARROW1') {
    throw new IvfkitError('invalid-model', `model file: expected the Arrow IPC footer ("ARROW1" at the end), got ${JSON.stringify(magic(bytes.length - 6))} — truncated file?`);
  }
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (e) {
    throw new IvfkitError('invalid-model', `model file: expected a readable Arrow IPC file, got an error: ${(e as Error).message}`);
  }
  const meta = table.schema.metadata;
  const version = meta.get('ivfkit.format_version');
  if (version === undefined) {
    throw new IvfkitError('invalid-model', `model file: expected schema metadata "ivfkit.format_version", got keys [${[...meta.keys()].join(', ')}] (not an ivfkit model)`);
  }
  const v = Number(version);
  if (!Number.isInteger(v) || v < 1) throw new IvfkitError('invalid-model', `ivfkit.format_version: expected a positive integer, got ${JSON.stringify(version)}`);
  if (v > MODEL_FORMAT_VERSION) {
    throw new IvfkitError('unsupported-version', `ivfkit.format_version: expected ≤ ${MODEL_FORMAT_VERSION}, got ${v} (written by a newer ivfkit)`);
  }
  const str = (key: string): string => {
    const s = meta.get(key);
    if (s === undefined) throw new IvfkitError('invalid-model', `model file: expected schema metadata "${key}", got none`);
    return s;
  };
  const int = (key: string): number => {
    const x = Number(str(key));
    if (!Number.isSafeInteger(x) || x < 0) throw new IvfkitError('invalid-model', `${key}: expected a non-negative integer, got ${JSON.stringify(meta.get(key))}`);
    return x;
  };
  const metric = str('ivfkit.metric') as Metric;
  if (metric !== 'l2' && metric !== 'cosine' && metric !== 'dot') {
    throw new IvfkitError('invalid-model', `ivfkit.metric: expected l2 | cosine | dot, got ${JSON.stringify(metric)}`);
  }
  const dim = int('ivfkit.dim');
  const k = int('ivfkit.num_partitions');
  const hasPq = meta.has('ivfkit.pq.num_bits');
  const numBits = hasPq ? int('ivfkit.pq.num_bits') : 0;
  if (hasPq && numBits !== 4 && numBits !== 8) throw new IvfkitError('invalid-model', `ivfkit.pq.num_bits: expected 4 or 8, got ${numBits}`);
  const codeRows = hasPq ? 2 ** numBits : 0;
  const col = table.getChild('vector');
  const kindCol = table.getChild('kind');
  if (!col || !kindCol || !DataType.isFixedSizeList(col.type) || (col.type as FixedSizeList).listSize !== dim
    || !DataType.isFloat((col.type as FixedSizeList).children[0]!.type)) {
    throw new IvfkitError('invalid-model', `model file: expected columns kind: Utf8 and vector: FixedSizeList<Float32, ${dim}>, got ${table.schema.fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ')}`);
  }
  if (table.numRows !== k + codeRows) {
    throw new IvfkitError('invalid-model', `model rows: expected ${k} centroids + ${codeRows} codebook rows = ${k + codeRows}, got ${table.numRows}`);
  }
  const values = new Float32Array(table.numRows * dim);
  let o = 0;
  for (const d of col.data as Data<FixedSizeList<Float32>>[]) {
    const vals = d.children[0]!.values as Float32Array;
    values.set(vals.subarray(0, d.length * dim), o);
    o += d.length * dim;
  }
  for (let i = 0; i < table.numRows; i++) {
    const want = i < k ? 'centroid' : 'codebook';
    if (kindCol.get(i) !== want) throw new IvfkitError('invalid-model', `kind of row ${i}: expected ${want}, got ${String(kindCol.get(i))}`);
  }
  const models: TrainedModels = {
    metric, dim,
    ivf: { centroids: values.slice(0, k * dim), numPartitions: k, loss: Number(str('ivfkit.ivf_loss')) },
    sample: { rows: int('ivfkit.sample_rows'), dropped: int('ivfkit.sample_dropped') },
  };
  // Absent in files of ivfkit before the counts were kept (same format version: an optional addition).
  if (meta.has('ivfkit.quant_sample_rows')) {
    models.sample.quant = { rows: int('ivfkit.quant_sample_rows'), dropped: int('ivfkit.quant_sample_dropped') };
  }
  if (hasPq) {
    models.pq = { numSubVectors: int('ivfkit.pq.num_sub_vectors'), numBits: numBits as 4 | 8, codebook: values.slice(k * dim) };
  }
  if (meta.has('ivfkit.sq.num_bits')) {
    const bits = int('ivfkit.sq.num_bits');
    if (bits !== 8) throw new IvfkitError('invalid-model', `ivfkit.sq.num_bits: expected 8, got ${bits}`);
    models.sq = { numBits: 8, lower: Number(str('ivfkit.sq.lower')), upper: Number(str('ivfkit.sq.upper')) };
  }
  checkModels(models);
  return models;
}

/** Structural checks of a {@link TrainedModels}; throws IvfkitError naming the field. */
export function checkModels(models: TrainedModels): void {
  if (!models || typeof models !== 'object') throw new IvfkitError('invalid-model', `models: expected an object, got ${String(models)}`);
  const { dim, ivf, pq, sq, metric } = models;
  if (metric !== 'l2' && metric !== 'cosine' && metric !== 'dot') throw new IvfkitError('invalid-model', `metric: expected l2 | cosine | dot, got ${JSON.stringify(metric)}`);
  if (!Number.isSafeInteger(dim) || dim < 1) throw new IvfkitError('invalid-model', `dim: expected a positive integer, got ${String(dim)}`);
  if (!ivf || !(ivf.centroids instanceof Float32Array) || !Number.isSafeInteger(ivf.numPartitions) || ivf.numPartitions < 1) {
    throw new IvfkitError('invalid-model', `ivf: expected { centroids: Float32Array, numPartitions ≥ 1 }, got ${ivf ? `numPartitions ${String(ivf.numPartitions)}` : String(ivf)}`);
  }
  if (ivf.centroids.length !== ivf.numPartitions * dim) {
    throw new IvfkitError('invalid-model', `ivf.centroids length: expected numPartitions ${ivf.numPartitions} × dim ${dim} = ${ivf.numPartitions * dim}, got ${ivf.centroids.length}`);
  }
  if (pq) {
    if (pq.numBits !== 4 && pq.numBits !== 8) throw new IvfkitError('invalid-model', `pq.numBits: expected 4 or 8, got ${String(pq.numBits)}`);
    if (!Number.isSafeInteger(pq.numSubVectors) || pq.numSubVectors < 1 || dim % pq.numSubVectors !== 0) {
      throw new IvfkitError('invalid-model', `pq.numSubVectors: expected a divisor of dim ${dim}, got ${String(pq.numSubVectors)}`);
    }
    if (!(pq.codebook instanceof Float32Array) || pq.codebook.length !== 2 ** pq.numBits * dim) {
      throw new IvfkitError('invalid-model', `pq.codebook length: expected 2^${pq.numBits} × dim ${dim} = ${2 ** pq.numBits * dim}, got ${pq.codebook?.length}`);
    }
  }
  const q = models.sample?.quant;
  if (q !== undefined && (!q || !Number.isSafeInteger(q.rows) || q.rows < 0 || !Number.isSafeInteger(q.dropped) || q.dropped < 0)) {
    throw new IvfkitError('invalid-model', `sample.quant: expected { rows, dropped } as non-negative integers, got ${JSON.stringify(q)}`);
  }
  if (sq && (sq.numBits !== 8 || typeof sq.lower !== 'number' || typeof sq.upper !== 'number' || !(sq.lower <= sq.upper))) {
    throw new IvfkitError('invalid-model', `sq: expected { numBits: 8, lower ≤ upper }, got ${JSON.stringify(sq)}`);
  }
}
