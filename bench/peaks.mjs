#!/usr/bin/env node
// Peak throughput, in this runtime on this core, of the dot-product instructions ivfkit's kernels use or could use:
// register-only loops with 8 independent chains (bench/peaks/*.ts), best of 5 calls of ~0.25 s each.
//   npm run bench:peaks                                   the machine's Node (relaxed SIMD needs a flag before Node 22:
//                                                         node --experimental-wasm-relaxed-simd bench/peaks.mjs)
//   $(node scripts/node-lts.mjs) bench/peaks.mjs          the active Node LTS
//   node_modules/.bin/deno run --allow-read bench/peaks.mjs,  node_modules/.bin/bun bench/peaks.mjs
//   npm run bench:peaks -- --chromium                     headless Chromium (CHROMIUM_PATH or /usr/bin/chromium),
//                                                         the page served from 127.0.0.1
//   … --quick                                             a few ms per loop (smoke test)
// The modules are built (by Node, with AssemblyScript) into build/bench/ when missing or older than their sources.
// The last line is JSON: { runtime, version, relaxed, peaks: { name: G multiply-adds/s | null } }. The loops are
// bench/peaks/*.ts; the measuring code (bench/peaks/measure.mjs) is the same in every runtime and in the page.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOOPS, measure } from './peaks/measure.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'bench', 'peaks');
const OUT = join(ROOT, 'build', 'bench');
const g = globalThis;
const quick = process.argv.includes('--quick');
const inChromium = process.argv.includes('--chromium');

async function build(target) {
  const wasm = join(OUT, `peaks-${target}.wasm`);
  const src = join(SRC, target === 'simd' ? 'peaks.ts' : 'relaxed.ts');
  const newest = Math.max(...[src, join(SRC, 'fold.ts'), join(SRC, 'tiles.ts'), join(SRC, 'asconfig.json')].map((f) => statSync(f).mtimeMs));
  if (existsSync(wasm) && statSync(wasm).mtimeMs >= newest) return wasm;
  if (g.Deno || g.Bun) throw new Error(`${wasm}: expected it built (run npm run bench:peaks under Node once), got none or an old one`);
  const { execFileSync } = await import('node:child_process');
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js'), src, '--config', join(SRC, 'asconfig.json'),
    '--target', target], { cwd: ROOT, stdio: 'inherit' });
  return wasm;
}

/** The same measurement in a page of headless Chromium, served from a loopback port. */
async function chromium() {
  const { closeServer, launchChromium, servePage } = await import('../scripts/browser.mjs');
  const { server, base } = await servePage(`<!doctype html><script type="module">
    import { measure } from '/bench/peaks/measure.mjs';
    const bytes = {};
    for (const t of ['simd', 'relaxed']) bytes[t] = new Uint8Array(await (await fetch('/build/bench/peaks-' + t + '.wasm')).arrayBuffer());
    console.log('PEAKS ' + JSON.stringify({ version: navigator.userAgent.match(/Chrome\\/([\\d.]+)/)?.[1], ...measure(bytes, ${quick}) }));
  </script>`, ['/bench/peaks/measure.mjs', '/build/bench/peaks-simd.wasm', '/build/bench/peaks-relaxed.wasm']);
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    const line = new Promise((resolve) => tab.on('console', (m) => { if (m.text().startsWith('PEAKS ')) resolve(m.text().slice(6)); }));
    await tab.goto(`${base}/`);
    return JSON.parse(await line);
  } finally {
    await browser.close();
    await closeServer(server);
  }
}

const wasm = { simd: await build('simd'), relaxed: await build('relaxed') };
let runtime, version, result;
if (inChromium) {
  const m = await chromium();
  runtime = 'chromium';
  version = m.version;
  result = { relaxed: m.relaxed, peaks: m.peaks };
} else {
  runtime = g.Deno ? 'deno' : g.Bun ? 'bun' : 'node';
  version = g.Deno ? `${g.Deno.version.deno} (V8 ${g.Deno.version.v8})` : g.Bun ? g.Bun.version : `${process.version} (V8 ${process.versions.v8})`;
  result = measure({ simd: readFileSync(wasm.simd), relaxed: readFileSync(wasm.relaxed) }, quick);
}
console.log(`${runtime} ${version}: peak multiply-adds per second on one core (register-only loops; the tiles with their loads)${quick ? ' (--quick: not a measurement)' : ''}`);
for (const { fn, what } of LOOPS) {
  const v = result.peaks[fn];
  console.log(`  ${fn.padEnd(15)} ${v !== null ? `${v.toFixed(1).padStart(6)} G/s` : '  n/a     '}  ${what}${v !== null ? '' : ': relaxed SIMD does not validate here'}`);
}
console.log(JSON.stringify({ runtime, version, ...result }));
