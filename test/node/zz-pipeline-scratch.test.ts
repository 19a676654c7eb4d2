import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import { evaluateRecall, exactTopK } from '../../src/model/index.js';
import { fromFloat32Array } from '../../src/sources/index.js';
import { trainLocal } from '../../src/train/local.js';
it('scratch', async () => {
  const kernels = await loadKernels();
  const rd = (p: string) => { const b = readFileSync(p); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); };
  const base = rd('/tmp/pipe/base.f32');
  const { gunzipSync } = await import('node:zlib');
  const qb = gunzipSync(readFileSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz'));
  const q = Float32Array.from(qb.subarray(16, 16 + 1000 * 784));
  const gt = exactTopK(base, q, 784, 'l2', 10, kernels);
  for (const seed of [1, 2, 3]) {
    let t = performance.now();
    const ours = await trainLocal(fromFloat32Array(base, 784), { numPartitions: 256, pq: { numSubVectors: 16 }, maxIters: 10, sampleRate: 64, seed, kernels });
    const tt = (performance.now() - t) / 1000;
    const r1 = await evaluateRecall(ours, base, q, { groundTruth: gt, kernels });
    spawnSync('/usr/bin/python3', ['/tmp/pipe/ftrain.py', '/tmp/pipe/base.f32', '/tmp/pipe', '784', '256', '16', '10', String(seed), '64']);
    const m = { metric: 'l2' as const, dim: 784, ivf: { centroids: rd('/tmp/pipe/centroids.f32'), numPartitions: 256, loss: 0 }, pq: { numSubVectors: 16, numBits: 8 as const, codebook: rd('/tmp/pipe/codebook.f32') }, sample: { rows: 0, dropped: 0 } };
    const r2 = await evaluateRecall(m, base, q, { groundTruth: gt, kernels });
    console.log('seed', seed, 'ivfkit', r1.recall, r1.meanCandidates, 'train', tt, 'faiss', r2.recall, r2.meanCandidates, 'loss', ours.ivf.loss);
  }
});
