import { tableFromIPC, type Table } from 'apache-arrow';
import type { FragmentInfo, FragmentRows, VectorSource } from '../types.js';
import { IvfkitError, withName } from '../util/errors.js';
import { fromArrowTable, listColumnDim, vectorColumn } from './arrow.js';
import { fragmentAt } from './memory.js';

/**
 * Random access to the bytes of a file, a Blob, a URL or an in-memory buffer. Readers of ivfkit read
 * only the byte ranges they need through it. `read` may return fewer bytes only at the end.
 */
export interface RandomAccess {
  /** Total size in bytes. */
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases a file handle (Node). */
  close?(): Promise<void>;
}

/** Random access over bytes already in memory (no copy). */
export function bytesAccess(bytes: Uint8Array): RandomAccess {
  if (!(bytes instanceof Uint8Array)) {
    throw new IvfkitError('invalid-argument', `bytes: expected a Uint8Array, got ${(bytes as object | null)?.constructor?.name ?? String(bytes)}`);
  }
  return { size: bytes.length, read: async (o, n) => bytes.subarray(o, Math.min(o + n, bytes.length)) };
}

/** Random access over a Blob or File (browser, Deno, Bun, Node ≥ 20): each read is a `slice()`. */
export function blobAccess(blob: Blob): RandomAccess {
  if (typeof Blob === 'undefined' || !(blob instanceof Blob)) {
    throw new IvfkitError('invalid-argument', `blob: expected a Blob or File, got ${(blob as object | null)?.constructor?.name ?? String(blob)}`);
  }
  return { size: blob.size, read: async (o, n) => new Uint8Array(await blob.slice(o, Math.min(o + n, blob.size)).arrayBuffer()) };
}

/**
 * Random access over a URL with HTTP range requests (`fetch`). A one-byte ranged GET tells whether the
 * server honours `Range` (status 206): the way that works across origins, where `Accept-Ranges` is not
 * readable. The size comes from a HEAD request's `Content-Length`, or else from the probe's `Content-Range`.
 * A server that ignores `Range` (status 200), refuses HEAD without giving the size in the probe, or hides
 * both headers from a cross-origin page makes the whole body load once; later reads are then served from memory.
 * `init` goes into every request (headers, credentials). Relative URLs resolve as `fetch` resolves them
 * (against the page in browsers; Node's `fetch` takes absolute URLs only — for files use `openVectorFile`).
 */
