import type { FragmentInfo, FragmentRows, VectorSource } from '../types.js';
import { IvfkitError, expect, expectPositiveInt, rowsOf } from '../util/errors.js';

/** Options of {@link fromFloat32Array}. */
export interface MemorySourceOptions {
  /** Rows per fragment; the last fragment holds the remainder. Fragment ids are 0, 1, 2, ... */
  fragmentRows?: number;
}

/** Defaults of {@link MemorySourceOptions}. */
export const MEMORY_SOURCE_DEFAULTS = { fragmentRows: 65_536 } as const;

/**
 * @internal A source method under this key gives the rows of one run of consecutive offsets as a view of the source's
 * own memory (undefined for other offsets), for readers that copy them at once: sampling, which writes every row into
 * its sample, then reads a whole fragment without the copy `readRows` makes.
 */
export const ROW_VIEW: unique symbol = Symbol('ivfkit.rowView');

/** {@link ROW_VIEW} of `source`, when it has one and `offsets` are consecutive. */
export function rowView(source: object, fragmentId: number, offsets: Uint32Array): Float32Array | undefined {
  const f = (source as { [ROW_VIEW]?: (id: number, offsets: Uint32Array) => Float32Array | undefined })[ROW_VIEW];
  return typeof f === 'function' ? f(fragmentId, offsets) : undefined;
}

/**
 * A {@link VectorSource} over one row-major `Float32Array` (`n × dim`), cut into fragments of
 * `fragmentRows` rows. The array is not copied; `readRows` returns copies of the requested rows.
 * An empty array gives a source with no fragments.
 */
export function fromFloat32Array(data: Float32Array, dim: number, opts: MemorySourceOptions = {}): VectorSource {
  expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data?.constructor?.name ?? data);
  const n = rowsOf(data, dim);
  const fragmentRows = opts.fragmentRows ?? MEMORY_SOURCE_DEFAULTS.fragmentRows;
  expectPositiveInt(fragmentRows, 'fragmentRows');
  const fragments: FragmentInfo[] = [];
  for (let start = 0, id = 0; start < n; start += fragmentRows, id++) {
    fragments.push({ id, numRows: Math.min(fragmentRows, n - start) });
  }
  return {
    dim,
    fragments: () => fragments.map((f) => ({ ...f })),
    readRows(fragmentId: number, offsets: Uint32Array): FragmentRows {
      const frag = fragments[fragmentId];
      if (!Number.isInteger(fragmentId) || frag === undefined) {
        throw new IvfkitError('unknown-fragment', `fragment id: expected an integer in [0, ${fragments.length}), got ${fragmentId}`);
      }
      checkOffsets(offsets, frag.numRows, fragmentId);
      const base = fragmentId * fragmentRows;
      const out = new Float32Array(offsets.length * dim);
      for (let i = 0; i < offsets.length;) {
        let j = i + 1;
        while (j < offsets.length && offsets[j] === offsets[j - 1]! + 1) j++;
        const r = base + offsets[i]!;
        if (dim <= 32 && j === i + 1) for (let c = 0; c < dim; c++) out[i * dim + c] = data[r * dim + c]!;
        else out.set(data.subarray(r * dim, (r + j - i) * dim), i * dim);
        i = j;
      }
      return { data: out, nulls: 0 };
    },
    [ROW_VIEW](fragmentId: number, offsets: Uint32Array): Float32Array | undefined {
      const frag = fragments[fragmentId];
      const m = offsets.length;
      if (frag === undefined || m === 0 || offsets[m - 1]! - offsets[0]! !== m - 1 || offsets[m - 1]! >= frag.numRows) return undefined;
      for (let i = 1; i < m; i++) if (offsets[i] !== offsets[i - 1]! + 1) return undefined;
      const r = fragmentId * fragmentRows + offsets[0]!;
      return data.subarray(r * dim, (r + m) * dim);
    },
  } as VectorSource;
}

/**
 * For sources whose fragment ids are 0..n−1: the fragment `fragmentId`, after checking the id and the
 * `readRows` offsets against it. `name` names the source in the error.
 */
export function fragmentAt(fragments: readonly FragmentInfo[], fragmentId: number, offsets: Uint32Array, name: string): FragmentInfo {
  const frag = fragments[fragmentId];
  if (!Number.isInteger(fragmentId) || frag === undefined) {
    throw new IvfkitError('unknown-fragment', `fragment id of ${name}: expected an integer in [0, ${fragments.length}), got ${fragmentId}`);
  }
  checkOffsets(offsets, frag.numRows, fragmentId);
  return frag;
}

/** Validates the `readRows` contract: ascending, distinct offsets below `numRows`. */
export function checkOffsets(offsets: Uint32Array, numRows: number, fragmentId: number): void {
  expect(offsets instanceof Uint32Array, 'invalid-argument', `offsets of fragment ${fragmentId}`, 'a Uint32Array', offsets);
  for (let i = 0; i < offsets.length; i++) {
    const o = offsets[i]!;
    if (o >= numRows) {
      throw new IvfkitError('invalid-argument', `row offset of fragment ${fragmentId}: expected < ${numRows}, got ${o}`);
    }
    if (i > 0 && o <= offsets[i - 1]!) {
      throw new IvfkitError('invalid-argument',
        `row offsets of fragment ${fragmentId}: expected ascending and distinct, got ${offsets[i - 1]} then ${o} at position ${i}`);
    }
  }
}

/**
 * For a fragment read in parts: joins the parts' rows, nulls and `valid` flags (part p answered offsets [at_p, at_p + len_p)
 * of n). `valid` is given when some part had nulls and every such part said where they were.
 */
export function joinParts(n: number, parts: readonly { at: number; len: number; rows: FragmentRows }[]): FragmentRows {
  let nulls = 0, size = 0, known = true;
  for (const { len, rows } of parts) {
    const k = rows.nulls ?? 0;
    nulls += k;
    size += rows.data.length;
    if (k > 0 && !(rows.valid instanceof Uint8Array && rows.valid.length === len)) known = false;
  }
  const data = parts.length === 1 ? parts[0]!.rows.data : new Float32Array(size);
  if (parts.length !== 1) {
    let o = 0;
    for (const { rows } of parts) { data.set(rows.data, o); o += rows.data.length; }
  }
  if (nulls === 0 || !known) return { data, nulls };
  const valid = new Uint8Array(n);
  for (const { at, len, rows } of parts) {
    if ((rows.nulls ?? 0) > 0) valid.set(rows.valid!, at);
    else valid.fill(1, at, at + len);
  }
  return { data, nulls, valid };
}
