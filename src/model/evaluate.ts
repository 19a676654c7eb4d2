import type { Metric, TrainedModels } from '../types.js';
import type { Kernels } from '../kernels/types.js';
import { loadKernels } from '../kernels/index.js';
import { IvfkitError, rowsOf } from '../util/errors.js';
import { expectF32Range, maxAbs as maxAbsOf } from '../util/fixed.js';
import { residualsFor } from './encode.js';
import { checkModels } from './io.js';

/** Options of {@link evaluateRecall}. */
export interface EvaluateOptions {
  /** Neighbours per query. Default 10. */
  k?: number;
  /** Partitions probed per query (clamped to numPartitions). Default 16. */
  nprobes?: number;
  /** Exact top-k ids (queries × k, −1 padded) from {@link exactTopK}, to reuse across models. */
  groundTruth?: Int32Array;
  kernels?: Kernels;
}

/** Defaults of {@link EvaluateOptions}. */
export const EVALUATE_DEFAULTS = { k: 10, nprobes: 16 } as const;

/** Result of {@link evaluateRecall}. */
export interface RecallReport {
  /** |approximate top-k ∩ exact top-k| / |exact top-k|, over all queries. */
  recall: number;
  k: number;
  nprobes: number;
  queries: number;
  /** What was searched: IVF with PQ codes (ADC tables), SQ codes, or exact distances (no quantizer). */
  index: 'ivf_pq' | 'ivf_sq' | 'ivf_flat';
  /** Mean number of base rows scanned per query. */
  meanCandidates: number;
  /** Recall of each query; NaN for a query with no exact neighbour to find (a non-finite query, a zero query under cosine,
   *  or no finite base row): such queries are left out of `recall` and counted in `unscored`. */
  perQuery: Float64Array;
  /** Queries with no exact neighbour (see `perQuery`). */
  unscored: number;
}

/**
 * Recall@k of an IVF index built from `models` over `base`, searched with `queries`, against exact
 * brute-force top-k. Metric semantics follow Lance: l2 = squared L2; cosine = rows and queries
 * normalized, then L2; dot = largest inner product (`1 − q·x`). With PQ the base is encoded (residuals
 * for l2/cosine, raw for dot) and each probe scores codes with an ADC table `[M][2^bits]`; with SQ the
 * query is quantized with the same bounds and codes are compared (Σ(qc − xc)², or −Σ qc·xc for dot).
 */
export async function evaluateRecall(models: TrainedModels, base: Float32Array, queries: Float32Array, opts: EvaluateOptions = {}): Promise<RecallReport> {
  checkModels(models);
  const kernels = opts.kernels ?? (await loadKernels());
  checkEvaluateOptions(opts);
  if (!(base instanceof Float32Array) || !(queries instanceof Float32Array)) {
    throw new IvfkitError('invalid-argument', `base and queries: expected Float32Arrays, got ${base?.constructor?.name} and ${queries?.constructor?.name}`);
  }
  const n = rowsOf(base, models.dim, 'base');
  const nq = rowsOf(queries, models.dim, 'queries');
  if (n === 0 || nq === 0) throw new IvfkitError('invalid-argument', `base and queries: expected at least one row each, got ${n} and ${nq}`);
  return (await createRecallEvaluator(models, base, { kernels })).evaluate(queries, opts);
}

/** An index built once over a base ({@link createRecallEvaluator}), searched by any number of query sets. */
export interface RecallEvaluator {
  /** {@link evaluateRecall} of these queries (`opts.kernels` is ignored: the evaluator's are used). */
  evaluate(queries: Float32Array, opts?: EvaluateOptions): Promise<RecallReport>;
}

