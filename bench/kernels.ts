// Kernel throughput: `npm run bench:kernels`. Prints GFLOP/s (median of 3 runs) of the wasm assignment
// kernel and PQ encoder next to a plain-JS loop doing the same work in the same run, then the k-means
// map step (assign vs the fused assignAccumulate / pqAssignAccumulate).
import { isBuildSupported, loadKernels } from '../src/kernels/index.js';
import type { Kernels } from '../src/kernels/index.js';
import { createRng } from '../src/util/rng.js';

const RUNS = 3;

function data(seed: number, len: number): Float32Array {
  const rng = createRng(seed, 7);
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Seconds of CPU time the process got (the machine may be shared), or wall time where unavailable. */
function time(fn: () => void): number {
  const cpu = typeof process !== 'undefined' && typeof process.cpuUsage === 'function';
  const c0 = cpu ? process.cpuUsage() : undefined;
  const t0 = performance.now();
  fn();
  const wall = (performance.now() - t0) / 1000;
  if (!c0) return wall;
  const u = process.cpuUsage(c0);
  walls.push(wall);
  return (u.user + u.system) / 1e6;
}
const walls: number[] = [];

/** The plain-JS baseline: nearest centroid by ‖x‖² + ‖c‖² − 2 x·c, 4 centroids at a time. */
function jsAssign(x: Float32Array, d: number, c: Float32Array, index: Int32Array): void {
  const n = x.length / d, k = c.length / d;
  const cn = new Float32Array(k);
  for (let j = 0; j < k; j++) { let s = 0; for (let t = 0; t < d; t++) s += c[j * d + t]! * c[j * d + t]!; cn[j] = s; }
  for (let i = 0; i < n; i++) {
    const xo = i * d;
    let best = Infinity, bi = -1;
    for (let j = 0; j < k; j++) {
      const co = j * d;
      let s = 0;
      for (let t = 0; t < d; t++) s += x[xo + t]! * c[co + t]!;
      const v = cn[j]! - 2 * s;
      if (v < best) { best = v; bi = j; }
    }
    index[i] = bi;
  }
}

function jsPq(x: Float32Array, d: number, cb: Float32Array, m: number, ksub: number, out: Uint8Array): void {
  const n = x.length / d, ds = d / m;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < m; s++) {
      const xo = i * d + s * ds;
      let best = Infinity, bi = 0;
      for (let c = 0; c < ksub; c++) {
        const co = (s * ksub + c) * ds;
        let acc = 0;
        for (let j = 0; j < ds; j++) { const t = x[xo + j]! - cb[co + j]!; acc += t * t; }
        if (acc < best) { best = acc; bi = c; }
      }
      out[i * m + s] = bi;
    }
  }
}

/** GFLOP/s from the median CPU time; the wall-clock rate of the same runs is kept in `lastWall`. */
function rate(flops: number, secs: number[]): number {
  const w = walls.splice(0);
  lastWall = w.length ? flops / median(w) / 1e9 : NaN;
  lastRange = `${(flops / Math.max(...secs) / 1e9).toFixed(1)}–${(flops / Math.min(...secs) / 1e9).toFixed(1)}`;
  return flops / median(secs) / 1e9;
}
let lastWall = NaN;
let lastRange = '';

function fmt(g: number): string {
  return g.toFixed(1).padStart(6);
}

