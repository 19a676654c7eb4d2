export { modelToArrowIPC, modelFromArrowIPC, checkModels, MODEL_FORMAT_VERSION } from './io.js';
export { assignPartitions, encodePq, encodeSq, type EncodeOptions } from './encode.js';
export { evaluateRecall, createRecallEvaluator, exactTopK, EVALUATE_DEFAULTS, type EvaluateOptions, type RecallEvaluator, type RecallReport } from './evaluate.js';
