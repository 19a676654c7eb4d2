import { describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/kernels/index.js';
import { fromFloat32Array } from '../../src/sources/memory.js';
import { kmeans, kmeansWith, localExecutor } from '../../src/train/kmeans.js';
import { trainLocal } from '../../src/train/local.js';
import { residualRows, trainPq } from '../../src/train/pq.js';
import { createRng } from '../../src/util/rng.js';
import { createPoolExecutor } from '../../src/workers/executor.js';
import { warmStats } from '../../src/workers/worker.js';

/** Gaussian-ish blobs around `centers` random centers (seeded). */
function blobs(n: number, dim: number, centers: number, seed: number): Float32Array {
  const rng = createRng(seed, 99);
  const c = new Float32Array(centers * dim).map(() => rng.next() * 10 - 5);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const b = rng.int(centers);
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[b * dim + j]! + (rng.next() + rng.next() + rng.next() - 1.5);
  }
  return out;
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('thread pool executor', () => {
  const dim = 16, n = 3001, k = 24;
  const data = blobs(n, dim, 30, 1);

  it('k-means through 1, 2 and 3 threads equals single-thread k-means bit for bit (with balance term)', async () => {
    const kernels = await loadKernels();
    const opts = { seed: 7, maxIters: 15, balanceFactor: 1, kernels };
    const ref = await kmeansWith(localExecutor(data, dim, kernels), k, opts);
    expect(ref.iterations).toBeGreaterThan(1);
    const plain = await kmeans(data, dim, k, opts);
    expect(bits(plain.centroids)).toEqual(bits(ref.centroids));
    for (const threads of [1, 2, 3]) {
      const ex = await createPoolExecutor(data, dim, { threads, build: kernels.build });
      try {
        expect(ex.threads).toBe(threads);
        const got = await kmeansWith(ex, k, opts);
        expect(bits(got.centroids)).toEqual(bits(ref.centroids));
        expect(Object.is(got.loss, ref.loss)).toBe(true);
        expect(got.lossHistory).toEqual(ref.lossHistory);
        expect(got.iterations).toBe(ref.iterations);
      } finally {
        await ex.close();
      }
    }
  });

  it('partialStats recycles buffers: the caller\'s centroids stay intact, released sums come back, stats equal local ones', async () => {
    const kernels = await loadKernels();
    const local = localExecutor(data, dim, kernels);
    const shift = 20, lossShift = 20;
    for (const threads of [1, 3]) {
      const ex = await createPoolExecutor(data, dim, { threads, build: kernels.build });
      try {
        let c = data.slice(0, k * dim);
        let released: ArrayBufferLike | undefined, kept: ArrayBufferLike | undefined;
        for (let it = 1; it <= 6; it++) {
          const before = c.slice();
          const ctx = { iteration: it, shift, lossShift, metric: 'l2' as const, ...(it > 2 ? { bounds: true } : {}) };
          const got = await ex.partialStats(c, ctx);
          const want = await local.partialStats(c, { iteration: it, shift, lossShift, metric: 'l2' });
          expect(c.length, 'not detached').toBe(k * dim);
          expect(bits(c)).toEqual(bits(before));
          expect(got.sums).toEqual(want.sums);
          expect(got.counts).toEqual(want.counts);
          expect(got.clusterLoss).toEqual(want.clusterLoss);
          // A released sums buffer went back to a worker with this step's request; a kept one is still the caller's.
          if (released) expect(released.byteLength, `step ${it}: released buffer handed on`).toBe(0);
          if (kept) expect(kept.byteLength, `step ${it}: kept buffer untouched`).toBe(k * dim * 8);
          released = kept = undefined;
          c = c.map((v, i) => v + 0.01 * Math.sin(it + i));
          if (it % 2 === 0) {
            released = got.sums.buffer;
            ex.release!(got);
          } else kept = got.sums.buffer;
        }
      } finally {
        await ex.close();
      }
    }
  });

  it('embedding-sized k-means (pair bounds in the workers): 2 threads equal one local run bit for bit, and bounds: false', async () => {
    const kernels = await loadKernels();
    const d = 256, rows = 1500, kk = 512;
    const x = blobs(rows, d, 60, 5);
    const opts = { seed: 11, maxIters: 5, tolerance: 0, kernels };
    const ref = await kmeansWith(localExecutor(x, d, kernels), kk, { ...opts, bounds: false });
    const ex = await createPoolExecutor(x, d, { threads: 2, build: kernels.build });
    try {
      const got = await kmeansWith(ex, kk, opts);
      expect(bits(got.centroids)).toEqual(bits(ref.centroids));
      expect(got.lossHistory).toEqual(ref.lossHistory);
    } finally {
      await ex.close();
    }
  });

  it('the JIT warm-up a worker runs at init goes to the end with every build, and reports a failure instead of throwing', async () => {
    for (const build of ['auto', 'scalar', 'reference'] as const) expect(warmStats(await loadKernels({ build })), build).toBe(true);
    const broken = { ...(await loadKernels()), sqNorms: () => { throw new Error('boom'); } };
    expect(warmStats(broken)).toBe(false);
  });

  it('kmeans++ init uses the local copy and still matches', async () => {
    const kernels = await loadKernels();
    const opts = { seed: 3, maxIters: 8, init: 'kmeans++' as const, kernels };
    const ref = await kmeansWith(localExecutor(data, dim, kernels), k, opts);
    const ex = await createPoolExecutor(data, dim, { threads: 2 });
    try {
      const got = await kmeansWith(ex, k, opts);
      expect(bits(got.centroids)).toEqual(bits(ref.centroids));
      expect(Object.is(got.loss, ref.loss)).toBe(true);
    } finally {
      await ex.close();
    }
  });

  it('PQ lock-step statistics through the pool equal the local PQ codebook bit for bit', async () => {
    const kernels = await loadKernels();
    const x = blobs(2000, dim, 12, 2);
    const opts = { numSubVectors: 4, numBits: 4 as const, maxIters: 12, seed: 11, kernels };
    const ref = await trainPq(x, dim, opts);
    for (const threads of [2, 3]) {
      const ex = await createPoolExecutor(x, dim, { threads });
      try {
        const got = await trainPq(new Float32Array(0), dim, { ...opts, executor: ex });
        expect(bits(got.codebook)).toEqual(bits(ref.codebook));
      } finally {
        await ex.close();
      }
    }
  });

  it('residuals(): the workers turn their shards into x − c_nearest (in place; a copy of a shared shard); rows, nearest, maxAbs and PQ stats equal a local residual copy', async () => {
    const kernels = await loadKernels();
    const x = blobs(2500, dim, 12, 3);
    x[7 * dim + 2] = NaN;                                    // a row with no nearest centroid: a NaN residual row
    const c = blobs(20, dim, 12, 4);
    const ref = residualRows(x, dim, c, kernels);
    const nearest = kernels.assign(x, dim, c, { metric: 'l2' }).index.slice(0, 2500);
    // Rows in a SharedArrayBuffer are shared with the workers, not copied to them: their residuals must not reach the caller.
    const xs = new Float32Array(new SharedArrayBuffer(x.byteLength));
    xs.set(x);
    for (const [threads, warm, shared, inPlace] of [[2, false, false, false], [3, true, false, true], [2, true, true, false], [3, false, true, false],
      [2, true, true, true]] as const) {
      // inPlace: shared rows the caller gives up become the residuals (rows not shared: the workers' copies do anyway).
      const given = inPlace && shared ? Float32Array.from(x) : undefined;
      const rowsIn = given ? new Float32Array(new SharedArrayBuffer(x.byteLength)) : shared ? xs : x;
      if (given) rowsIn.set(given);
      const pool = await createPoolExecutor(rowsIn, dim, { threads, build: kernels.build });
      try {
        // With warm = true the workers hold bounds from k-means steps first: the nearest centroids come from them.
        if (warm) await kmeansWith(pool, 20, { seed: 3, maxIters: 4, kernels });
        const res = await pool.residuals(c, { inPlace });
        if (given) expect(bits(rowsIn), 'shared rows given up hold the residuals').toEqual(bits(ref));
        expect(res.nearest).toEqual(nearest);
        const picks = Uint32Array.from([0, 7, 1249, 1250, 2499]);
        const got = await res.rows(picks);
        for (let i = 0; i < picks.length; i++) {
          expect(bits(got.subarray(i * dim, (i + 1) * dim))).toEqual(bits(ref.subarray(picks[i]! * dim, (picks[i]! + 1) * dim)));
        }
        expect(res.maxAbs).toBe(kernels.maxAbs(ref));
        expect(bits(x.subarray(0, dim))).not.toEqual(bits(ref.subarray(0, dim)));   // the caller's rows are untouched
        expect(bits(xs), 'the shared rows are untouched').toEqual(bits(x));
        const opts = { numSubVectors: 4, numBits: 4 as const, maxIters: 6, seed: 2, kernels };
        const want = await trainPq(new Float32Array(0), dim, { ...opts, executor: localExecutor(ref, dim, kernels) });
        const pq = await trainPq(new Float32Array(0), dim, { ...opts, executor: res });
        expect(bits(pq.codebook)).toEqual(bits(want.codebook));
        // The raw-row executor is spent; closing the residual one closes the workers.
        await expect(pool.rows(picks)).rejects.toMatchObject({ code: 'invalid-state' });
        await expect(pool.partialStats(c, { iteration: 1, shift: 0, lossShift: 0, metric: 'l2' })).rejects.toMatchObject({ code: 'invalid-state' });
        await expect(pool.residuals(c)).rejects.toMatchObject({ code: 'invalid-state' });
        await res.close();
        await expect(res.partialStats(c, { iteration: 1, shift: 0, lossShift: 0, metric: 'l2' })).rejects.toMatchObject({ code: 'closed' });
      } finally {
        await pool.close();
      }
    }
    const pool = await createPoolExecutor(x, dim, { threads: 2 });
    try {
      await expect(pool.residuals(c.subarray(0, dim + 3))).rejects.toMatchObject({ code: 'dimension-mismatch' });
    } finally {
      await pool.close();
    }
  });

  it('maxAbs comes from the workers: the largest finite |x| of all shards (NaN and ±Inf ignored), any build', async () => {
    const x = data.slice(0, 900 * dim);
    x[5] = NaN; x[17 * dim + 3] = -Infinity; x[800 * dim] = -41.25; x[450 * dim + 1] = 40;
    for (const build of ['auto', 'reference'] as const) {
      const ex = await createPoolExecutor(x, dim, { threads: 3, build });
      try {
        expect(ex.maxAbs, build).toBe(41.25);
      } finally {
        await ex.close();
      }
    }
  });

  it('the reference kernels can run in the workers too', async () => {
    const kernels = await loadKernels({ build: 'reference' });
    const opts = { seed: 5, maxIters: 5, kernels };
    const small = data.subarray(0, 600 * dim);
    const ref = await kmeansWith(localExecutor(small, dim, kernels), 8, opts);
    const ex = await createPoolExecutor(small, dim, { threads: 2, build: 'reference' });
    try {
      const got = await kmeansWith(ex, 8, opts);
      expect(bits(got.centroids)).toEqual(bits(ref.centroids));
    } finally {
      await ex.close();
    }
  });

  it('abort terminates the workers, rejects with code aborted, and a new pool works afterwards', async () => {
    const big = blobs(40_000, 64, 50, 4);
    const ac = new AbortController();
    const ex = await createPoolExecutor(big, 64, { threads: 2, signal: ac.signal });
    const t0 = performance.now();
    const run = kmeansWith(ex, 256, { seed: 1, maxIters: 50, tolerance: 0, hierarchicalK: 0 });
    setTimeout(() => ac.abort(new Error('stop')), 30);
    const err = await run.then(() => undefined, (e: unknown) => e as { code?: string; name?: string });
    expect(err?.code).toBe('aborted');
    expect(err?.name).toBe('AbortError');
    expect(performance.now() - t0).toBeLessThan(20_000);
    await expect(ex.partialStats(new Float32Array(256 * 64), { iteration: 1, shift: 0, lossShift: 0, metric: 'l2' }))
      .rejects.toMatchObject({ code: 'aborted' });
    await ex.close();
    await ex.close();
    const again = await createPoolExecutor(data, dim, { threads: 2 });
    try {
      const kernels = await loadKernels();
      const ref = await kmeansWith(localExecutor(data, dim, kernels), 4, { seed: 2, maxIters: 3 });
      const got = await kmeansWith(again, 4, { seed: 2, maxIters: 3 });
      expect(bits(got.centroids)).toEqual(bits(ref.centroids));
    } finally {
      await again.close();
    }
  });

  it('an already aborted signal and bad threads are rejected with clear errors', async () => {
    const ac = new AbortController();
    ac.abort(new Error('early'));
    await expect(createPoolExecutor(data, dim, { threads: 2, signal: ac.signal })).rejects.toMatchObject({ code: 'aborted' });
    await expect(createPoolExecutor(data, dim, { threads: 0 })).rejects.toThrow(/threads: expected an integer ≥ 1, got 0/);
    await expect(createPoolExecutor(data, 7, { threads: 2 })).rejects.toThrow(/multiple of dim 7/);
  });

  it('more threads than rows uses one shard per row; closed executors reject', async () => {
    const tiny = data.subarray(0, 3 * dim);
    const ex = await createPoolExecutor(tiny, dim, { threads: 8 });
    expect(ex.threads).toBe(3);
    const r = await ex.rows(new Uint32Array([2, 0]));
    expect([...r]).toEqual([...tiny.subarray(2 * dim, 3 * dim), ...tiny.subarray(0, dim)]);
    await ex.close();
    await expect(ex.partialStats(tiny.slice(0, dim), { iteration: 1, shift: 0, lossShift: 0, metric: 'l2' })).rejects.toMatchObject({ code: 'closed' });
  });

  it('trainLocal with threads: 2 equals threads: 1 bit for bit (IVF + PQ)', async () => {
    const source = fromFloat32Array(blobs(6000, dim, 40, 6), dim, { fragmentRows: 1000 });
    const params = { numPartitions: 16, sampleRate: 64, maxIters: 10, seed: 9, pq: { numSubVectors: 4, numBits: 4 as const } };
    const one = await trainLocal(source, { ...params, threads: 1 });
    const two = await trainLocal(source, { ...params, threads: 2 });
    expect(bits(two.ivf.centroids)).toEqual(bits(one.ivf.centroids));
    expect(Object.is(two.ivf.loss, one.ivf.loss)).toBe(true);
    expect(bits(two.pq!.codebook)).toEqual(bits(one.pq!.codebook));
  });

  it('trainLocal on two threads: an abort in the IVF stage or in PQ (on the workers holding the residuals) rejects with code aborted', async () => {
    const source = fromFloat32Array(blobs(1500, dim, 40, 8), dim, { fragmentRows: 400 });
    const params = { numPartitions: 16, sampleRate: 128, maxIters: 30, tolerance: 0, seed: 4, pq: { numSubVectors: 4, numBits: 4 as const }, threads: 2 };
    for (const stage of ['ivf', 'pq']) {
      const ac = new AbortController();
      const seen: string[] = [];
      const run = trainLocal(source, { ...params, signal: ac.signal, onProgress: (p) => {
        seen.push(p.stage);
        if (p.stage === stage && p.iteration === 2) ac.abort(new Error(`stop in ${stage}`));
      } });
      await expect(run, stage).rejects.toMatchObject({ code: 'aborted' });
      expect(seen.filter((s) => s === stage).length, stage).toBeLessThan(5);
      if (stage === 'ivf') expect(seen).not.toContain('pq');
    }
    const done = await trainLocal(source, params);
    expect(done.pq!.codebook.length).toBe(4 * 16 * (dim / 4));
  });

  it('trainLocal on two threads keeps the pool for PQ when the PQ sample is the IVF sample (residuals in the workers, raw rows for dot): same bits as one thread', async () => {
    // 1,500 rows, both sample targets above that: every row in both samples, so one pool serves IVF and PQ.
    const source = fromFloat32Array(blobs(1500, dim, 40, 7), dim, { fragmentRows: 400 });
    for (const [metric, numBits] of [['l2', 4], ['cosine', 8], ['dot', 4]] as const) {
      const params = { numPartitions: 16, sampleRate: 128, maxIters: 8, seed: 4, metric, pq: { numSubVectors: 4, numBits } };
      const one = await trainLocal(source, { ...params, threads: 1 });
      const two = await trainLocal(source, { ...params, threads: 2 });
      expect(bits(two.ivf.centroids), metric).toEqual(bits(one.ivf.centroids));
      expect(bits(two.pq!.codebook), metric).toEqual(bits(one.pq!.codebook));
    }
  });
});

describe('trainLocal threads above the core count', () => {
  it('trains (same bits) and warns that the workers share the cores', async () => {
    const { defaultThreads } = await import('../../src/workers/executor.js');
    const cores = await defaultThreads();
    const threads = Math.max(3, cores + 1);
    const rng = createRng(12);
    const x = Float32Array.from({ length: 2000 * 8 }, () => rng.next());
    const params = { numPartitions: 8, maxIters: 4, seed: 5 };
    const one = await trainLocal(fromFloat32Array(x, 8), { ...params, threads: 1 });
    const warnings: string[] = [];
    const many = await trainLocal(fromFloat32Array(x, 8), { ...params, threads, logger: { warn: (m) => warnings.push(m) } });
    expect(Array.from(many.ivf.centroids)).toEqual(Array.from(one.ivf.centroids));
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^ivfkit: threads ${threads} on ${cores} logical cores: the workers share the cores`))]);
  });

  it('workerUrl: a path relative to the working directory, or a URL; a worker file that is not there fails naming it', async () => {
    const rng = createRng(13);
    const x = Float32Array.from({ length: 2000 * 8 }, () => rng.next());
    const params = { numPartitions: 8, maxIters: 4, seed: 5 };
    const one = await trainLocal(fromFloat32Array(x, 8), { ...params, threads: 1 });
    const rel = await trainLocal(fromFloat32Array(x, 8), { ...params, threads: 2, workerUrl: 'dist/workers/worker.js' });
    expect(Array.from(rel.ivf.centroids)).toEqual(Array.from(one.ivf.centroids));
    const url = new URL('../../dist/workers/worker.js', import.meta.url);
    const abs = await trainLocal(fromFloat32Array(x, 8), { ...params, threads: 2, workerUrl: url });
    expect(Array.from(abs.ivf.centroids)).toEqual(Array.from(one.ivf.centroids));
    await expect(trainLocal(fromFloat32Array(x, 8), { ...params, threads: 2, workerUrl: 'no/such/worker.js' })).rejects.toThrow(/no\/such\/worker\.js/);
  });
});
