import { afterEach, describe, expect, it, vi } from 'vitest';
import { getWasmModule, loadKernels } from '../../src/kernels/index.js';

// A page whose Content-Security-Policy lacks 'wasm-unsafe-eval' lets WebAssembly.validate pass and fails the compile:
// the error says so (and the next attempt, allowed, compiles: the failure is not cached).
describe('a wasm build that validates but cannot compile', () => {
  afterEach(() => vi.restoreAllMocks());

  it("says what a Content-Security-Policy needs, and does not cache the failure", async () => {
    const csp = new WebAssembly.CompileError("WebAssembly.compile(): Refused to compile or instantiate WebAssembly module because 'unsafe-eval' " +
      "is not an allowed source of script in the following Content Security Policy directive: \"script-src 'self'\"");
    const spy = vi.spyOn(WebAssembly, 'compile').mockRejectedValue(csp);
    const err = await loadKernels({ build: 'simd' }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'unsupported', message: expect.stringMatching(/^WebAssembly 'simd' build: expected to compile, got CompileError: .*'wasm-unsafe-eval'/) });
    expect((err as { cause?: unknown }).cause).toBe(csp);
    spy.mockRestore();
    const mod = await getWasmModule('simd');
    expect(mod).toBeInstanceOf(WebAssembly.Module);
    expect((await loadKernels({ build: 'simd' })).build).toBe('simd');
  });
});