function checkEvaluateOptions(opts: EvaluateOptions): { k: number; nprobes: number } {
  const k = opts.k ?? EVALUATE_DEFAULTS.k;
  const nprobes = opts.nprobes ?? EVALUATE_DEFAULTS.nprobes;
  for (const [name, v] of [['k', k], ['nprobes', nprobes]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new IvfkitError('invalid-argument', `${name}: expected a positive integer, got ${String(v)}`);
  }
  return { k, nprobes };
}

/**
 * The index {@link evaluateRecall} searches — base rows in their partitions, encoded with the models' PQ
 * or SQ — built once, so that several `nprobes` (or query sets) do not encode the base again. Same
 * reports as {@link evaluateRecall}.
 *
 * @example
 * const ev = await createRecallEvaluator(models, base);
 * const groundTruth = exactTopK(base, queries, models.dim, 'l2', 10, kernels);
 * for (const nprobes of [1, 4, 16]) console.log(nprobes, (await ev.evaluate(queries, { nprobes, groundTruth })).recall);
 */
export async function createRecallEvaluator(models: TrainedModels, base: Float32Array, opts: { kernels?: Kernels } = {}): Promise<RecallEvaluator> {
  checkModels(models);
  const kernels = opts.kernels ?? (await loadKernels());
  const { dim, metric } = models;
  if (!(base instanceof Float32Array)) throw new IvfkitError('invalid-argument', `base: expected a Float32Array, got ${(base as { constructor?: { name?: string } } | null)?.constructor?.name}`);
  const n = rowsOf(base, dim, 'base');
  if (n === 0) throw new IvfkitError('invalid-argument', 'base: expected at least one row, got 0');
  const b = metric === 'cosine' ? kernels.normalize(base, dim) : base;
  const kc = models.ivf.numPartitions;
  const centroids = models.ivf.centroids;
  // Normalized rows (cosine) cannot overflow: only raw ones take the extra pass.
  expectF32Range(Math.max(metric === 'cosine' ? 0 : kernels.maxAbs(b), maxAbsOf(centroids)), dim, 'base rows and centroids');
  const trainMetric = metric === 'dot' ? 'dot' : 'l2';
  const part = kernels.assign(b, dim, centroids, { metric: trainMetric }).index;
  const start = new Int32Array(kc + 1);
  for (let i = 0; i < n; i++) if (part[i]! >= 0) start[part[i]! + 1]!++;
  for (let c = 0; c < kc; c++) start[c + 1]! += start[c]!;
  const members = new Int32Array(start[kc]!);
  const fill = start.slice(0, kc);
  for (let i = 0; i < n; i++) if (part[i]! >= 0) members[fill[part[i]!]!++] = i;

  const pq = models.pq;
  const sq = models.sq;
  const index: RecallReport['index'] = pq ? 'ivf_pq' : sq ? 'ivf_sq' : 'ivf_flat';
  let codes: Uint8Array | undefined;
  if (pq) codes = kernels.pqEncode(metric === 'dot' ? b : residualsFor(models, b, kernels, part), dim, pq.codebook, pq.numSubVectors, pq.numBits);
  else if (sq) codes = kernels.sqEncode(b, sq.lower, sq.upper);

  return {
    async evaluate(queries: Float32Array, eopts: EvaluateOptions = {}): Promise<RecallReport> {
      const { k, nprobes: nprobesReq } = checkEvaluateOptions(eopts);
      if (!(queries instanceof Float32Array)) throw new IvfkitError('invalid-argument', `queries: expected a Float32Array, got ${(queries as { constructor?: { name?: string } } | null)?.constructor?.name}`);
      const nq = rowsOf(queries, dim, 'queries');
      if (nq === 0) throw new IvfkitError('invalid-argument', 'queries: expected at least one row, got 0');
      const q = metric === 'cosine' ? kernels.normalize(queries, dim) : queries;
      if (metric !== 'cosine') expectF32Range(kernels.maxAbs(q), dim, 'queries');   // normalized queries cannot overflow
      const gt = eopts.groundTruth ?? exactTopK(b, q, dim, metric === 'dot' ? 'dot' : 'l2', k, kernels);
      if (gt.length !== nq * k) throw new IvfkitError('invalid-argument', `groundTruth length: expected queries ${nq} × k ${k} = ${nq * k}, got ${gt.length}`);
      const nprobes = Math.min(nprobesReq, kc);
      const m = pq?.numSubVectors ?? 0;
      const ksub = pq ? 2 ** pq.numBits : 0;
      const ds = pq ? dim / m : 0;
      const codeBytes = pq ? (pq.numBits === 8 ? m : m / 2) : dim;
      // ADC tables: one per query for dot, one per probe (its residual) for l2, computed per sub-space for all
      // probes of the query in one kernel call.
      const tables = new Float32Array((trainMetric === 'l2' ? nprobes : 1) * m * ksub);
      const subs = new Float32Array(nprobes * ds), tout = new Float32Array(nprobes * ksub);
      // Distances to the centroids for a chunk of queries at a time.
      const QC = Math.max(1, Math.min(nq, Math.floor((1 << 22) / kc)));
      const cdAll = new Float32Array(QC * kc);
      const perQuery = new Float64Array(nq);
      let unscored = 0;
      const top = new TopK(k);
      let hits = 0;
      let truth = 0;
      let scanned = 0;
      for (let qi = 0; qi < nq; qi++) {
        const qv = q.subarray(qi * dim, qi * dim + dim);
        top.reset();
        if (qi % QC === 0) {
          const qn = Math.min(QC, nq - qi), qs = q.subarray(qi * dim, (qi + qn) * dim), o = cdAll.subarray(0, qn * kc);
          if (trainMetric === 'dot') {
            kernels.dotMany(qs, centroids, dim, o);
            for (let c = 0; c < o.length; c++) o[c] = 1 - o[c]!;
          } else kernels.l2Many(qs, centroids, dim, o);
        }
        const cdist = cdAll.subarray((qi % QC) * kc, (qi % QC + 1) * kc);
        const probes = smallest(cdist, nprobes);
        if (pq && trainMetric === 'dot') adcTable(kernels, qv, pq.codebook, m, ksub, ds, tables, true);
        if (pq && trainMetric === 'l2') {
          const np = probes.length;
          for (let mm = 0; mm < m; mm++) {
            for (let pi = 0; pi < np; pi++) {
              const co = probes[pi]! * dim + mm * ds;
              for (let j = 0; j < ds; j++) subs[pi * ds + j] = qv[mm * ds + j]! - centroids[co + j]!;
            }
            kernels.l2Many(subs.subarray(0, np * ds), pq.codebook.subarray(mm * ksub * ds, (mm + 1) * ksub * ds), ds, tout.subarray(0, np * ksub));
            for (let pi = 0; pi < np; pi++) tables.set(tout.subarray(pi * ksub, pi * ksub + ksub), (pi * m + mm) * ksub);
          }
        }
        const qcodes = sq ? kernels.sqEncode(qv, sq.lower, sq.upper) : undefined;
        for (let pi = 0; pi < probes.length; pi++) {
          const p = probes[pi]!;
          const s = start[p]!;
          const e = start[p + 1]!;
          if (e === s) continue;
          scanned += e - s;
          if (pq) {
            const table = trainMetric === 'l2' ? tables.subarray(pi * m * ksub, (pi + 1) * m * ksub) : tables;
            for (let t = s; t < e; t++) {
              const id = members[t]!;
              const co = id * codeBytes;
              let d = 0;
              if (pq.numBits === 8) for (let mm = 0; mm < m; mm++) d += table[mm * ksub + codes![co + mm]!]!;
              else for (let mm = 0; mm < m; mm++) d += table[mm * ksub + ((codes![co + (mm >> 1)]! >> ((mm & 1) * 4)) & 15)]!;
              top.push(trainMetric === 'dot' ? -d : d, id);
            }
          } else if (sq) {
            for (let t = s; t < e; t++) {
              const id = members[t]!;
              const co = id * dim;
              let d = 0;
              if (trainMetric === 'dot') for (let j = 0; j < dim; j++) d -= qcodes![j]! * codes![co + j]!;
              else for (let j = 0; j < dim; j++) { const x = qcodes![j]! - codes![co + j]!; d += x * x; }
              top.push(d, id);
            }
          } else {
            for (let t = s; t < e; t++) {
              const id = members[t]!;
              const row = b.subarray(id * dim, id * dim + dim);
              let d = 0;
              if (trainMetric === 'dot') { for (let j = 0; j < dim; j++) d -= qv[j]! * row[j]!; }
              else for (let j = 0; j < dim; j++) { const x = qv[j]! - row[j]!; d += x * x; }
              top.push(d, id);
            }
          }
        }
        const found = new Set(top.ids());
        let h = 0;
        let tq = 0;
        for (let j = 0; j < k; j++) {
          const id = gt[qi * k + j]!;
          if (id < 0) continue;
          tq++;
          if (found.has(id)) h++;
        }
        perQuery[qi] = tq ? h / tq : NaN;
        if (!tq) unscored++;
        hits += h;
        truth += tq;
      }
      return { recall: truth ? hits / truth : 1, k, nprobes, queries: nq, index, meanCandidates: scanned / nq, perQuery, unscored };
    },
  };
}

/**
 * Exact top-k base row ids for every query (queries × k, ascending distance, ties → lower id,
 * −1 padded when fewer finite rows exist). 'l2' = squared L2, 'dot' = largest inner product.
 * Rows are used as given (normalize beforehand for cosine).
 */
export function exactTopK(base: Float32Array, queries: Float32Array, dim: number, metric: Exclude<Metric, 'cosine'>, k: number, kernels: Kernels): Int32Array {
  const n = rowsOf(base, dim, 'base');
  const nq = rowsOf(queries, dim, 'queries');
  const out = new Int32Array(nq * k).fill(-1);
  // Chunks of queries × base rows: each kernel call scores a whole chunk of queries against a chunk of rows.
  const QC = Math.min(nq, EXACT_QUERIES), C = Math.max(1, Math.min(n, Math.floor(EXACT_VALUES / Math.max(1, QC))));
  const dist = new Float32Array(QC * C);
  const tops = Array.from({ length: QC }, () => new TopK(k));
  for (let qa = 0; qa < nq; qa += QC) {
    const qn = Math.min(QC, nq - qa);
    const qs = queries.subarray(qa * dim, (qa + qn) * dim);
    for (const t of tops) t.reset();
    for (let a = 0; a < n; a += C) {
      const r = Math.min(C, n - a);
      const chunk = base.subarray(a * dim, (a + r) * dim);
      const d = dist.subarray(0, qn * r);
      if (metric === 'dot') kernels.dotMany(qs, chunk, dim, d);
      else kernels.l2Many(qs, chunk, dim, d);
      for (let j = 0; j < qn; j++) {
        const top = tops[j]!, o = j * r;
        if (metric === 'dot') for (let i = 0; i < r; i++) top.push(-d[o + i]!, a + i);
        else for (let i = 0; i < r; i++) top.push(d[o + i]!, a + i);
      }
    }
    for (let j = 0; j < qn; j++) out.set(tops[j]!.ids(), (qa + j) * k);
  }
  return out;
}

/** exactTopK's chunks: queries per chunk, and values (queries × rows) per kernel call. */
const EXACT_QUERIES = 1024, EXACT_VALUES = 1 << 22;

function adcTable(kernels: Kernels, v: Float32Array, codebook: Float32Array, m: number, ksub: number, ds: number, table: Float32Array, dot: boolean): void {
  for (let mm = 0; mm < m; mm++) {
    const sub = v.subarray(mm * ds, mm * ds + ds);
    const cb = codebook.subarray(mm * ksub * ds, (mm + 1) * ksub * ds);
    const out = table.subarray(mm * ksub, (mm + 1) * ksub);
    if (dot) kernels.dotMany(sub, cb, ds, out);
    else kernels.l2Many(sub, cb, ds, out);
  }
}

/** Indices of the `count` smallest values (ties → lower index), NaN last. */
function smallest(values: Float32Array, count: number): number[] {
  const idx = Array.from(values.keys());
  idx.sort((a, b) => {
    const x = values[a]!;
    const y = values[b]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) return a - b;
    if (Number.isNaN(x)) return 1;
    if (Number.isNaN(y)) return -1;
    return x - y;
  });
  return idx.slice(0, count);
}

/** Bounded set of the k smallest (distance, id) pairs; NaN distances are ignored. */
class TopK {
  private readonly d: Float64Array;
  private readonly id: Int32Array;
  private size = 0;
  constructor(private readonly k: number) {
    this.d = new Float64Array(k);
    this.id = new Int32Array(k);
  }
  reset(): void {
    this.size = 0;
  }
  push(dist: number, id: number): void {
    if (Number.isNaN(dist)) return;
    const { k, d, id: ids } = this;
    if (this.size === k && (dist > d[k - 1]! || (dist === d[k - 1]! && id > ids[k - 1]!))) return;
    let i = this.size < k ? this.size++ : k - 1;
    while (i > 0 && (d[i - 1]! > dist || (d[i - 1]! === dist && ids[i - 1]! > id))) {
      d[i] = d[i - 1]!;
      ids[i] = ids[i - 1]!;
      i--;
    }
    d[i] = dist;
    ids[i] = id;
  }
  ids(): Int32Array {
    const out = new Int32Array(this.k).fill(-1);
    out.set(this.id.subarray(0, this.size));
    return out;
  }
}
