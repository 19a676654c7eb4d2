import type { Progress } from '../types.js';
import { throwIfAborted } from '../util/errors.js';
import { createRng, mix32, sampleDistinct, STREAM } from '../util/rng.js';
import { gatherRows } from './executor.js';

/** Rows per centroid a hierarchical sub-run trains on at most (Lance caps each run at k·512 rows). */
export const HIERARCHICAL_ROWS_PER_CENTROID = 512;

/** What one split returns: the sub-run's centroids and every row's nearest of them (−1: none). */
export interface SplitResult {
  centroids: Float32Array;
  index: Int32Array;
  /** The rows passed in, when the split moved them elsewhere and back (a worker's transfer): kept for the next split. */
  rows?: Float32Array;
}

/** Options of {@link hierarchicalCentroids}. */
export interface HierarchicalOptions {
  /** Ways per split (Lance: 16). */
  hierarchicalK: number;
  seed: number;
  redo: number;
  /** One split: flat k-means of `k` centroids on the first `train` rows of `rows` with `seed` (the caller's Lloyd loop),
   *  then the nearest of them for every row of `rows`. It may take `rows` (transfer them) and give them back in its result.
   *  Over {@link RemoteRows}, `rows` is the ids of the split's rows instead (ascending; every id for the first split). */
  split(rows: Float32Array | Uint32Array, train: number, k: number, seed: number): Promise<SplitResult>;
  /** Splits that may run at once (a pool's workers; default 1). The next ones are started on the prediction that the
   *  splits in flight leave only smaller clusters, and kept only where the sequential order then picks the same cluster
   *  with the same k: the result is the sequential one. */
  parallel?: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

/** Rows that are not in this process: their count, and a way to fetch some by id (for the centroids of missing clusters). */
export interface RemoteRows {
  readonly n: number;
  rows(ids: Uint32Array): Promise<Float32Array>;
}

interface Cluster {
  id: number;
  centroid: Float32Array;
  members: Uint32Array;
  finalized: boolean;
}

interface Job {
  cluster: Cluster;
  kSub: number;
  run: number;
  rows: Float32Array | Uint32Array;
  result: Promise<SplitResult>;
}

/**
 * Lance's hierarchical k-means (§2.4): a flat run with min(hk, k, n) centroids, then repeatedly the
 * largest not-finalized cluster is split by a flat sub-run (k_sub = min(2, remaining, size) for
 * size ≤ hk, else max(2, min(⌊size/hk⌋, remaining, hk)); sub-runs train on at most k_sub·512 of the
 * members, then every member is assigned). Unlike Lance, when no cluster can be split any more
 * (all finalized or singletons) the missing centroids are distinct random rows, so exactly k
 * centroids come back (ordered by creation, as Lance). Sub-run seeds derive from
 * `(seed, HIERARCHICAL, redo, run)`. With `parallel` > 1, splits run concurrently, same result. `data` is the rows, or
 * {@link RemoteRows} when they are elsewhere (the splits then get row ids).
 */
export async function hierarchicalCentroids(data: Float32Array | RemoteRows, dim: number, k: number, opts: HierarchicalOptions): Promise<Float32Array> {
  const local = data instanceof Float32Array ? data : undefined;
  const n = local ? local.length / dim : (data as RemoteRows).n;
  const hk = opts.hierarchicalK;
  const cap = HIERARCHICAL_ROWS_PER_CENTROID;
  const slots = Math.max(1, Math.floor(opts.parallel ?? 1));
  const seedOf = (run: number): number => mix32(opts.seed, STREAM.HIERARCHICAL, opts.redo, run);
  const kSubOf = (size: number, remaining: number): number =>
    size <= hk ? Math.min(2, remaining, size) : Math.max(2, Math.min(Math.floor(size / hk), remaining, hk));
  const clusters: Cluster[] = [];
  let nextId = 0;
  let run = 0;

  const partsOf = (rows: Uint32Array | null, size: number, res: SplitResult, kSub: number): Cluster[] => {
    const { centroids: c, index } = res;
    const counts = new Uint32Array(kSub);
    for (let i = 0; i < size; i++) if (index[i]! >= 0) counts[index[i]!]!++;
    const members = Array.from(counts, (cnt) => new Uint32Array(cnt));
    const fill = new Uint32Array(kSub);
    for (let i = 0; i < size; i++) {
      const j = index[i]!;
      if (j >= 0) members[j]![fill[j]!++] = rows ? rows[i]! : i;
    }
    const out: Cluster[] = [];
    for (let j = 0; j < kSub; j++) {
      if (counts[j]! > 0) out.push({ id: -1, centroid: c.slice(j * dim, (j + 1) * dim), members: members[j]!, finalized: false });
    }
    return out;
  };

  const k0 = Math.min(hk, k, n);
  let every: Uint32Array | undefined;
  if (!local) { every = new Uint32Array(n); for (let i = 0; i < n; i++) every[i] = i; }
  const first = await opts.split(local ?? every!, Math.min(n, k0 * cap), k0, seedOf(run++));
  for (const c of partsOf(null, n, first, k0)) clusters.push({ ...c, id: nextId++ });
  opts.onProgress?.({ stage: 'kmeans-hierarchical', fraction: clusters.length / k });

  // A split's rows are copied into a buffer that later splits reuse (the largest clusters are split first, so the first
  // buffers are the largest): fresh pages for every split cost more than the copies.
  const free: Float32Array[] = [];
  const gather = (members: Uint32Array): Float32Array | Uint32Array => {
    if (!local) return members;
    const need = members.length * dim;
    const at = free.findIndex((b) => b.length >= need);
    const buf = at >= 0 ? free.splice(at, 1)[0]! : new Float32Array(need);
    const out = buf.subarray(0, need);
    for (let i = 0; i < members.length; i++) {
      const r = members[i]! * dim;
      out.set(local.subarray(r, r + dim), i * dim);
    }
    return out;
  };
  const recycle = (rows: Float32Array | Uint32Array | undefined): void => {
    if (local && rows instanceof Float32Array && rows.buffer.byteLength > 0) free.push(new Float32Array(rows.buffer));
  };

  // The sequential order: the largest not-finalized cluster (the first of equals), none when it is finalized or a singleton.
  const choose = (skip: ReadonlySet<Cluster>): Cluster | undefined => {
    let best: Cluster | undefined;
    for (const c of clusters) {
      if (skip.has(c)) continue;
      if (!best || (c.finalized !== best.finalized ? !c.finalized : c.members.length > best.members.length)) best = c;
    }
    return best && !best.finalized && best.members.length > 1 ? best : undefined;
  };
  const jobs: Job[] = [];
  const inFlight = new Set<Cluster>();
  // Starts splits while slots are free: the clusters the sequential loop would split next if every split in flight gave
  // k_sub parts, all smaller.
  const plan = (): void => {
    while (jobs.length < slots) {
      let count = clusters.length - inFlight.size;
      for (const j of jobs) count += j.kSub;
      if (count >= k) return;
      const best = choose(inFlight);
      if (!best) return;
      const size = best.members.length;
      const kSub = kSubOf(size, k - (count - 1));
      const rows = gather(best.members);
      const r = run++;
      const result = opts.split(rows, Math.min(size, kSub * cap), kSub, seedOf(r));
      result.catch(() => undefined);                      // awaited below, or dropped with a wrong prediction
      jobs.push({ cluster: best, kSub, run: r, rows, result });
      inFlight.add(best);
    }
  };
  const drop = (): void => {
    jobs.length = 0;
    inFlight.clear();
  };

  plan();
  while (jobs.length > 0) {
    throwIfAborted(opts.signal, 'hierarchical k-means');
    const job = jobs.shift()!;
    inFlight.delete(job.cluster);
    const res = await job.result;
    recycle(res.rows ?? job.rows);
    // Every earlier split is in: is this the sequential loop's next split?
    const truth = clusters.length < k ? choose(new Set()) : undefined;
    if (!truth) break;
    if (truth !== job.cluster || kSubOf(truth.members.length, k - (clusters.length - 1)) !== job.kSub) {
      drop();
      run = job.run;
      plan();
      continue;
    }
    clusters.splice(clusters.indexOf(job.cluster), 1);
    const parts = partsOf(job.cluster.members, job.cluster.members.length, res, job.kSub);
    if (parts.length <= 1) {
      job.cluster.finalized = true;
      clusters.push(job.cluster);
    } else {
      for (const c of parts) clusters.push({ ...c, id: nextId++ });
    }
    opts.onProgress?.({ stage: 'kmeans-hierarchical', fraction: clusters.length / k });
    plan();
  }
  drop();

  clusters.sort((a, b) => a.id - b.id);
  const out = new Float32Array(k * dim);
  clusters.forEach((c, i) => out.set(c.centroid, i * dim));
  const missing = k - clusters.length;
  if (missing > 0) {
    const rows = sampleDistinct(createRng(opts.seed, STREAM.HIERARCHICAL, opts.redo, 0x66696c6c), n, missing);
    out.set(local ? gatherRows(local, dim, rows) : await (data as RemoteRows).rows(rows), clusters.length * dim);
  }
  return out;
}
