import type { FragmentInfo, FragmentRows, VectorSource } from '../types.js';
import { IvfkitError, expectPositiveInt } from '../util/errors.js';
import { fragmentAt } from './memory.js';
import { blobAccess, bytesAccess, readExact, readStridedRows, type RandomAccess } from './ipc.js';

/** `.fvecs` (float32), `.bvecs` (uint8) and `.ivecs` (int32): every row is `int32 dim` then dim values, little-endian. */
export type VecsFormat = 'fvecs' | 'bvecs' | 'ivecs';

/** Options of {@link fromVecs} and {@link fromNpyData}. */
export interface FileSourceOptions {
  /** Rows per fragment (the last one holds the remainder). Default {@link FILE_SOURCE_DEFAULTS}.fragmentRows. */
  fragmentRows?: number;
  /** Name used in error messages (a path or URL). */
  name?: string;
}

/** Defaults of {@link FileSourceOptions}. */
export const FILE_SOURCE_DEFAULTS = { fragmentRows: 65_536 } as const;

/** A VectorSource over a file that knows its total row count and can release its handle. */
export interface FileVectorSource extends VectorSource {
  readonly numRows: number;
  close(): Promise<void>;
}

/** Splits `n` rows into fragments of `fragmentRows`. */
export function fixedFragments(n: number, fragmentRows: number): FragmentInfo[] {
  expectPositiveInt(fragmentRows, 'fragmentRows');
  const out: FragmentInfo[] = [];
  for (let s = 0, id = 0; s < n; s += fragmentRows, id++) out.push({ id, numRows: Math.min(fragmentRows, n - s) });
  return out;
}

