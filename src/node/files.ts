import { open, rename, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { openAsBlob } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { FragmentInfo, FragmentRows, TrainedModels, VectorSource } from '../types.js';
import { IvfkitError } from '../util/errors.js';
import { fromArrowTable } from '../sources/arrow.js';
import { joinParts } from '../sources/memory.js';
import { fromArrowIPC, type RandomAccess } from '../sources/ipc.js';
import { fromVecs, FILE_SOURCE_DEFAULTS, type FileVectorSource, type VecsFormat } from '../sources/fvecs.js';
import { fromNpyData } from '../sources/npy.js';
import { modelToArrowIPC } from '../model/io.js';
import { modelToNpyFiles, type NpyDtype } from '../model/npy.js';

/** Input formats recognised by {@link openVectorFile}. */
export type VectorFileFormat = 'arrow' | 'parquet' | 'fvecs' | 'bvecs' | 'ivecs' | 'npy';

const EXTENSIONS: Record<string, VectorFileFormat> = {
  '.arrow': 'arrow', '.arrows': 'arrow', '.ipc': 'arrow', '.feather': 'arrow',
  '.parquet': 'parquet', '.fvecs': 'fvecs', '.bvecs': 'bvecs', '.ivecs': 'ivecs', '.npy': 'npy',
};

/** The format of a path by its extension, or `undefined`. */
/** Whether files of `format` have named columns (Arrow IPC, Parquet), so that a `column` option applies to them. */
export function hasColumns(format: VectorFileFormat | undefined): boolean {
  return format === 'arrow' || format === 'parquet';
}

export function formatOf(path: string): VectorFileFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}

/** Options of {@link openVectorFile} and {@link openVectorFiles}. */
export interface OpenOptions {
  /** Vector column of Arrow / Parquet files. Default: the only list-of-floats column (FixedSizeList, List or LargeList). */
  column?: string;
  /** Rows per fragment of fvecs/bvecs/npy files. Default 65,536. */
  fragmentRows?: number;
  /** Override the format given by the extension. */
  format?: VectorFileFormat;
}

/** A VectorSource over files; `close()` releases the file handles. */
export interface ClosableSource extends VectorSource {
  /** Rows in all fragments. */
  readonly numRows: number;
  close(): Promise<void>;
}

/** Random access over a local file through one `FileHandle` (positioned reads, nothing else loaded). */
export async function fileAccess(path: string): Promise<RandomAccess> {
  let fh;
  try { fh = await open(path, 'r'); } catch (e) { throw fsError(e, path); }
  const st = await fh.stat();
  if (st.isDirectory()) {
    await fh.close();
    throw fsError(Object.assign(new Error('EISDIR'), { code: 'EISDIR' }), path);
  }
  const size = st.size;
  return {
    size,
    async read(offset, length) {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        let bytesRead: number;
        try { ({ bytesRead } = await fh.read(buf, got, n - got, offset + got)); } catch (e) { throw fsError(e, path); }
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === n ? buf : buf.subarray(0, got);
    },
    close: async () => { await fh.close(); },
  };
}

function fsError(e: unknown, path: string): IvfkitError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new IvfkitError('file-not-found', `${path}: expected an existing file, got no such file`);
  if (code === 'EISDIR') return new IvfkitError('invalid-argument', `${path}: expected a file, got a directory`);
  return new IvfkitError('io-error', `${path}: expected a readable file, got ${code ?? String(e)}`);
}

/**
 * Opens one vector file as a {@link VectorSource}, the format chosen by extension: Arrow IPC
 * (`.arrow`, `.arrows`, `.ipc`, `.feather`; each record batch a fragment), Parquet (`.parquet`;
 * each row group a fragment), `.fvecs` / `.bvecs` / `.ivecs`, `.npy` (2-D). Only metadata is read
 * up front; rows are read on demand.
 */
