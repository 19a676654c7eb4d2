import { IvfkitError, expectPositiveInt } from '../util/errors.js';
import { halfToFloat, parseNpyHeader } from '../model/npy.js';
import { readExact, type RandomAccess } from './ipc.js';
import { FILE_SOURCE_DEFAULTS, stridedSource, toAccess, type FileSourceOptions, type FileVectorSource } from './fvecs.js';

/**
 * A {@link VectorSource} over a 2-D `.npy` array `(n, dim)` of float16/float32/float64 (C order,
 * little-endian), given as bytes, a Blob/File or a file handle (`ivfkit/node`). Rows are read by
 * offset (coalesced range reads); values are converted to Float32.
 */
export async function fromNpyData(input: Uint8Array | Blob | RandomAccess, opts: FileSourceOptions = {}): Promise<FileVectorSource> {
  const access = toAccess(input);
  const name = opts.name ?? 'npy data';
  const fragmentRows = opts.fragmentRows ?? FILE_SOURCE_DEFAULTS.fragmentRows;
  expectPositiveInt(fragmentRows, 'fragmentRows');
  try {
    const pre = await readExact(access, 0, Math.min(access.size, 12), name);
    let headLen = 12;
    if (pre.length >= 10 && pre[6] === 1) headLen = 10 + new DataView(pre.buffer, pre.byteOffset).getUint16(8, true);
    else if (pre.length >= 12 && (pre[6] === 2 || pre[6] === 3)) headLen = 12 + new DataView(pre.buffer, pre.byteOffset).getUint32(8, true);
    let h;
    try { h = parseNpyHeader(await readExact(access, 0, Math.min(access.size, headLen), name)); } catch (e) {
      if (e instanceof IvfkitError) throw new IvfkitError(e.code, `${name}: ${e.message}`);
      throw e;
    }
    if (h.shape.length !== 2 || h.shape[1]! < 1) {
      throw new IvfkitError('unsupported-type', `${name} shape: expected 2-D (rows, dim) with dim ≥ 1, got (${h.shape.join(', ')})`);
    }
    const [n, dim] = h.shape as [number, number];
    if (n === 0) throw new IvfkitError('empty-source', `${name}: expected at least one row, got shape (0, ${dim})`);
    const rowBytes = dim * h.itemSize;
    const need = h.dataOffset + n * rowBytes;
    if (access.size < need) throw new IvfkitError('truncated', `${name}: expected ${need} bytes for (${n}, ${dim}) ${h.dtype}, got ${access.size}`);
    return stridedSource(access, {
      dim, n, start: h.dataOffset, stride: rowBytes, rowBytes, fragmentRows, name,
      decode(bytes, at, out, o) {
        const v = new DataView(bytes.buffer, bytes.byteOffset + at, rowBytes);
        if (h.dtype === 'float32') for (let j = 0; j < dim; j++) out[o + j] = v.getFloat32(4 * j, true);
        else if (h.dtype === 'float64') for (let j = 0; j < dim; j++) out[o + j] = v.getFloat64(8 * j, true);
        else for (let j = 0; j < dim; j++) out[o + j] = halfToFloat(v.getUint16(2 * j, true));
      },
    });
  } catch (e) {
    await access.close?.();
    throw e;
  }
}
