import { halfToFloat } from '../util/half.js';
import type { TrainedModels } from '../types.js';
import { IvfkitError } from '../util/errors.js';

/** Float types of `.npy` files ivfkit reads and writes (little-endian). */
export type NpyDtype = 'float16' | 'float32' | 'float64';

const DESCR: Record<NpyDtype, string> = { float16: '<f2', float32: '<f4', float64: '<f8' };
const BYTES: Record<NpyDtype, number> = { float16: 2, float32: 4, float64: 8 };
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** A parsed `.npy` header: where the data starts and how to read it. */
export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the first value. */
  dataOffset: number;
  /** Bytes per value. */
  itemSize: number;
}

/** The contents of a `.npy` file read by {@link fromNpy}. float16 is decoded to Float32Array. */
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Float64Array;
}

/**
 * Encodes `values` (C order) as an NPY v1.0 file, little-endian, with the given shape and dtype
 * (default float32). float16 rounds to nearest-even (overflow → ±Infinity). The header is padded so
 * the data starts at a multiple of 64 bytes, as numpy writes it. `np.load` reads the result.
 */
export function toNpy(values: ArrayLike<number>, shape: readonly number[], dtype: NpyDtype = 'float32'): Uint8Array {
  if (!(dtype in DESCR)) throw new IvfkitError('invalid-argument', `npy dtype: expected one of float16, float32, float64, got ${String(dtype)}`);
  if (!Array.isArray(shape) || shape.some((s) => !Number.isSafeInteger(s) || s < 0)) {
    throw new IvfkitError('invalid-argument', `npy shape: expected an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (values.length !== count) {
    throw new IvfkitError('dimension-mismatch', `npy values: expected ${count} values for shape (${shape.join(', ')}), got ${values.length}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + dict.length + 1;
  const total = Math.ceil(unpadded / 64) * 64;
  if (total - 10 > 0xffff) throw new IvfkitError('invalid-argument', `npy header: expected ≤ 65535 bytes, got ${total - 10}`);
  dict += ' '.repeat(total - unpadded) + '\n';
  const item = BYTES[dtype];
  const out = new Uint8Array(total + count * item);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, total - 10, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  if (dtype === 'float32') for (let i = 0; i < count; i++) view.setFloat32(total + 4 * i, values[i]!, true);
  else if (dtype === 'float64') for (let i = 0; i < count; i++) view.setFloat64(total + 8 * i, values[i]!, true);
  else for (let i = 0; i < count; i++) view.setUint16(total + 2 * i, floatToHalf(values[i]!), true);
  return out;
}

/**
 * Parses the header of a `.npy` file (v1, v2 or v3) from its first bytes (128 bytes are enough for
 * numpy's own files of up to a few dimensions; pass more when `IvfkitError` says so).
 * Accepts little-endian (or byte-order-free) float16/32/64 in C order.
 */
export function parseNpyHeader(bytes: Uint8Array): NpyHeader {
  const what = 'npy file';
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new IvfkitError('invalid-file', `${what}: expected the magic "\\x93NUMPY", got ${JSON.stringify(String.fromCharCode(...bytes.subarray(0, 6)))}`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start: number;
  let len: number;
  if (major === 1) { start = 10; len = view.getUint16(8, true); }
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new IvfkitError('invalid-file', `${what}: expected at least 12 header bytes, got ${bytes.length}`);
    start = 12; len = view.getUint32(8, true);
  } else throw new IvfkitError('unsupported-type', `${what} version: expected 1, 2 or 3, got ${major}`);
  if (bytes.length < start + len) {
    throw new IvfkitError('truncated', `${what} header: expected ${start + len} bytes, got ${bytes.length}`);
  }
  const text = new TextDecoder().decode(bytes.subarray(start, start + len));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new IvfkitError('invalid-file', `${what} header: expected a dict with descr, fortran_order and shape, got ${JSON.stringify(text.trim())}`);
  }
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((d) => DESCR[d] === descr || DESCR[d].replace('<', '=') === descr);
  if (!dtype) throw new IvfkitError('unsupported-type', `${what} dtype: expected <f2, <f4 or <f8 (little-endian float), got ${descr}`);
  if (fortran === 'True') throw new IvfkitError('unsupported-type', `${what} order: expected C order (fortran_order False), got Fortran order`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new IvfkitError('invalid-file', `${what} shape: expected integers, got (${shapeText})`);
  return { dtype, shape, dataOffset: start + len, itemSize: BYTES[dtype] };
}

/** Reads a whole `.npy` file written by numpy or {@link toNpy}. float16 values are decoded to a Float32Array. */
export function fromNpy(bytes: Uint8Array): NpyArray {
  if (!(bytes instanceof Uint8Array)) {
    throw new IvfkitError('invalid-argument', `npy bytes: expected a Uint8Array, got ${(bytes as object | null)?.constructor?.name ?? String(bytes)}`);
  }
  const h = parseNpyHeader(bytes);
  const count = h.shape.reduce((a, b) => a * b, 1);
  const need = h.dataOffset + count * h.itemSize;
  if (bytes.length < need) throw new IvfkitError('truncated', `npy data: expected ${need} bytes for shape (${h.shape.join(', ')}) ${h.dtype}, got ${bytes.length}`);
  return { dtype: h.dtype, shape: h.shape, data: decodeFloats(bytes.subarray(h.dataOffset, need), h.dtype) };
}

/** Decodes little-endian floats of `dtype` (any alignment) to a Float32Array (float16/32) or Float64Array. */
export function decodeFloats(bytes: Uint8Array, dtype: NpyDtype): Float32Array | Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / BYTES[dtype];
  if (dtype === 'float64') {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
    return out;
  }
  const out = new Float32Array(n);
  if (dtype === 'float32') {
    if (bytes.byteOffset % 4 === 0) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
    else for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  } else for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  return out;
}


const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
/** number → IEEE binary16 bits, round to nearest even (via float32; NaN → 0x7e00). */
export function floatToHalf(v: number): number {
  F32[0] = v;
  const x = U32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0));
  }
  const half = mant >>> 13;
  const rem = mant & 0x1fff;
  let out = (e << 10) | half;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) out++;
  return sign | out;
}