export async function openVectorFile(path: string, opts: OpenOptions = {}): Promise<ClosableSource> {
  const format = opts.format ?? formatOf(path);
  if (!format) {
    throw new IvfkitError('unsupported-format', `${path}: expected an extension among ${Object.keys(EXTENSIONS).join(' ')}, got "${extname(path) || '(none)'}"`);
  }
  if (opts.column !== undefined && !hasColumns(format)) {
    throw new IvfkitError('invalid-argument', `column "${opts.column}": expected an Arrow or Parquet file (they have columns), got ${path} (${format})`);
  }
  if (format === 'parquet') {
    const { openParquet } = await import('./parquet.js');
    return openParquet(path, opts.column === undefined ? {} : { column: opts.column });
  }
  const access = await fileAccess(path);
  const fileOpts = { name: path, fragmentRows: opts.fragmentRows ?? FILE_SOURCE_DEFAULTS.fragmentRows };
  if (format === 'arrow') return fromArrowIPC(access, { name: path, ...(opts.column === undefined ? {} : { column: opts.column }) });
  if (format === 'npy') return fromNpyData(access, fileOpts);
  return fromVecs(access, format as VecsFormat, fileOpts);
}

/**
 * Opens several files as one source: fragments of file 0, then file 1, ..., renumbered 0, 1, 2, ...
 * (`fragments: 'native'`, default), or one fragment per file (`fragments: 'file'`). All files must
 * have the same dimension. `column` applies to the Arrow and Parquet files among them (at least one).
 */
export async function openVectorFiles(paths: readonly string[], opts: OpenOptions & { fragments?: 'native' | 'file' } = {}): Promise<ClosableSource> {
  if (!Array.isArray(paths)) throw new IvfkitError('invalid-argument', `paths: expected an array of file paths (openVectorFile takes one), got ${JSON.stringify(paths)}`);
  if (paths.length === 0) throw new IvfkitError('invalid-argument', 'paths: expected at least one file, got []');
  const columnar = (p: string): boolean => hasColumns(opts.format ?? formatOf(p));
  if (opts.column !== undefined && !paths.some(columnar)) {
    throw new IvfkitError('invalid-argument', `column "${opts.column}": expected an Arrow or Parquet file among the inputs (they have columns), got ${paths.join(', ')}`);
  }
  const opened: ClosableSource[] = [];
  try {
    for (const p of paths) {
      const { column, ...rest } = opts;
      opened.push(await openVectorFile(p, column !== undefined && columnar(p) ? { ...rest, column } : rest));
    }
    return await concatSources(opened, { names: [...paths], perSource: opts.fragments === 'file' });
  } catch (e) {
    await Promise.all(opened.map((s) => s.close()));
    throw e;
  }
}

/**
 * Concatenates sources of one dimension: fragment ids are renumbered in order. With `perSource`,
 * each source becomes a single fragment (row offsets are mapped onto its own fragments).
 */
export async function concatSources(sources: readonly ClosableSource[], opts: { names?: string[]; perSource?: boolean } = {}): Promise<ClosableSource> {
  const dim = sources[0]!.dim;
  sources.forEach((s, i) => {
    if (s.dim !== dim) {
      throw new IvfkitError('dimension-mismatch', `dim of ${opts.names?.[i] ?? `source ${i}`}: expected ${dim} (as ${opts.names?.[0] ?? 'source 0'}), got ${s.dim}`);
    }
  });
  const parts = await Promise.all(sources.map(async (s) => (await s.fragments()).map((f) => ({ ...f }))));
  const map: { source: number; fragments: FragmentInfo[] }[] = [];
  const fragments: FragmentInfo[] = [];
  parts.forEach((frags, si) => {
    if (opts.perSource) {
      map.push({ source: si, fragments: frags });
      fragments.push({ id: fragments.length, numRows: frags.reduce((a, f) => a + f.numRows, 0) });
    } else for (const f of frags) {
      map.push({ source: si, fragments: [f] });
      fragments.push({ id: fragments.length, numRows: f.numRows });
    }
  });
  if (sources.length === 1 && !opts.perSource) return sources[0]!;
  return {
    dim,
    numRows: fragments.reduce((a, f) => a + f.numRows, 0),
    fragments: () => fragments.map((f) => ({ ...f })),
    async readRows(fragmentId: number, offsets: Uint32Array): Promise<FragmentRows> {
      const m = map[fragmentId];
      if (!Number.isInteger(fragmentId) || m === undefined) {
        throw new IvfkitError('unknown-fragment', `fragment id: expected an integer in [0, ${fragments.length}), got ${fragmentId}`);
      }
      const src = sources[m.source]!;
      const parts: { at: number; len: number; rows: FragmentRows }[] = [];
      let i = 0;
      let base = 0;
      for (const f of m.fragments) {
        let j = i;
        while (j < offsets.length && offsets[j]! < base + f.numRows) j++;
        if (j > i) {
          const local = new Uint32Array(j - i);
          for (let t = i; t < j; t++) local[t - i] = offsets[t]! - base;
          parts.push({ at: i, len: j - i, rows: await src.readRows(f.id, local) });
        }
        i = j;
        base += f.numRows;
      }
      if (i < offsets.length) {
        throw new IvfkitError('invalid-argument', `row offset of fragment ${fragmentId}: expected < ${base}, got ${offsets[i]}`);
      }
      return parts.length === 0 ? { data: new Float32Array(0), nulls: 0 } : joinParts(offsets.length, parts);
    },
    close: async () => { await Promise.all(sources.map((s) => s.close())); },
  };
}

