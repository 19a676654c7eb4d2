export { fromFloat32Array, MEMORY_SOURCE_DEFAULTS, type MemorySourceOptions } from './memory.js';
export { fromArrowTable, halfToFloat, type ArrowSourceOptions } from './arrow.js';
