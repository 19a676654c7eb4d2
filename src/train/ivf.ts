import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import type { IvfModel, Metric, Progress } from '../types.js';
import { expect, IvfkitError, rowsOf } from '../util/errors.js';
import { localExecutor, type KmeansExecutor, type LocalExecutor } from './executor.js';
import { finiteRows, KMEANS_DEFAULTS, kmeansWith } from './kmeans.js';

/** Options of {@link trainIvf}. */
export interface TrainIvfOptions {
  /** Number of partitions (k). */
  numPartitions: number;
  /** 'l2' (default), 'cosine' (rows normalized, then L2) or 'dot' (1 − x·c). */
  metric?: Metric;
  /** Default 50. */
  maxIters?: number;
  seed?: number;
  /** Lance's IVF balance factor; default {@link IVF_DEFAULTS}.balanceFactor = 1.0. */
  balanceFactor?: number;
  /** Relative loss-change tolerance; default 1e-4. */
  tolerance?: number;
  /** Hierarchical k-means for k > 256 (default 16; 0 disables). */
  hierarchicalK?: number;
  /** Refinement iterations after hierarchical k-means (default 5). */
  refineIters?: number;
  /** Runs the Lloyd iterations over rows already prepared (normalized for cosine, finite); `data` is then only checked for `dim`. */
  executor?: KmeansExecutor;
  kernels?: Kernels;
  /** Progress: stage 'ivf' for Lloyd iterations, 'ivf:kmeans-hierarchical' while splitting. */
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /**
   * Receives a warning when more than 10 % of the partitions had no row in the last k-means iteration
   * (as Lance warns): the rows hold fewer distinct vectors than partitions (many centroids are copies), or k-means
   * stopped while partitions split from large ones were still being emptied (few iterations).
   * Default `console`.
   */
  logger?: { warn(message: string): void };
}

/** Defaults of {@link trainIvf} that differ from k-means'. */
export const IVF_DEFAULTS = { balanceFactor: 1.0, metric: 'l2' as Metric } as const;

/** Checks a metric name. */
export function checkMetric(metric: unknown): asserts metric is Metric {
  expect(metric === 'l2' || metric === 'cosine' || metric === 'dot', 'invalid-argument', 'metric', "'l2', 'cosine' or 'dot'", metric);
}

/**
 * Prepares rows as Lance does before training: cosine → normalize every row (a zero row becomes NaN);
 * then rows with a NaN or ±Inf value are dropped.
 */
export function prepareRows(data: Float32Array, dim: number, metric: Metric, kernels: Kernels): { data: Float32Array; rows: number; dropped: number } {
  const x = metric === 'cosine' ? kernels.normalize(data, dim) : data;
  return finiteRows(x, dim, kernels);
}

/**
 * Trains IVF centroids with Lance's k-means: cosine rows are normalized and trained as L2 (centroids
 * are not re-normalized), dot uses 1 − x·c, non-finite rows are dropped, balance factor 1.0,
 * hierarchical for more than 256 partitions (always exactly `numPartitions` centroids).
 */
export async function trainIvf(data: Float32Array, dim: number, opts: TrainIvfOptions): Promise<IvfModel> {
  expect(typeof opts === 'object' && opts !== null, 'invalid-argument', 'options', 'an object with numPartitions', opts);
  const k = opts.numPartitions;
  expect(Number.isSafeInteger(k) && k > 0, 'invalid-argument', 'numPartitions', 'a positive integer', k);
  const metric = opts.metric ?? IVF_DEFAULTS.metric;
  checkMetric(metric);
  const kernels = opts.kernels ?? (await loadKernels());
  let executor = opts.executor;
  let own: LocalExecutor | undefined;
  if (executor) {
    expect(executor.dim === dim, 'dimension-mismatch', 'executor dim', dim, executor.dim);
  } else {
    expect(data instanceof Float32Array, 'invalid-argument', 'data', 'a Float32Array', data);
    const n = rowsOf(data, dim);
    const x = prepareRows(data, dim, metric, kernels);
    if (x.rows === 0) throw new IvfkitError('no-finite-rows', `IVF training rows: expected finite rows, got 0 of ${n}`);
    if (x.rows < k) {
      throw new IvfkitError('too-few-rows', `IVF training rows: expected at least numPartitions = ${k} rows, got ${x.rows} (${x.dropped} non-finite dropped)`);
    }
    executor = own = localExecutor(x.data, dim, kernels);
  }
  const onProgress = opts.onProgress;
  const res = await kmeansWith(executor!, k, {
    metric: metric === 'dot' ? 'dot' : 'l2',
    maxIters: opts.maxIters ?? KMEANS_DEFAULTS.maxIters,
    balanceFactor: opts.balanceFactor ?? IVF_DEFAULTS.balanceFactor,
    kernels,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.tolerance !== undefined ? { tolerance: opts.tolerance } : {}),
    ...(opts.hierarchicalK !== undefined ? { hierarchicalK: opts.hierarchicalK } : {}),
    ...(opts.refineIters !== undefined ? { refineIters: opts.refineIters } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(onProgress ? { onProgress: (p: Progress) => onProgress({ ...p, stage: p.stage === 'kmeans' ? 'ivf' : `ivf:${p.stage}` }) } : {}),
  }).finally(() => own?.close());
  if (res.emptyClusters * 10 > k) {
    (opts.logger ?? console).warn(`ivfkit: IVF k-means: ${res.emptyClusters} of ${k} partitions had no rows in its last iteration ` +
      `(more than 10 %; each was then split from a large one; ${res.iterations} iterations): ` + (metric === 'dot'
        ? `with metric 'dot' the rows of largest norm draw the partitions (1 − x·c favours long centroids: Lance's dot k-means does ` +
          `the same); for direction-only partitions use metric 'cosine', else fewer partitions`
        : `either the training rows hold fewer distinct vectors than numPartitions, or k-means stopped before the split partitions ` +
          `settled (more iterations help then: maxIters, or refineIters over 256 partitions)`));
  }
  return { centroids: res.centroids, numPartitions: k, loss: res.loss };
}