export async function urlAccess(url: string | URL, init: RequestInit = {}): Promise<RandomAccess> {
  const href = String(url);
  const get = async (what: string, req: RequestInit): Promise<Response> => {
    try {
      return await fetch(href, { ...init, ...req });
    } catch (e) {
      const msg = (e as Error)?.message ?? String(e);
      const nodePath = !URL.canParse?.(href) && typeof (globalThis as { location?: unknown }).location === 'undefined';
      throw new IvfkitError(nodePath ? 'invalid-argument' : 'io-error', `${what} ${href}: expected a response, got ${msg}` +
        (nodePath ? ' (not an absolute URL; for a file path use openVectorFile from \'ivfkit/node\')' : ''));
    }
  };
  const head = await get('HEAD', { method: 'HEAD' });
  const cl = head.ok ? head.headers.get('content-length') : null;
  let size = cl !== null && /^\s*\d+\s*$/.test(cl) ? Number(cl) : undefined;
  const probeHeaders = new Headers(init.headers);
  probeHeaders.set('Range', 'bytes=0-0');
  const probe = await get('GET', { headers: probeHeaders });
  let whole: Uint8Array | undefined;
  if (probe.status === 206) {
    await probe.arrayBuffer();
    if (size === undefined) {
      const m = /\/\s*(\d+)\s*$/.exec(probe.headers.get('content-range') ?? '');
      if (m) size = Number(m[1]);
    }
  } else if (probe.status === 416) {
    await probe.arrayBuffer().catch(() => undefined);
    if (size === 0) whole = new Uint8Array(0);
    else size = undefined;                                   // a server that refuses the probe's range: one plain GET below
  } else if (probe.ok) {
    whole = new Uint8Array(await probe.arrayBuffer());   // Range ignored: this is the whole body
  } else {
    await probe.arrayBuffer().catch(() => undefined);
    throw new IvfkitError('io-error', `GET ${href}: expected status 200 or 206, got ${probe.status}` + (head.ok ? '' : ` (HEAD: ${head.status})`));
  }
  if (!whole && size === undefined) {
    const res = await get('GET', {});
    if (!res.ok) throw new IvfkitError('io-error', `GET ${href}: expected status 200, got ${res.status}`);
    whole = new Uint8Array(await res.arrayBuffer());
  }
  const total = whole ? whole.length : size!;
  return {
    size: total,
    async read(o, n) {
      const end = Math.min(o + n, total);
      if (whole) return whole.subarray(o, end);
      if (end <= o) return new Uint8Array(0);
      const headers = new Headers(init.headers);
      headers.set('Range', `bytes=${o}-${end - 1}`);
      const res = await get('GET', { headers });
      if (res.status === 200) {
        whole = new Uint8Array(await res.arrayBuffer());
        return whole.subarray(o, end);
      }
      if (res.status !== 206) throw new IvfkitError('io-error', `GET ${href} bytes ${o}-${end - 1}: expected status 206, got ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

/** Reads exactly `length` bytes or throws a truncation error naming `what`. */
export async function readExact(access: RandomAccess, offset: number, length: number, what: string): Promise<Uint8Array> {
  const b = await access.read(offset, length);
  if (b.length !== length) throw new IvfkitError('truncated', `${what}: expected ${length} bytes at offset ${offset}, got ${b.length} (file size ${access.size})`);
  return b;
}

/**
 * Reads fixed-stride rows (`offsets` ascending) with few large reads: neighbouring rows closer than
 * `gap` bytes share one read of at most `maxRead` bytes. Calls `onRow(i, bytes, at)` for offset i,
 * the row's bytes being `bytes[at .. at + rowBytes)`.
 */
export async function readStridedRows(
  access: RandomAccess, start: number, stride: number, rowBytes: number, offsets: Uint32Array,
  onRow: (i: number, bytes: Uint8Array, at: number) => void, what: string,
  opts: { gap?: number; maxRead?: number } = {},
): Promise<void> {
  const gap = opts.gap ?? 65_536;
  const maxRead = Math.max(opts.maxRead ?? 8 * 2 ** 20, stride);
  let i = 0;
  while (i < offsets.length) {
    const first = start + offsets[i]! * stride;
    let j = i + 1;
    let end = first + rowBytes;
    while (j < offsets.length) {
      const s = start + offsets[j]! * stride;
      if (s - end > gap || s + rowBytes - first > maxRead) break;
      end = s + rowBytes;
      j++;
    }
    const bytes = await readExact(access, first, end - first, what);
    for (let t = i; t < j; t++) onRow(t, bytes, start + offsets[t]! * stride - first);
    i = j;
  }
}

// ---- minimal flatbuffers reader (Arrow IPC metadata) ----
class Fb {
  readonly v: DataView;
  constructor(readonly b: Uint8Array) { this.v = new DataView(b.buffer, b.byteOffset, b.byteLength); }
  root(): number { return this.v.getUint32(0, true); }
  private field(t: number, i: number): number {
    const vt = t - this.v.getInt32(t, true);
    const vo = 4 + 2 * i;
    return vo < this.v.getUint16(vt, true) ? this.v.getUint16(vt + vo, true) : 0;
  }
  u8(t: number, i: number): number { const f = this.field(t, i); return f ? this.v.getUint8(t + f) : 0; }
  i16(t: number, i: number, dflt: number): number { const f = this.field(t, i); return f ? this.v.getInt16(t + f, true) : dflt; }
  i64(t: number, i: number): number { const f = this.field(t, i); return f ? Number(this.v.getBigInt64(t + f, true)) : 0; }
  ref(t: number, i: number): number { const f = this.field(t, i); return f ? t + f + this.v.getUint32(t + f, true) : 0; }
}

const MSG_SCHEMA = 1;
const MSG_DICTIONARY = 2;
const MSG_RECORD_BATCH = 3;

/** An encapsulated IPC message located in the file: `[offset, offset + length)`. */
interface Block { offset: number; length: number; rows: number }

interface IpcLayout { format: 'file' | 'stream'; schema: Uint8Array; dictionaries: Block[]; batches: Block[] }

/** Parses an encapsulated message prefix; returns metadata span and body length. */
function messagePrefix(head: Uint8Array): { metaStart: number; metaLength: number } | null {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length < 4) return null;
  let first = v.getInt32(0, true);
  if (first === -1) {
    if (head.length < 8) return null;
    first = v.getInt32(4, true);
    return first === 0 ? null : { metaStart: 8, metaLength: first };
  }
  return first === 0 ? null : { metaStart: 4, metaLength: first };
}

function parseMessage(meta: Uint8Array): { type: number; bodyLength: number; rows: number } {
  const fb = new Fb(meta);
  const msg = fb.root();
  const type = fb.u8(msg, 1);
  const header = fb.ref(msg, 2);
  const bodyLength = fb.i64(msg, 3);
  let rows = 0;
  if (type === MSG_RECORD_BATCH && header) rows = fb.i64(header, 0);
  return { type, bodyLength, rows };
}

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

async function readMessageAt(access: RandomAccess, offset: number, what: string) {
  const head = await access.read(offset, 8);
  const p = messagePrefix(head);
  if (!p) return null;
  const meta = await readExact(access, offset + p.metaStart, p.metaLength, what);
  let msg;
  try { msg = parseMessage(meta); } catch (e) {
    throw new IvfkitError('invalid-file', `${what}: expected an Arrow IPC message at offset ${offset}, got unreadable metadata (${(e as Error).message})`);
  }
  return { ...msg, length: p.metaStart + p.metaLength + msg.bodyLength };
}

/**
 * An encapsulated Schema message built around a file footer's Schema table: a new root Message
 * table placed before a copy of the footer bytes points forward into it (flatbuffer offsets are relative).
 */
function schemaMessageFromFooter(footer: Uint8Array, fb: Fb, root: number, what: string): Uint8Array {
  const schemaPos = fb.ref(root, 1);
  if (!schemaPos) throw new IvfkitError('invalid-file', `${what}: expected a schema in the Arrow IPC file footer, got none`);
  const version = fb.i16(root, 0, 4);
  const start = 32;
  const meta = new Uint8Array(start + footer.length + ((8 - (footer.length % 8)) % 8));
  const v = new DataView(meta.buffer);
  v.setUint32(0, 16, true);              // root → table at 16
  v.setUint16(4, 10, true);              // vtable: size 10
  v.setUint16(6, 12, true);              // table size 12
  v.setUint16(8, 4, true);               // version at +4
  v.setUint16(10, 6, true);              // header_type at +6
  v.setUint16(12, 8, true);              // header at +8
  v.setInt32(16, 16 - 4, true);          // table → vtable at 4
  v.setInt16(20, version, true);
  v.setUint8(22, MSG_SCHEMA);
  v.setUint32(24, start + schemaPos - 24, true);
  meta.set(footer, start);
  const out = new Uint8Array(8 + meta.length);
  const ov = new DataView(out.buffer);
  ov.setInt32(0, -1, true);
  ov.setInt32(4, meta.length, true);
  out.set(meta, 8);
  return out;
}

async function layoutOf(access: RandomAccess, what: string): Promise<IpcLayout> {
  const head = await access.read(0, 8);
  const isFile = head.length >= 6 && String.fromCharCode(...head.subarray(0, 6)) === 'ARROW1';
  const dictionaries: Block[] = [];
  const batches: Block[] = [];
  if (isFile) {
    const size = access.size;
    if (size < 18) throw new IvfkitError('truncated', `${what}: expected an Arrow IPC file of at least 18 bytes, got ${size}`);
    const tail = await readExact(access, size - 10, 10, what);
    if (String.fromCharCode(...tail.subarray(4)) !== 'ARROW1') {
      throw new IvfkitError('truncated', `${what}: expected the Arrow IPC file footer ("ARROW1" at the end), got ${JSON.stringify(String.fromCharCode(...tail.subarray(4)))} — truncated file?`);
    }
    const footLen = new DataView(tail.buffer, tail.byteOffset, 4).getInt32(0, true);
    if (footLen <= 0 || footLen > size - 18) throw new IvfkitError('invalid-file', `${what}: expected a footer length in (0, ${size - 18}], got ${footLen}`);
    const footBytes = (await readExact(access, size - 10 - footLen, footLen, what)).slice();
    const foot = new Fb(footBytes);
    let schema: Uint8Array;
    try {
      const root = foot.root();
      for (const [field, list] of [[2, dictionaries], [3, batches]] as const) {
        const vec = foot.ref(root, field);
        if (!vec) continue;
        const n = foot.v.getUint32(vec, true);
        for (let i = 0; i < n; i++) {
          const at = vec + 4 + 24 * i;
          const offset = Number(foot.v.getBigInt64(at, true));
          const metaLen = foot.v.getInt32(at + 8, true);
          const bodyLen = Number(foot.v.getBigInt64(at + 16, true));
          list.push({ offset, length: metaLen + bodyLen, rows: 0 });
        }
      }
      schema = schemaMessageFromFooter(footBytes, foot, root, what);
    } catch (e) {
      if (e instanceof IvfkitError) throw e;
      throw new IvfkitError('invalid-file', `${what}: expected a readable Arrow IPC file footer, got an error: ${(e as Error).message}`);
    }
    for (const b of batches) {
      const m = await readMessageAt(access, b.offset, what);
      if (!m || m.type !== MSG_RECORD_BATCH) throw new IvfkitError('invalid-file', `${what}: expected a record batch at offset ${b.offset}, got message type ${m?.type ?? 'none'}`);
      b.rows = m.rows;
    }
    return { format: 'file', schema, dictionaries, batches };
  }
  const schemaMsg = await readMessageAt(access, 0, what);
  if (!schemaMsg || schemaMsg.type !== MSG_SCHEMA) {
    throw new IvfkitError('invalid-file', `${what}: expected an Arrow IPC file ("ARROW1") or stream (starting with a schema message), got ${access.size} bytes starting with ${JSON.stringify(String.fromCharCode(...head.subarray(0, 6)))}`);
  }
  const schema = await readExact(access, 0, schemaMsg.length, what);
  let at = schemaMsg.length;
  while (at < access.size) {
    const m = await readMessageAt(access, at, what);
    if (!m) break;
    if (at + m.length > access.size) throw new IvfkitError('truncated', `${what}: expected a message of ${m.length} bytes at offset ${at}, got ${access.size - at} — truncated stream?`);
    if (m.type === MSG_RECORD_BATCH) batches.push({ offset: at, length: m.length, rows: m.rows });
    else if (m.type === MSG_DICTIONARY) dictionaries.push({ offset: at, length: m.length, rows: 0 });
    at += m.length;
  }
  return { format: 'stream', schema, dictionaries, batches };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function decodeStream(bytes: Uint8Array, what: string): Table {
  try { return tableFromIPC(bytes); } catch (e) {
    throw new IvfkitError('invalid-file', `${what}: expected readable Arrow IPC data, got an error: ${(e as Error).message}`);
  }
}

/** Options of {@link fromArrowIPC}. */
export interface IpcSourceOptions {
  /** Vector column (a `FixedSizeList`, `List` or `LargeList` of Float16 | Float32 | Float64). Default: the only such column. */
  column?: string;
  /** Name used in error messages (a path or URL). */
  name?: string;
}

/** What {@link fromArrowIPC} returns: a VectorSource plus facts about the file. */
export interface IpcVectorSource extends VectorSource {
  readonly format: 'file' | 'stream';
  readonly column: string;
  /** Rows in all batches. */
  readonly numRows: number;
  /** Closes the underlying file handle, if any. */
  close(): Promise<void>;
}

/**
 * A {@link VectorSource} over Arrow IPC data — file format (`ARROW1`, `.arrow` / `.feather` v2) or
 * stream format (`.arrows`) — given as bytes, a Blob/File, a URL or any {@link RandomAccess}.
 * Each record batch is one fragment (ids 0, 1, ... in file order). Only metadata is read up front
 * (the file footer's block offsets, or one pass over the stream's message headers); `readRows` then
 * reads and decodes just that batch (plus dictionary batches). Vector types as {@link fromArrowTable}:
 * Float16/Float64 converted to Float32, null rows skipped and counted.
 */
export async function fromArrowIPC(input: Uint8Array | Blob | string | URL | RandomAccess, opts: IpcSourceOptions = {}): Promise<IpcVectorSource> {
  const name = opts.name ?? (typeof input === 'string' || input instanceof URL ? String(input) : 'Arrow IPC data');
  const access = input instanceof Uint8Array ? bytesAccess(input)
    : typeof Blob !== 'undefined' && input instanceof Blob ? blobAccess(input)
    : typeof input === 'string' || input instanceof URL ? await urlAccess(input)
    : input && typeof (input as RandomAccess).read === 'function' && typeof (input as RandomAccess).size === 'number' ? input as RandomAccess
    : (() => { throw new IvfkitError('invalid-argument', `input: expected bytes, a Blob, a URL or a RandomAccess, got ${String(input)}`); })();
  try {
    const layout = await layoutOf(access, name);
    const dicts = await Promise.all(layout.dictionaries.map((d) => readExact(access, d.offset, d.length, name)));
    const schemaTable = decodeStream(concat([layout.schema, EOS]), name);
    // The column from the schema; dim from its list size, or for a variable list from the first non-null row of the batches.
    let vc;
    try { vc = vectorColumn(schemaTable.schema.fields, opts.column); } catch (e) { throw withName(e, name); }
    const { column } = vc;
    const dim = vc.dim ?? await listColumnDim(layout.batches.length, async (id) => {
      const b = layout.batches[id]!;
      if (b.rows === 0) return undefined;
      const bytes = await readExact(access, b.offset, b.length, `${name} batch ${id}`);
      return decodeStream(concat([layout.schema, ...dicts, bytes, EOS]), `${name} batch ${id}`);
    }, column, name);
    const fragments: FragmentInfo[] = layout.batches.map((b, id) => ({ id, numRows: b.rows }));
    let cached: { id: number; source: VectorSource } | undefined;
    const batchSource = async (id: number): Promise<VectorSource> => {
      if (cached?.id === id) return cached.source;
      const b = layout.batches[id]!;
      const bytes = await readExact(access, b.offset, b.length, `${name} batch ${id}`);
      const table = decodeStream(concat([layout.schema, ...dicts, bytes, EOS]), `${name} batch ${id}`);
      const source = fromArrowTable(table, { column, dim });
      cached = { id, source };
      return source;
    };
    return {
      dim,
      format: layout.format,
      column,
      numRows: fragments.reduce((a, f) => a + f.numRows, 0),
      fragments: () => fragments.map((f) => ({ ...f })),
      async readRows(fragmentId: number, offsets: Uint32Array): Promise<FragmentRows> {
        fragmentAt(fragments, fragmentId, offsets, name);
        if (offsets.length === 0) return { data: new Float32Array(0), nulls: 0 };
        return (await batchSource(fragmentId)).readRows(0, offsets);
      },
      close: async () => { cached = undefined; await access.close?.(); },
    };
  } catch (e) {
    await access.close?.();
    throw e;
  }
}