export function toAccess(input: Uint8Array | Blob | RandomAccess): RandomAccess {
  if (input instanceof Uint8Array) return bytesAccess(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return blobAccess(input);
  if (input && typeof (input as RandomAccess).read === 'function' && typeof (input as RandomAccess).size === 'number') return input as RandomAccess;
  throw new IvfkitError('invalid-argument', `input: expected bytes, a Blob or a RandomAccess, got ${String(input)}`);
}

/**
 * Fixed-stride row reader shared by the vecs and npy sources: rows of `rowBytes` bytes every
 * `stride` bytes from `start`, decoded by `decode(bytes, at, out, outAt)`.
 */
export function stridedSource(access: RandomAccess, layout: {
  dim: number; n: number; start: number; stride: number; rowBytes: number; fragmentRows: number; name: string;
  decode(bytes: Uint8Array, at: number, out: Float32Array, outAt: number, row: number): void;
}): FileVectorSource {
  const { dim, n, fragmentRows, name } = layout;
  const fragments = fixedFragments(n, fragmentRows);
  return {
    dim,
    numRows: n,
    fragments: () => fragments.map((f) => ({ ...f })),
    async readRows(fragmentId: number, offsets: Uint32Array): Promise<FragmentRows> {
      fragmentAt(fragments, fragmentId, offsets, name);
      const out = new Float32Array(offsets.length * dim);
      const base = layout.start + fragmentId * fragmentRows * layout.stride;
      await readStridedRows(access, base, layout.stride, layout.rowBytes, offsets,
        (i, bytes, at) => layout.decode(bytes, at, out, i * dim, fragmentId * fragmentRows + offsets[i]!), name);
      return { data: out, nulls: 0 };
    },
    close: async () => { await access.close?.(); },
  };
}

/**
 * A {@link VectorSource} over `.fvecs` / `.bvecs` / `.ivecs` data (bytes, Blob/File, or a file
 * handle through `ivfkit/node`). Rows are read by offset with coalesced range reads, so sampling a
 * few thousand rows of a multi-GB file reads only those rows. Values are converted to Float32.
 * Every row's `dim` prefix is checked when it is read.
 */
export async function fromVecs(input: Uint8Array | Blob | RandomAccess, format: VecsFormat, opts: FileSourceOptions = {}): Promise<FileVectorSource> {
  const access = toAccess(input);
  const name = opts.name ?? `${format} data`;
  const elem = format === 'bvecs' ? 1 : format === 'fvecs' || format === 'ivecs' ? 4 : 0;
  if (!elem) throw new IvfkitError('invalid-argument', `format: expected fvecs, bvecs or ivecs, got ${String(format)}`);
  const fragmentRows = opts.fragmentRows ?? FILE_SOURCE_DEFAULTS.fragmentRows;
  expectPositiveInt(fragmentRows, 'fragmentRows');
  try {
    if (access.size === 0) throw new IvfkitError('empty-source', `${name}: expected at least one ${format} row, got an empty file`);
    const head = await readExact(access, 0, 4, name);
    const dim = new DataView(head.buffer, head.byteOffset, 4).getInt32(0, true);
    if (!(dim > 0 && dim <= 1 << 20)) throw new IvfkitError('invalid-file', `${name}: expected a leading dimension in [1, 1048576], got ${dim} — not a ${format} file?`);
    const stride = 4 + dim * elem;
    if (access.size % stride !== 0) {
      throw new IvfkitError('invalid-file', `${name} size: expected a multiple of the row size ${stride} (4 + ${dim} × ${elem}), got ${access.size} bytes — truncated or not ${format}?`);
    }
    // The second and last rows' headers too: a file of another format whose size happens to divide fails here, not mid-training.
    for (const row of access.size / stride > 1 ? [1, access.size / stride - 1] : []) {
      const h = await readExact(access, row * stride, 4, name);
      const d = new DataView(h.buffer, h.byteOffset, 4).getInt32(0, true);
      if (d !== dim) throw new IvfkitError('invalid-file', `${name} row ${row}: expected dimension ${dim} (row 0's), got ${d} — not a ${format} file?`);
    }
    return stridedSource(access, {
      dim, n: access.size / stride, start: 0, stride, rowBytes: stride, fragmentRows, name,
      decode(bytes, at, out, o, row) {
        const v = new DataView(bytes.buffer, bytes.byteOffset + at, stride);
        const d = v.getInt32(0, true);
        if (d !== dim) throw new IvfkitError('invalid-file', `${name} row ${row}: expected dimension ${dim}, got ${d}`);
        if (elem === 1) for (let j = 0; j < dim; j++) out[o + j] = bytes[at + 4 + j]!;
        else if (format === 'ivecs') for (let j = 0; j < dim; j++) out[o + j] = v.getInt32(4 + 4 * j, true);
        else for (let j = 0; j < dim; j++) out[o + j] = v.getFloat32(4 + 4 * j, true);
      },
    });
  } catch (e) {
    await access.close?.();
    throw e;
  }
}

/** Encodes row-major `data` (n × dim) as `.fvecs` (float32) or `.bvecs` (values clamped and rounded to uint8) bytes. */
export function toVecs(data: ArrayLike<number>, dim: number, format: 'fvecs' | 'bvecs' | 'ivecs' = 'fvecs'): Uint8Array {
  expectPositiveInt(dim, 'dim');
  if (data.length % dim !== 0) throw new IvfkitError('dimension-mismatch', `data length: expected a multiple of dim ${dim}, got ${data.length}`);
  const n = data.length / dim;
  const elem = format === 'bvecs' ? 1 : 4;
  const stride = 4 + dim * elem;
  const out = new Uint8Array(n * stride);
  const v = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const o = i * stride;
    v.setInt32(o, dim, true);
    for (let j = 0; j < dim; j++) {
      const x = data[i * dim + j]!;
      if (format === 'bvecs') out[o + 4 + j] = Math.min(255, Math.max(0, Math.round(x)));
      else if (format === 'ivecs') v.setInt32(o + 4 + 4 * j, x, true);
      else v.setFloat32(o + 4 + 4 * j, x, true);
    }
  }
  return out;
}
