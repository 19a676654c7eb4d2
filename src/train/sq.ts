import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import type { Metric, SqModel } from '../types.js';
import { expect, IvfkitError, rowsOf } from '../util/errors.js';
import { checkMetric } from './ivf.js';

/** Options of {@link trainSq}. */
export interface TrainSqOptions {
  /** Only 8 (Lance hard-codes 255 levels). */
  numBits?: 8;
  /** 'cosine' normalizes rows first. Default 'l2'. */
  metric?: Metric;
  kernels?: Kernels;
}

/** Defaults of {@link trainSq}. */
export const SQ_DEFAULTS = { numBits: 8, metric: 'l2' } as const satisfies { numBits: 8; metric: Metric };

/**
 * SQ bounds as Lance: one global [min, max] over every value of the rows whose values are all finite
 * (after normalization for cosine). Encode with `kernels.sqEncode(data, lower, upper)`.
 */
export async function trainSq(data: Float32Array, dim: number, opts: TrainSqOptions = {}): Promise<SqModel> {
  expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data);
  const n = rowsOf(data, dim);
  const numBits = opts.numBits ?? SQ_DEFAULTS.numBits;
  expect(numBits === 8, 'invalid-argument', 'SQ numBits', 8, numBits);
  const metric = opts.metric ?? SQ_DEFAULTS.metric;
  checkMetric(metric);
  const kernels = opts.kernels ?? (await loadKernels());
  const x = metric === 'cosine' ? kernels.normalize(data, dim) : data;
  const b = kernels.sqBounds(x, dim);
  if (b.rows === 0) throw new IvfkitError('no-finite-rows', `SQ training rows: expected finite rows, got 0 of ${n}`);
  return { numBits: 8, lower: b.lower, upper: b.upper };
}
