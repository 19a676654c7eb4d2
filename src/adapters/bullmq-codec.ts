/**
 * Binary blobs and key names shared by the BullMQ coordinator and its sandboxed processor.
 * Blobs are raw little-endian bytes under Redis keys (claim-check); job JSON stays small.
 */
import type { PartialStats } from '../train/partial.js';
import { IvfkitError } from '../util/errors.js';

/** Plain Redis connection settings (JSON-safe, so they can reach the processor threads). */
export interface RedisConnection {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
}

/** `redis://user:pass@host:port/db` or an options object → options. */
export function parseConnection(c: string | RedisConnection | undefined): RedisConnection {
  if (c === undefined) return { host: '127.0.0.1', port: 6379 };
  if (typeof c !== 'string') return { ...c };
  let u: URL;
  try {
    u = new URL(c);
  } catch {
    throw new IvfkitError('invalid-argument', `connection: expected a redis:// URL or options, got ${JSON.stringify(c)}`);
  }
  if (u.protocol !== 'redis:') throw new IvfkitError('invalid-argument', `connection URL protocol: expected redis:, got ${u.protocol}`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  return {
    host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
  };
}

/** Keys of one run: `${prefix}:${run}:...`. */
export function runKey(prefix: string, run: string, ...parts: (string | number)[]): string {
  return [prefix, run, ...parts].join(':');
}

/** A view of bytes as a Float32Array; copies when the bytes are not 4-byte aligned (ioredis pools small buffers). */
export function bytesToF32(b: Uint8Array): Float32Array {
  if (b.byteLength % 4 !== 0) throw new IvfkitError('invalid-result', `float32 blob length: expected a multiple of 4, got ${b.byteLength}`);
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Float32Array(copyBytes(b).buffer);
}

/** A view of bytes as an Int32Array or Uint32Array (a copy when they are not 4-byte aligned). */
export function bytesToI32<T extends Int32ArrayConstructor | Uint32ArrayConstructor>(b: Uint8Array, type: T): InstanceType<T> {
  if (b.byteLength % 4 !== 0) throw new IvfkitError('invalid-result', `32-bit blob length: expected a multiple of 4, got ${b.byteLength}`);
  const src = b.byteOffset % 4 === 0 ? b : copyBytes(b);
  return new type(src.buffer as ArrayBuffer, src.byteOffset, src.byteLength / 4) as InstanceType<T>;
}

/** A fresh copy with its own ArrayBuffer (Node's `Buffer#slice` is a view, so it is not used). */
export function copyBytes(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out;
}

/** Bytes of a typed array (no copy). */
export function viewBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

const MAGIC = 0x49564b53; // 'IVKS'

/** PartialStats → one binary blob: u32 magic, u32 header length, JSON header, pad to 8, sums, counts, clusterLoss, radius. */
export function encodeStats(s: PartialStats): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({
    k: s.k, dim: s.dim, iteration: s.iteration, fingerprint: s.fingerprint, shift: s.shift, lossShift: s.lossShift,
  }));
  const h = (8 + header.length + 7) & ~7;
  const total = h + s.sums.byteLength + s.counts.byteLength + s.clusterLoss.byteLength + s.radius.byteLength;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, header.length, true);
  out.set(header, 8);
  let o = h;
  for (const a of [s.sums, s.counts, s.clusterLoss, s.radius]) {
    out.set(viewBytes(a), o);
    o += a.byteLength;
  }
  return out;
}

/** Inverse of {@link encodeStats} (copies, so the input may be unaligned). */
export function decodeStats(bytes: Uint8Array): PartialStats {
  const b = copyBytes(bytes);
  const dv = new DataView(b.buffer);
  if (b.byteLength < 8 || dv.getUint32(0, true) !== MAGIC) {
    throw new IvfkitError('invalid-result', `partial stats blob: expected magic ${MAGIC.toString(16)}, got ${b.byteLength < 8 ? 'a short blob' : dv.getUint32(0, true).toString(16)}`);
  }
  const hl = dv.getUint32(4, true);
  const head = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + hl))) as Omit<PartialStats, 'sums' | 'counts' | 'clusterLoss' | 'radius'>;
  const { k, dim } = head;
  let o = (8 + hl + 7) & ~7;
  const need = o + k * dim * 8 + k * 8 + k * 8 + k * 4;
  if (b.byteLength !== need) throw new IvfkitError('invalid-result', `partial stats blob length: expected ${need} for k ${k}, dim ${dim}, got ${b.byteLength}`);
  const sums = new BigInt64Array(b.buffer, o, k * dim); o += k * dim * 8;
  const counts = new Float64Array(b.buffer, o, k); o += k * 8;
  const clusterLoss = new BigInt64Array(b.buffer, o, k); o += k * 8;
  const radius = new Float32Array(b.buffer, o, k);
  return { ...head, sums, counts, clusterLoss, radius };
}
