/**
 * ivfkit — train IVF centroids, PQ codebooks and SQ bounds for IVF_PQ / IVF_SQ vector indexes.
 * Platform-neutral entry: imports no node: module. Node file readers live in `ivfkit/node`,
 * the BullMQ adapter in `ivfkit/bullmq`.
 */
export type { Metric, FragmentInfo, FragmentRows, VectorSource, IvfModel, PqModel, SqModel, TrainedModels, Progress } from './types.js';
export { IvfkitError } from './util/errors.js';
