/**
 * `ivfkit/node` — Node-only file sources and model writers: Arrow IPC files and streams, Parquet
 * (row groups as fragments, via the optional parquet-wasm), `.fvecs` / `.bvecs` / `.ivecs`, `.npy`,
 * all read by offset through file handles, and atomic model / `.npy` writers for Lance.
 */
export {
  openVectorFile, openVectorFiles, concatSources, fileAccess, fileBlob, formatOf, readAllRows,
  writeFileAtomic, writeModelFiles,
  type VectorFileFormat, type OpenOptions, type ClosableSource, type WriteModelOptions,
} from './files.js';
export { openParquet } from './parquet.js';
export { fromArrowIPC, bytesAccess, blobAccess, urlAccess, type RandomAccess, type IpcSourceOptions, type IpcVectorSource } from '../sources/ipc.js';
export { fromVecs, toVecs, FILE_SOURCE_DEFAULTS, type VecsFormat, type FileSourceOptions, type FileVectorSource } from '../sources/fvecs.js';
export { fromNpyData } from '../sources/npy.js';
export { toNpy, fromNpy, modelToNpyFiles, type NpyDtype, type NpyArray, type LanceNpyFiles } from '../model/npy.js';
