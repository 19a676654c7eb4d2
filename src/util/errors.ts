/** Every error ivfkit throws for bad input or a broken invariant. `code` is stable for programs. */
export class IvfkitError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'IvfkitError';
    this.code = code;
  }
}

/** Throws `IvfkitError(code, "<what>: expected <expected>, got <actual>")` unless `ok`. */
export function expect(ok: boolean, code: string, what: string, expected: unknown, actual: unknown): asserts ok {
  if (!ok) throw new IvfkitError(code, `${what}: expected ${fmt(expected)}, got ${fmt(actual)}`);
}

/** A typed array of one type and length, named with both ("acc.radius: expected Float32Array(256), got Float64Array(256)"). */
export function expectArray(value: unknown, type: abstract new (...args: never[]) => ArrayBufferView, len: number, what: string): void {
  const isType = value instanceof type;
  expect(isType && (value as unknown as { length: number }).length === len, isType ? 'dimension-mismatch' : 'invalid-argument', what, `${type.name}(${len})`, value);
}

/** A positive integer check with a message naming the parameter. */
export function expectPositiveInt(value: unknown, name: string): asserts value is number {
  expect(typeof value === 'number' && Number.isInteger(value) && value > 0, 'invalid-argument', name, 'a positive integer', value);
}

/** Checks that `data.length` is a whole number of `dim`-sized rows. Returns the row count. */
export function rowsOf(data: ArrayLike<number>, dim: number, what = 'data'): number {
  expectPositiveInt(dim, 'dim');
  expect(data.length % dim === 0, 'dimension-mismatch', `${what} length`, `a multiple of dim ${dim}`, data.length);
  return data.length / dim;
}

/** A value as a message shows it: strings quoted (so "1" and 1, or "" and nothing, differ). */
export function shown(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function fmt(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return `${v}n`;
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return String(v);                // NaN and ±Infinity, which JSON shows as null
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})`;
  try { return JSON.stringify(v) ?? String(v); } catch { return String(v); }
}

/**
 * Throws `IvfkitError('aborted')` (name 'AbortError', `cause` = the signal's reason) when `signal` is
 * aborted. Long loops call it between steps.
 */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const err = new IvfkitError('aborted', `${what}: expected to run to the end, got aborted (${String(signal.reason)})`);
  err.name = 'AbortError';
  (err as { cause?: unknown }).cause = signal.reason;
  throw err;
}

/** Lets timers and signal handlers run, so an AbortSignal can reach a run in this thread (a macrotask, not a microtask). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** `e` said again with `name` in front when it is an IvfkitError (a file's or URL's name); other errors as they are. */
export function withName(e: unknown, name: string): unknown {
  return e instanceof IvfkitError ? new IvfkitError(e.code, `${name}: ${e.message}`) : e;
}
