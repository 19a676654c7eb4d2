import { IvfkitError } from '../util/errors.js';
import { createReferenceKernels } from './reference.js';
import type { KernelBuildRequest, Kernels } from './types.js';
import { createWasmKernels, DEFAULT_BLOCK_BYTES } from './wasm.js';

/**
 * Kernels from an already compiled module (a worker's: the pool posts the module it compiled), without the embedded
 * wasm of every build — so a bundle's worker chunk does not carry them. 'reference' needs no module.
 */
export function kernelsFromModule(build: KernelBuildRequest, module?: WebAssembly.Module): Kernels {
  if (build === 'reference') return createReferenceKernels();
  if (build !== 'simd' && build !== 'dot8' && build !== 'relaxed' && build !== 'scalar') {
    throw new IvfkitError('invalid-argument', `worker init build: expected a resolved build ('simd', 'dot8', 'relaxed', 'scalar' or 'reference'), got ${String(build)}`);
  }
  if (!(module instanceof WebAssembly.Module)) {
    throw new IvfkitError('invalid-argument', `worker init module: expected the compiled WebAssembly.Module of the '${build}' build, got ${module === undefined ? 'none' : String(module)}`);
  }
  return createWasmKernels(new WebAssembly.Instance(module, {}), build, DEFAULT_BLOCK_BYTES, module, 'auto');
}
