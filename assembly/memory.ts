// Linear memory is managed by the host (src/kernels/wasm.ts): it bumps from heapBase() and grows
// the memory itself. Kernels never allocate.

/** First free byte after the static data. */
export function heapBase(): usize {
  return __heap_base;
}
