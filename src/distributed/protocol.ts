/**
 * Distributed training, sample-shipping mode (three phases):
 * 1. `createSampleTasks(fragments, numWorkers, params)` on the coordinator → plain-data tasks;
 * 2. `executeSampleTask(task, source)` on each worker → a {@link SampleResult} (rows + counts + SQ bounds);
 * 3. `trainFromSamples(results, params)` on the coordinator → the same models as `trainLocal`,
 *    bit for bit, whatever the number of workers.
 * Ship tasks and results with `serializeSampleTask` / `serializeSampleResult` (JSON + Arrow IPC).
 */
export {
  createSampleTasks, executeSampleTask, checkTask, planFingerprint, SAMPLE_FORMAT_VERSION,
  type SampleTask, type SampleResult, type SamplePlanHeader, type TaskFragment, type ResultFragment, type ExecuteSampleOptions, type SamplePlanParams,
} from '../train/sample.js';
export { checkAgainstPlan, checkCoverage, mergeSampleResults, type MergedSample } from '../train/sample.js';
export { trainFromSamples } from '../train/local.js';
