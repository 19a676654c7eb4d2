import type { Kernels } from '../kernels/types.js';
import type { Progress } from '../types.js';
import { throwIfAborted } from '../util/errors.js';
import { createRng, mix32, sampleDistinct, STREAM } from '../util/rng.js';
import { gatherRows } from './executor.js';

/** Rows per centroid a hierarchical sub-run trains on at most (Lance caps each run at k·512 rows). */
export const HIERARCHICAL_ROWS_PER_CENTROID = 512;

/** Options of {@link hierarchicalCentroids}. */
export interface HierarchicalOptions {
  /** Ways per split (Lance: 16). */
  hierarchicalK: number;
  seed: number;
  redo: number;
  metric: 'l2' | 'dot';
  kernels: Kernels;
  /** Flat k-means of `k` centroids on `data` with `seed` (the caller's Lloyd loop). */
  flat(data: Float32Array, k: number, seed: number): Promise<Float32Array>;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

interface Cluster {
  id: number;
  centroid: Float32Array;
  members: Uint32Array;
  finalized: boolean;
}

/**
 * Lance's hierarchical k-means (§2.4): a flat run with min(hk, k, n) centroids, then repeatedly the
 * largest not-finalized cluster is split by a flat sub-run (k_sub = min(2, remaining, size) for
 * size ≤ hk, else max(2, min(⌊size/hk⌋, remaining, hk)); sub-runs train on at most k_sub·512 of the
 * members, then every member is assigned). Unlike Lance, when no cluster can be split any more
 * (all finalized or singletons) the missing centroids are distinct random rows, so exactly k
 * centroids come back (ordered by creation, as Lance). Sub-run seeds derive from
 * `(seed, HIERARCHICAL, redo, run)`.
 */
export async function hierarchicalCentroids(data: Float32Array, dim: number, k: number, opts: HierarchicalOptions): Promise<Float32Array> {
  const n = data.length / dim;
  const hk = opts.hierarchicalK;
  const cap = HIERARCHICAL_ROWS_PER_CENTROID;
  let run = 0;
  const seedOf = (): number => mix32(opts.seed, STREAM.HIERARCHICAL, opts.redo, run++);
  const clusters: Cluster[] = [];
  let nextId = 0;

  const splitInto = async (rows: Uint32Array | null, sub: Float32Array, kSub: number): Promise<Cluster[]> => {
    const size = sub.length / dim;
    const trainRows = Math.min(size, kSub * cap);
    const c = await opts.flat(sub.subarray(0, trainRows * dim), kSub, seedOf());
    const { index } = opts.kernels.assign(sub, dim, c, { metric: opts.metric });
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

  // A split's rows are copied into one buffer that every split reuses (each is used only by its split; the largest
  // cluster is split first, so the first copy is the largest): fresh pages for every split cost more than the copies.
  let scratch = new Float32Array(0);
  const gather = (members: Uint32Array): Float32Array => {
    if (scratch.length < members.length * dim) scratch = new Float32Array(members.length * dim);
    const out = scratch.subarray(0, members.length * dim);
    for (let i = 0; i < members.length; i++) {
      const r = members[i]! * dim;
      out.set(data.subarray(r, r + dim), i * dim);
    }
    return out;
  };

  const k0 = Math.min(hk, k, n);
  for (const c of await splitInto(null, data, k0)) clusters.push({ ...c, id: nextId++ });
  opts.onProgress?.({ stage: 'kmeans-hierarchical', fraction: clusters.length / k });

  while (clusters.length < k) {
    throwIfAborted(opts.signal, 'hierarchical k-means');
    let bi = 0;
    for (let i = 1; i < clusters.length; i++) {
      const a = clusters[i]!, b = clusters[bi]!;
      if (a.finalized !== b.finalized ? !a.finalized : a.members.length > b.members.length) bi = i;
    }
    const best = clusters[bi]!;
    const size = best.members.length;
    if (best.finalized || size <= 1) break;
    clusters.splice(bi, 1);
    const remaining = k - clusters.length;
    const kSub = size <= hk ? Math.min(2, remaining, size) : Math.max(2, Math.min(Math.floor(size / hk), remaining, hk));
    const parts = await splitInto(best.members, gather(best.members), kSub);
    if (parts.length <= 1) {
      best.finalized = true;
      clusters.push(best);
    } else {
      for (const c of parts) clusters.push({ ...c, id: nextId++ });
    }
    opts.onProgress?.({ stage: 'kmeans-hierarchical', fraction: clusters.length / k });
  }

  clusters.sort((a, b) => a.id - b.id);
  const out = new Float32Array(k * dim);
  clusters.forEach((c, i) => out.set(c.centroid, i * dim));
  const missing = k - clusters.length;
  if (missing > 0) {
    const rows = sampleDistinct(createRng(opts.seed, STREAM.HIERARCHICAL, opts.redo, 0x66696c6c), n, missing);
    out.set(gatherRows(data, dim, rows), clusters.length * dim);
  }
  return out;
}
