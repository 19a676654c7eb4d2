#!/usr/bin/env node
// Peak throughput, in this runtime on this core, of the dot-product instructions ivfkit's kernels use or could use:
// register-only loops with 8 independent chains (bench/peaks/*.ts), best of 5 calls of ~0.25 s each.
//   npm run bench:peaks                                   the machine's Node (relaxed SIMD needs a flag before Node 22:
//                                                         node --experimental-wasm-relaxed-simd bench/peaks.mjs)
//   $(node scripts/node-lts.mjs) bench/peaks.mjs          the active Node LTS
//   node_modules/.bin/deno run --allow-read bench/peaks.mjs,  node_modules/.bin/bun bench/peaks.mjs
//   … --quick                                             a few ms per loop (smoke test)
// The modules are built (by Node, with AssemblyScript) into build/bench/ when missing or older than their sources.
// The last line is JSON: { runtime, version, relaxed, peaks: { name: G multiply-adds/s | null } }.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'bench', 'peaks');
const OUT = join(ROOT, 'build', 'bench');
const g = globalThis;
const runtime = g.Deno ? 'deno' : g.Bun ? 'bun' : 'node';
const version = g.Deno ? `${g.Deno.version.deno} (V8 ${g.Deno.version.v8})` : g.Bun ? g.Bun.version : `${process.version} (V8 ${process.versions.v8})`;
const quick = process.argv.includes('--quick');

/** The loops: module, export, multiply-adds per instruction (8 instructions per iteration), what it is. */
const LOOPS = [
  { mod: 'simd', fn: 'i16Pair', macs: 8, what: 'i32x4.dot_i16x8_s + i32x4.add (the 16-bit filter\'s pair)' },
  { mod: 'simd', fn: 'f32MulAdd', macs: 4, what: 'f32x4.mul + f32x4.add (the exact f32 tiles)' },
  { mod: 'relaxed', fn: 'i8Relaxed', macs: 16, what: 'i32x4.relaxed_dot_i8x16_i7x16_add_s (relaxed SIMD)' },
  { mod: 'relaxed', fn: 'f32RelaxedMadd', macs: 4, what: 'f32x4.relaxed_madd (relaxed SIMD, FMA where the CPU has it)' },
];

async function build(target) {
  const wasm = join(OUT, `peaks-${target}.wasm`);
  const src = join(SRC, target === 'simd' ? 'peaks.ts' : 'relaxed.ts');
  const newest = Math.max(...[src, join(SRC, 'fold.ts')].map((f) => statSync(f).mtimeMs));
  if (existsSync(wasm) && statSync(wasm).mtimeMs >= newest) return wasm;
  if (runtime !== 'node') throw new Error(`${wasm}: expected it built (run npm run bench:peaks under Node once), got none or an old one`);
  const { execFileSync } = await import('node:child_process');
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js'), src, '--config', join(SRC, 'asconfig.json'),
    '--target', target], { cwd: ROOT, stdio: 'inherit' });
  return wasm;
}

function gmacs(fn, macs) {
  let n = quick ? 20_000 : 1_000_000;
  for (let i = 0; i < (quick ? 2 : 30); i++) fn(quick ? 1000 : 200_000, 1 + i);   // past the baseline tier (no on-stack replacement)
  if (!quick) {
    for (let t = 0; t < 8; t++) {                                           // ~0.25 s per call
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
    const sec = (performance.now() - s) / 1000;
    best = Math.max(best, (n * 8 * macs) / sec / 1e9);
  }
  return best;
}

const modules = {};
for (const target of ['simd', 'relaxed']) {
  const bytes = readFileSync(await build(target));
  modules[target] = WebAssembly.validate(bytes) ? new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports : undefined;
}
console.log(`${runtime} ${version}: peak multiply-adds per second on one core, register-only loops${quick ? ' (--quick: not a measurement)' : ''}`);
const peaks = {};
for (const { mod, fn, macs, what } of LOOPS) {
  const m = modules[mod];
  peaks[fn] = m ? gmacs(m[fn], macs) : null;
  console.log(`  ${fn.padEnd(15)} ${m ? `${peaks[fn].toFixed(1).padStart(6)} G/s` : '  n/a     '}  ${what}${m ? '' : ': relaxed SIMD does not validate here'}`);
}
console.log(JSON.stringify({ runtime, version, relaxed: !!modules.relaxed, peaks }));
