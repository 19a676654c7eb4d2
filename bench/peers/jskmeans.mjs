// Pure-JS k-means peers of bench/run.mjs (ml-kmeans, skmeans), resolved from the peers' own
// node_modules ($PEERS_NODE_MODULES, default /tmp/peers/node_modules), never from the project.
//   node jskmeans.mjs '<json job>'   → one JSON line { times, files, iterations, version }
// Both take number[][] rows, so the Float32Array → rows conversion happens before the clock starts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const PEERS_NODE_MODULES = process.env.PEERS_NODE_MODULES ?? '/tmp/peers/node_modules';

/** The installed version of a peer package, or undefined when it is not installed. */
export function peerVersion(name, nm = PEERS_NODE_MODULES) {
  try {
    return JSON.parse(readFileSync(join(nm, name, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

async function importPeer(name) {
  const dir = join(PEERS_NODE_MODULES, name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (pkg.type !== 'module' && !pkg.exports) return createRequire(join(PEERS_NODE_MODULES, '..', 'x.js'))(name);
  let entry = pkg.exports?.['.'] ?? pkg.exports;
  if (entry && typeof entry === 'object') entry = entry.import?.default ?? entry.import ?? entry.default ?? entry.require;
  return import(pathToFileURL(join(dir, entry ?? pkg.module ?? pkg.main ?? 'index.js')).href);
}

function readRows(path, n, d) {
  const b = readFileSync(path);
  const a = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  if (a.length !== n * d) throw new Error(`${path}: expected ${n * d} floats, got ${a.length}`);
  return Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * d, i * d + d)));
}

async function main() {
  const job = JSON.parse(process.argv[2]);
  const { n, d, k, iters } = job;
  const rows = readRows(job.data, n, d);
  let train;
  if (job.impl === 'ml-kmeans') {
    const { kmeans } = await importPeer('ml-kmeans');
    const init = readRows(job.init, k, d);
    train = () => {
      const r = kmeans(rows, k, { initialization: init.map((c) => c.slice()), maxIterations: iters, tolerance: 0 });
      return { centroids: r.centroids, iterations: r.iterations };
    };
  } else if (job.impl === 'skmeans') {
    const skmeans = (await importPeer('skmeans')).default ?? (await importPeer('skmeans'));
    const init = readRows(job.init, k, d);
    train = () => {
      const r = skmeans(rows, k, init.map((c) => c.slice()), iters);
      return { centroids: r.centroids, iterations: r.it };
    };
  } else {
    throw new Error(`unknown JS peer ${job.impl}`);
  }
  const times = [];
  let res;
  for (let r = 0; r < job.runs; r++) {
    const t0 = performance.now();
    res = train();
    times.push((performance.now() - t0) / 1000);
  }
  mkdirSync(job.out, { recursive: true });
  const centroids = join(job.out, 'centroids.f32');
  writeFileSync(centroids, new Uint8Array(Float32Array.from(res.centroids.flat()).buffer));
  console.log(JSON.stringify({ times, files: { centroids }, iterations: res.iterations, version: peerVersion(job.impl) }));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