/** Files for Lance's Python API produced by {@link modelToNpyFiles}. */
export interface LanceNpyFiles {
  /** `(k, d)` — pass as `ivf_centroids_file=` (or `ivf_centroids=np.load(...)`) with `num_partitions=k`. */
  'ivf_centroids.npy': Uint8Array;
  /** `(M, 2^bits, d/M)` — pass as `pq_codebook=np.load(...)` (Lance's flat `[m][c][j]` order). */
  'pq_codebook.npy'?: Uint8Array;
  /** SQ bounds and parameters as JSON text. */
  'sq_bounds.json'?: string;
  /** The parameters Lance's `create_index` needs, as JSON text. */
  'index_params.json': string;
}

/**
 * The trained models as `.npy` files for Lance's Python `create_index`: centroids `(k, d)` and the PQ
 * codebook `(M, 2^bits, d/M)` in `dtype` (use the vector column's float type: Lance casts centroids
 * but not the codebook), SQ bounds and the index parameters as JSON.
 */
export function modelToNpyFiles(models: TrainedModels, opts: { dtype?: NpyDtype } = {}): LanceNpyFiles {
  const dtype = opts.dtype ?? 'float32';
  const { dim, ivf, pq, sq } = models;
  if (!ivf || !(ivf.centroids instanceof Float32Array) || ivf.centroids.length !== ivf.numPartitions * dim) {
    throw new IvfkitError('invalid-model', `ivf.centroids: expected numPartitions ${ivf?.numPartitions} × dim ${dim} values, got ${ivf?.centroids?.length}`);
  }
  const files: LanceNpyFiles = {
    'ivf_centroids.npy': toNpy(ivf.centroids, [ivf.numPartitions, dim], dtype),
    'index_params.json': '',
  };
  const params: Record<string, unknown> = {
    index_type: pq ? 'IVF_PQ' : sq ? 'IVF_SQ' : 'IVF_FLAT',
    metric: models.metric,
    num_partitions: ivf.numPartitions,
    dtype,
  };
  if (pq) {
    const ksub = 2 ** pq.numBits;
    files['pq_codebook.npy'] = toNpy(pq.codebook, [pq.numSubVectors, ksub, dim / pq.numSubVectors], dtype);
    params.num_sub_vectors = pq.numSubVectors;
    params.num_bits = pq.numBits;
  }
  if (sq) {
    files['sq_bounds.json'] = JSON.stringify({ num_bits: sq.numBits, lower: sq.lower, upper: sq.upper }, null, 2) + '\n';
    params.num_bits = sq.numBits;
  }
  files['index_params.json'] = JSON.stringify(params, null, 2) + '\n';
  return files;
}

export { halfToFloat };
