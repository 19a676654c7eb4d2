// Entry of the wasm kernels: pointer + length exports only, no allocation (see src/kernels/wasm.ts).
export { heapBase } from './memory';
export { sqNorms, l2Many, dotMany } from './distance';
export { normalize, finiteMask, maxAbs } from './vector';
export { packCentroids, assignRows } from './assign';
export { packCentroidsQ, assignRowsQ, assignQCentroidBytes, assignQScratchBytes, roundRows } from "./assignq";
export { packCentroidsQ8, assignRowsQ8, assignQ8CentroidBytes, assignQ8ScratchBytes, probeQ8, roundRows8 } from "./assignq8";
export { boundedScratchBytes, assignBounded, prepareRows } from './bounded';
export { pairsScratchBytes, centroidDrift, assignPairs } from './pairs';
export { groupDrift } from './drift';
export { orderSplit } from './order';
export { accumulate, pqAccumulate, pqAccumulateDelta, pqAccumulateStats, addI64 } from './kmeans';
export { pqTranspose, pqPrepare, pqAssign, pqAssignBounded, pqCodes8, pqCodes4 } from './pq';
export { pqAssignGrouped } from './pqgroups';
export { sqBounds, sqEncode } from './sq';
