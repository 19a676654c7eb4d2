/**
 * ivfkit — train IVF centroids, PQ codebooks and SQ bounds for IVF_PQ / IVF_SQ vector indexes.
 * Platform-neutral entry: imports no node: module. Node file readers live in `ivfkit/node`,
 * the BullMQ adapter in `ivfkit/bullmq`.
 */
export type { Metric, FragmentInfo, FragmentRows, VectorSource, IvfModel, PqModel, SqModel, TrainedModels, Progress } from './types.js';
export { IvfkitError } from './util/errors.js';
export { DEFAULT_SEED } from './util/rng.js';

// Kernels: the WebAssembly SIMD / scalar builds and the plain-TS reference behind one interface.
export type * from './kernels/types.js';
export { loadKernels, loadKernelsSync, getWasmModule, DEFAULT_KERNEL_BUILD, type LoadWasmKernelsOptions, type WasmBuild } from './kernels/index.js';
export type { QFilter } from './kernels/wasm.js';

// Sources addressed by fragment IDs.
export { fromFloat32Array, fromArrowTable, MEMORY_SOURCE_DEFAULTS, type MemorySourceOptions, type ArrowSourceOptions } from './sources/index.js';

// Training, local.
export { trainLocal, TRAIN_DEFAULTS, type TrainParams } from './train/local.js';
export {
  kmeans, kmeansWith, localExecutor, kmeansPartialStats, mergePartialStats, finalizeCentroids, statsFingerprint,
  pqSubspaceSeed, KMEANS_DEFAULTS, SPLIT_EPS,
  type KmeansOptions, type KmeansResult, type KmeansExecutor, type StatsContext, type PartialStats,
  type FinalizeOptions, type FinalizeResult, type StatsScratch,
} from './train/kmeans.js';
export type { LocalExecutor } from './train/executor.js';
export { trainIvf, IVF_DEFAULTS, type TrainIvfOptions } from './train/ivf.js';
export { trainPq, PQ_DEFAULTS, residualRows, type TrainPqOptions, type PqTrainResult } from './train/pq.js';
export { trainSq, SQ_DEFAULTS, type TrainSqOptions } from './train/sq.js';

// Distributed: plain-data sample tasks and results, addressed by fragment IDs.
export * from './distributed/protocol.js';
export { serializeSampleTask, deserializeSampleTask, serializeSampleResult, deserializeSampleResult } from './distributed/serialize.js';

// Models: file, encoding, evaluation.
export {
  modelToArrowIPC, modelFromArrowIPC, MODEL_FORMAT_VERSION, assignPartitions, encodePq, encodeSq, evaluateRecall, createRecallEvaluator, exactTopK,
  EVALUATE_DEFAULTS, type EncodeOptions, type EvaluateOptions, type RecallReport, type RecallEvaluator,
} from './model/index.js';

// Platform-neutral readers over bytes, Blobs, Files and URLs (file paths: `ivfkit/node`).
export { fromArrowIPC, bytesAccess, blobAccess, urlAccess, type RandomAccess, type IpcSourceOptions, type IpcVectorSource } from './sources/ipc.js';
export { fromVecs, toVecs, FILE_SOURCE_DEFAULTS, type VecsFormat, type FileSourceOptions, type FileVectorSource } from './sources/fvecs.js';
export { fromNpyData } from './sources/npy.js';
export { toNpy, fromNpy, parseNpyHeader, modelToNpyFiles, type NpyDtype, type NpyArray, type NpyHeader, type LanceNpyFiles } from './model/npy.js';

// All cores: the k-means map step on a worker pool (piscina in Node, module Web Workers elsewhere).
export { createPoolExecutor, defaultThreads, type PoolExecutor, type PoolExecutorOptions, type ResidualPoolExecutor } from './workers/executor.js';
export { POOL_MIN_ROWS } from './train/local.js';