async function main(): Promise<void> {
  const builds = (['simd', 'dot8', 'relaxed', 'scalar'] as const).filter(isBuildSupported);
  const kernels: Kernels[] = [];
  for (const b of builds) kernels.push(await loadKernels({ build: b }));
  console.log(`ivfkit kernel bench — ${typeof process !== 'undefined' ? `node ${process.version}` : ''}; builds: ${builds.join(', ')}; median of ${RUNS} runs, GFLOP/s from CPU time (wall-clock in brackets; the machine may be shared)`);

  const cases = [
    { name: 'assign', n: 65536, d: 128, k: 256, jsRows: 4096 },
    { name: 'assign', n: 8192, d: 768, k: 1024, jsRows: 256 },
  ];
  for (const c of cases) {
    const x = data(1, c.n * c.d), cent = data(2, c.k * c.d);
    const flops = 2 * c.n * c.k * c.d;
    const jsIdx = new Int32Array(c.jsRows);
    const js = rate(2 * c.jsRows * c.k * c.d, Array.from({ length: RUNS }, () => time(() => jsAssign(x.subarray(0, c.jsRows * c.d), c.d, cent, jsIdx))));
    for (const K of kernels) {
      const outIndex = new Int32Array(c.n), outDist = new Float32Array(c.n);
      K.assign(x.subarray(0, 64 * c.d), c.d, cent); // warm-up
      const g = rate(flops, Array.from({ length: RUNS }, () => time(() => K.assign(x, c.d, cent, { outIndex, outDist }))));
      const info = `(range ${lastRange}, wall ${lastWall.toFixed(1)})`;
      let agree = 0;
      for (let i = 0; i < c.jsRows; i++) agree += +(outIndex[i] === jsIdx[i]);
      console.log(`${c.name} n=${c.n} d=${c.d} k=${c.k} ${K.build.padEnd(7)} ${fmt(g)} GFLOP/s ${info} | plain JS ${fmt(js)} GFLOP/s | ×${(g / js).toFixed(1)} | same index as JS ${agree}/${c.jsRows}`);
    }
  }

  {
    // The k-means map step: assign alone, then assign + accumulate fused (one copy of each row block).
    const n = 65536, d = 128, k = 256;
    const x = data(5, n * d), cent = data(6, k * d);
    const flops = 2 * n * k * d;
    const mk = (kk: number, dd: number) => ({ shift: 40, lossShift: 30, sums: new BigInt64Array(kk * dd), counts: new Float64Array(kk),
      clusterLoss: new BigInt64Array(kk), radius: new Float32Array(kk) });
    for (const K of kernels) {
      const outIndex = new Int32Array(n), outDist = new Float32Array(n);
      const a = rate(flops, Array.from({ length: RUNS }, () => time(() => K.assign(x, d, cent, { outIndex, outDist }))));
      const f = rate(flops, Array.from({ length: RUNS }, () => time(() => K.assignAccumulate(x, d, cent, mk(k, d)))));
      console.log(`map step n=${n} d=${d} k=${k} ${K.build.padEnd(7)} assign ${fmt(a)} GFLOP/s | assignAccumulate ${fmt(f)} GFLOP/s (wall ${lastWall.toFixed(1)})`);
    }
    for (const { dd, mm, rows } of [{ dd: 128, mm: 16, rows: 65536 }, { dd: 784, mm: 16, rows: 9472 }]) {
      const xs = data(7, rows * dd), cb = data(8, 256 * dd);
      const pf = 2 * rows * dd * 256;
      for (const K of kernels) {
        const g = rate(pf, Array.from({ length: RUNS }, () => time(() => K.pqAssignAccumulate(xs, dd, cb, mm, 256, mk(mm * 256, dd / mm)))));
        console.log(`pqAssignAccumulate n=${rows} d=${dd} M=${mm} ds=${dd / mm} 8-bit ${K.build.padEnd(7)} ${fmt(g)} GFLOP/s (wall ${lastWall.toFixed(1)})`);
      }
    }
  }

  {
    const n = 65536, d = 128, m = 16, ksub = 256, jsRows = 4096;
    const x = data(3, n * d), cb = data(4, ksub * d);
    const flops = 2 * n * d * ksub;
    const jsOut = new Uint8Array(jsRows * m);
    const js = rate(2 * jsRows * d * ksub, Array.from({ length: RUNS }, () => time(() => jsPq(x.subarray(0, jsRows * d), d, cb, m, ksub, jsOut))));
    for (const K of kernels) {
      const out = new Uint8Array(n * m);
      K.pqEncode(x.subarray(0, 64 * d), d, cb, m, 8);
      const g = rate(flops, Array.from({ length: RUNS }, () => time(() => K.pqEncode(x, d, cb, m, 8, out))));
      const info = `(range ${lastRange}, wall ${lastWall.toFixed(1)})`;
      let agree = 0;
      for (let i = 0; i < jsRows * m; i++) agree += +(out[i] === jsOut[i]);
      console.log(`pqEncode n=${n} d=${d} M=${m} 8-bit ${K.build.padEnd(7)} ${fmt(g)} GFLOP/s ${info} | plain JS ${fmt(js)} GFLOP/s | ×${(g / js).toFixed(1)} | same codes as JS ${agree}/${jsRows * m}`);
    }
  }
}

await main();
