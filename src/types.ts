/** Distance used to train and search. Cosine is always "normalize rows, then L2". */
export type Metric = 'l2' | 'cosine' | 'dot';

/** A fragment of a dataset: a record batch, a file, a Lance fragment. */
export interface FragmentInfo {
  /** Stable identifier; plans, seeds and merges are keyed by it. A non-negative integer. */
  id: number;
  /** Rows in the fragment (null rows included). */
  numRows: number;
}

/** Rows read from one fragment. `data` is row-major, `offsets.length × dim` values. */
export interface FragmentRows {
  data: Float32Array;
  /** Rows that were null in the source (skipped, not returned). */
  nulls?: number;
  /** Optional, one entry per offset asked: 1 where that row is in `data` (in order), 0 where it was null. A source with
   *  null rows that gives it has a fragment read once for both of a task's samples (IVF and quantizer) instead of once
   *  for their union and again for each. */
  valid?: Uint8Array;
}

/**
 * A dataset addressed by fragment IDs. Training reads only the rows a sample needs.
 * Implementations: `fromFloat32Array`, `fromArrowTable`, and the file readers of `ivfkit/node`.
 */
export interface VectorSource {
  readonly dim: number;
  /** All fragments, in a stable order. */
  fragments(): FragmentInfo[] | Promise<FragmentInfo[]>;
  /**
   * Reads the given row offsets (ascending, distinct, each < numRows) of one fragment.
   * Null rows are skipped: the result then has fewer rows, and `nulls` counts them.
   */
  readRows(fragmentId: number, offsets: Uint32Array): FragmentRows | Promise<FragmentRows>;
}

/** The IVF part of a model: k-means centroids, one per partition. */
export interface IvfModel {
  /** k × dim, row-major. */
  centroids: Float32Array;
  numPartitions: number;
  /** k-means loss (sum of squared distances to the nearest centroid) on the IVF sample. */
  loss: number;
}

/** A product-quantizer codebook: M sub-spaces of dim / M values, 2^bits codes each (trained on IVF residuals for l2 / cosine). */
export interface PqModel {
  numSubVectors: number;
  numBits: 4 | 8;
  /** Flat `[m][c][j]`: index (m · 2^bits + c) · (dim / M) + j, Lance's layout. */
  codebook: Float32Array;
}

/** Scalar-quantizer bounds: one global [lower, upper] over the quantizer sample, as Lance. */
export interface SqModel {
  numBits: 8;
  lower: number;
  upper: number;
}

/** The one output type of every training path. */
export interface TrainedModels {
  metric: Metric;
  dim: number;
  ivf: IvfModel;
  pq?: PqModel;
  sq?: SqModel;
  /**
   * Rows used for training: `rows` kept, `dropped` removed as non-finite (after cosine normalization) or null —
   * of the IVF sample; `quant`, the same counts of the sample PQ or SQ trained on (present with PQ or SQ; the
   * same rows as the IVF sample's when one sample serves both).
   */
  sample: { rows: number; dropped: number; quant?: { rows: number; dropped: number } };
}

/** A progress report of a training (`onProgress`): the stage, and where it is. */
export interface Progress {
  /** 'sample' | 'ivf' | 'pq' | 'sq' | a k-means sub-stage. `trainLocal`, `trainFromSamples` and the BullMQ coordinator
   *  open 'pq' with `{ iteration: 0, fraction: 0 }` before the residuals; then one report per PQ iteration; they close
   *  'ivf' and 'pq' with `{ fraction: 1 }` (also after an early stop), as 'sample' and 'sq' end. */
  stage: string;
  iteration?: number;
  maxIters?: number;
  loss?: number;
  /** Completed fraction of the stage in [0, 1] when known. */
  fraction?: number;
}
