import type { TrainedModels } from '../types.js';
import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import { IvfkitError, rowsOf } from '../util/errors.js';
import { checkModels } from './io.js';

/** Options of the encode functions. */
export interface EncodeOptions {
  /** Kernels to use (default `loadKernels()`). */
  kernels?: Kernels;
}

/**
 * Rows as the index sees them: normalized for cosine (a zero row turns NaN), else unchanged.
 * @internal shared by encode and evaluate
 */
export function prepareRows(models: TrainedModels, data: Float32Array, kernels: Kernels, what = 'data'): Float32Array {
  if (!(data instanceof Float32Array)) throw new IvfkitError('invalid-argument', `${what}: expected a Float32Array, got ${(data as object | null)?.constructor?.name ?? String(data)}`);
  rowsOf(data, models.dim, what);
  return models.metric === 'cosine' ? kernels.normalize(data, models.dim) : data;
}

/**
 * Nearest IVF partition of every row (−1 for a row with non-finite values). l2: squared L2;
 * cosine: rows normalized, then L2 (as Lance); dot: largest inner product (`1 − x·c` smallest).
 */
export async function assignPartitions(models: TrainedModels, data: Float32Array, opts: EncodeOptions = {}): Promise<Int32Array> {
  checkModels(models);
  const kernels = opts.kernels ?? (await loadKernels());
  const rows = prepareRows(models, data, kernels);
  return kernels.assign(rows, models.dim, models.ivf.centroids, { metric: models.metric === 'dot' ? 'dot' : 'l2' }).index;
}

/**
 * PQ codes of every row (8-bit: n × M bytes; 4-bit: n × M/2, even sub-vector in the low nibble).
 * l2/cosine encode the residual against the row's nearest partition (pass `partitions` to reuse an
 * assignment); dot encodes raw vectors, as Lance.
 */
export async function encodePq(models: TrainedModels, data: Float32Array, opts: EncodeOptions & { partitions?: Int32Array } = {}): Promise<Uint8Array> {
  checkModels(models);
  const pq = models.pq;
  if (!pq) throw new IvfkitError('invalid-argument', 'models.pq: expected a PQ model, got none');
  const kernels = opts.kernels ?? (await loadKernels());
  const rows = prepareRows(models, data, kernels);
  const input = models.metric === 'dot' ? rows : residualsFor(models, rows, kernels, opts.partitions);
  return kernels.pqEncode(input, models.dim, pq.codebook, pq.numSubVectors, pq.numBits);
}

/** SQ codes (n × dim bytes): Lance's truncating `(v − lower)·255/(upper − lower)`, clamped, NaN → 0; cosine normalizes first. */
export async function encodeSq(models: TrainedModels, data: Float32Array, opts: EncodeOptions = {}): Promise<Uint8Array> {
  checkModels(models);
  const sq = models.sq;
  if (!sq) throw new IvfkitError('invalid-argument', 'models.sq: expected an SQ model, got none');
  const kernels = opts.kernels ?? (await loadKernels());
  const rows = prepareRows(models, data, kernels);
  return kernels.sqEncode(rows, sq.lower, sq.upper);
}

/** `x − c_p` for each row's partition p (computed by L2 when not given); rows with p < 0 become NaN. */
export function residualsFor(models: TrainedModels, rows: Float32Array, kernels: Kernels, partitions?: Int32Array): Float32Array {
  const dim = models.dim;
  const n = rows.length / dim;
  const part = partitions ?? kernels.assign(rows, dim, models.ivf.centroids, { metric: 'l2' }).index;
  if (part.length !== n) throw new IvfkitError('dimension-mismatch', `partitions length: expected ${n} rows, got ${part.length}`);
  const c = models.ivf.centroids;
  const out = new Float32Array(rows.length);
  for (let i = 0; i < n; i++) {
    const p = part[i]!;
    const o = i * dim;
    if (p < 0 || p >= models.ivf.numPartitions) {
      out.fill(NaN, o, o + dim);
      continue;
    }
    const co = p * dim;
    for (let j = 0; j < dim; j++) out[o + j] = rows[o + j]! - c[co + j]!;
  }
  return out;
}
