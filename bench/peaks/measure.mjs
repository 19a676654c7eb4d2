// The measuring half of bench/peaks.mjs, free of Node APIs so that a browser page can run it too.

/** The loops: module, export, multiply-adds per iteration of the export's `n`, what it is. Register-only loops do 8
 *  instructions per iteration; a tile iteration is one pass over tiles.ts' problem (16 rows × 256 centroids × 768). */
const TILE = 16 * 256 * 768;
export const LOOPS = [
  { mod: 'simd', fn: 'i16Pair', perIter: 8 * 8, what: 'i32x4.dot_i16x8_s + i32x4.add (the 16-bit filter\'s pair)' },
  { mod: 'simd', fn: 'f32MulAdd', perIter: 8 * 4, what: 'f32x4.mul + f32x4.add (the exact f32 tiles)' },
  { mod: 'relaxed', fn: 'i8Relaxed', perIter: 8 * 16, what: 'i32x4.relaxed_dot_i8x16_i7x16_add_s (relaxed SIMD)' },
  { mod: 'relaxed', fn: 'f32RelaxedMadd', perIter: 8 * 4, what: 'f32x4.relaxed_madd (relaxed SIMD, FMA where the CPU has it)' },
  { mod: 'simd', fn: 'tile16', perIter: TILE, what: 'the 16-bit filter\'s 4 × 8 tile with its loads (d 768, k 256)' },
  { mod: 'relaxed', fn: 'tile8', perIter: TILE, what: 'the same tile with the relaxed 8-bit dot-add' },
];

/** Best G multiply-adds/s of 5 calls of ~0.25 s (quick: a few ms, not a measurement) after calls that get the loop
 *  past the engine's baseline tier (a running call never switches tiers). */
function gmacs(fn, perIter, quick) {
  const iters = (macs) => Math.max(1, Math.round(macs / perIter));
  let n = iters(quick ? 3e6 : 2e8);
  for (let i = 0; i < (quick ? 2 : 30); i++) fn(iters(quick ? 2e5 : 3e7), 1 + i);
  if (!quick) {
    for (let t = 0; t < 8; t++) {
      const s = performance.now();
      fn(n, 1 + t);
      const ms = performance.now() - s;
      if (ms > 200) break;
      n = Math.min(2 ** 30, Math.ceil(n * Math.min(16, 250 / Math.max(ms, 1))));
    }
  }
  let best = 0;
  for (let r = 0; r < 5; r++) {
    const s = performance.now();
    fn(n, 1 + r);
    // Browsers coarsen the clock (to 0.1 ms or more): a zero reading counts as one tick.
    best = Math.max(best, (n * perIter) / (Math.max(performance.now() - s, 0.1) / 1000) / 1e9);
  }
  return best;
}

/** Instantiates the two modules' bytes (the relaxed one only where it validates) and measures every loop:
 *  { relaxed, peaks: { fn: G multiply-adds/s | null } }. */
export function measure(bytes, quick = false) {
  const modules = {};
  for (const [mod, b] of Object.entries(bytes)) {
    modules[mod] = WebAssembly.validate(b) ? new WebAssembly.Instance(new WebAssembly.Module(b), {}).exports : undefined;
  }
  const peaks = {};
  for (const { mod, fn, perIter } of LOOPS) peaks[fn] = modules[mod] ? gmacs(modules[mod][fn], perIter, quick) : null;
  return { relaxed: !!modules.relaxed, peaks };
}