function concatFloats(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Every row of a source in fragment order (null rows skipped and counted). */
export async function readAllRows(source: VectorSource): Promise<{ data: Float32Array; rows: number; nulls: number }> {
  const parts: Float32Array[] = [];
  let nulls = 0;
  for (const f of await source.fragments()) {
    const offsets = new Uint32Array(f.numRows);
    for (let i = 0; i < f.numRows; i++) offsets[i] = i;
    const r = await source.readRows(f.id, offsets);
    parts.push(r.data);
    nulls += r.nulls ?? 0;
  }
  const data = concatFloats(parts);
  return { data, rows: data.length / source.dim, nulls };
}

/**
 * Writes `bytes` to `path` atomically: to a temporary name in the same folder, then renamed. On
 * failure the temporary file is removed, so no partial file is ever left at `path`.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException)?.code;
    throw new IvfkitError('io-error', `${path}: expected a writable location, got ${code ?? String(e)}`);
  }
}

/** Options of {@link writeModelFiles}. */
export interface WriteModelOptions {
  /** Arrow IPC model file (`modelToArrowIPC`). */
  out?: string;
  /** Folder for Lance's Python API: `ivf_centroids.npy`, `pq_codebook.npy`, `sq_bounds.json`, `index_params.json`. */
  npyDir?: string;
  /** Float type of the `.npy` files: the vector column's type. Default float32. */
  dtype?: NpyDtype;
}

/** Writes the model file and/or the `.npy` folder (folders created, each file written atomically). Returns the paths written. */
export async function writeModelFiles(models: TrainedModels, opts: WriteModelOptions): Promise<string[]> {
  if (!opts || (typeof opts.out !== 'string' || opts.out === '') && (typeof opts.npyDir !== 'string' || opts.npyDir === '')) {
    throw new IvfkitError('invalid-argument', `writeModelFiles options: expected out (a model file path) and/or npyDir (a folder), got ${opts ? `{ ${Object.keys(opts).join(', ')} }` : String(opts)}`);
  }
  const written: string[] = [];
  const arrow = opts.out ? modelToArrowIPC(models) : undefined;
  const npy = opts.npyDir ? modelToNpyFiles(models, opts.dtype ? { dtype: opts.dtype } : {}) : undefined;
  if (opts.out && arrow) {
    await makeDir(dirname(opts.out));
    await writeFileAtomic(opts.out, arrow);
    written.push(opts.out);
  }
  if (opts.npyDir && npy) {
    await makeDir(opts.npyDir);
    for (const [name, content] of Object.entries(npy)) {
      if (content === undefined) continue;
      const p = join(opts.npyDir, name);
      await writeFileAtomic(p, content);
      written.push(p);
    }
  }
  return written;
}

async function makeDir(path: string): Promise<void> {
  try { await mkdir(path, { recursive: true }); } catch (e) {
    throw new IvfkitError('io-error', `${path}: expected a folder that exists or can be created, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** A file-backed Blob (no bytes loaded), for readers that take Blobs (parquet-wasm). */
export async function fileBlob(path: string): Promise<Blob> {
  // Node 20's openAsBlob reports a missing file as an invalid argument: stat first, for the error every reader gives.
  try { await stat(path); return await openAsBlob(path); } catch (e) { throw fsError(e, path); }
}

export { fromArrowTable };
