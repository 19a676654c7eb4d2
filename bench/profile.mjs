// Summarizes a V8 .cpuprofile (from `npm run bench -- --profile`, written to /tmp/ivfkit-bench/profiles):
// self time per function, largest first. Wasm functions are named from the export section of the
// built kernels (`--build simd|relaxed|scalar`, default simd); unexported helpers keep V8's index.
//   node bench/profile.mjs FILE.cpuprofile [TOP] [BUILD]
// Unexported helpers are named when the profiled run used a `--debug` build (asc … --target T --debug; its base64
// in dist/kernels/generated/T.js): V8 then takes every name from the binary's name section.
import { readFileSync } from 'node:fs';

/** Function index → export name of a wasm binary (imports count first, as in V8's wasm-function[i]). */
export function wasmExportNames(bytes) {
  const names = new Map();
  let p = 8;
  const leb = () => {
    let r = 0, s = 0, x;
    do { x = bytes[p++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80);
    return r >>> 0;
  };
  while (p < bytes.length) {
    const id = bytes[p++], len = leb(), end = p + len;
    if (id === 7) {
      for (let i = 0, count = leb(); i < count; i++) {
        const l = leb();
        const name = new TextDecoder().decode(bytes.subarray(p, p + l));
        p += l;
        const kind = bytes[p++], index = leb();
        if (kind === 0) names.set(index, name);
      }
    }
    p = end;
  }
  return names;
}

export function selfTimes(profile, wasmNames = new Map()) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const ticks = new Map();
  const dt = profile.timeDeltas ?? [];
  profile.samples.forEach((id, i) => ticks.set(id, (ticks.get(id) ?? 0) + (dt[i] ?? 0)));
  const totals = new Map();
  let all = 0;
  for (const [id, us] of ticks) {
    const { callFrame: f } = byId.get(id);
    const file = f.url ? f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '') : '';
    const wasm = /^wasm-function\[(\d+)\]$/.exec(f.functionName);
    const key = wasm ? `wasm ${wasmNames.get(+wasm[1]) ?? `function[${wasm[1]}] (internal)`}` : `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
    totals.set(key, (totals.get(key) ?? 0) + us);
    all += us;
  }
  return { all, rows: [...totals].sort((a, b) => b[1] - a[1]) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top = '20', build = 'simd'] = process.argv.slice(2);
  if (!file) throw new Error('usage: node bench/profile.mjs FILE.cpuprofile [TOP] [BUILD]');
  let names = new Map();
  try {
    const { getWasmBytes } = await import(new URL('../dist/kernels/index.js', import.meta.url).href);
    names = wasmExportNames(getWasmBytes(build));
  } catch (e) {
    console.log(`(wasm names unavailable: ${e.message})`);
  }
  const { all, rows } = selfTimes(JSON.parse(readFileSync(file, 'utf8')), names);
  console.log(`total sampled ${(all / 1e6).toFixed(2)} s`);
  for (const [key, us] of rows.slice(0, +top)) console.log(`${(us / 1e6).toFixed(3).padStart(8)} s ${((100 * us) / all).toFixed(1).padStart(5)} %  ${key}`);
}
