/**
 * Ordering centroids into groups of nearby ones (k-means distance bounds): recursive halving of 0 .. k − 1,
 * at multiples of the group size, along each part's principal direction (a few power iterations from a fixed
 * start). `project(lo, hi)` gives the projections of the part order[lo, hi) by position; parts are sorted by
 * projection, ties by centroid id. Deterministic.
 */
export function orderByHalving(k: number, gs: number, order: Int32Array, project: (lo: number, hi: number) => ArrayLike<number>): Int32Array {
  for (let c = 0; c < k; c++) order[c] = c;
  const byId = new Float64Array(k);
  const stack = [0, k];
  while (stack.length > 0) {
    const hi = stack.pop()!, lo = stack.pop()!;
    if (hi - lo <= gs) continue;
    const proj = project(lo, hi);
    for (let q = 0; q < hi - lo; q++) byId[order[lo + q]!] = proj[q]!;
    const part = Array.from(order.subarray(lo, hi)).sort((a, b) => byId[a]! - byId[b]! || a - b);
    order.set(part, lo);
    const mid = lo + gs * Math.max(1, Math.floor((hi - lo) / (2 * gs)));
    stack.push(mid, hi, lo, mid);
  }
  return order;
}

/** Power iterations per split. */
export const ORDER_POWER_STEPS = 3;

/** {@link orderByHalving} with the projections in plain TS (the reference of the wasm `orderSplit`). */
export function spatialOrder(centroids: Float32Array, k: number, dim: number, gs: number): Int32Array {
  const order = new Int32Array(k);
  const w = new Float64Array(k * dim);
  const mean = new Float64Array(dim), dir = new Float64Array(dim), next = new Float64Array(dim);
  const proj = new Float64Array(k);
  return orderByHalving(k, gs, order, (lo, hi) => {
    const cnt = hi - lo;
    mean.fill(0);
    for (let p = lo; p < hi; p++) {
      const o = order[p]! * dim;
      for (let j = 0; j < dim; j++) mean[j] = mean[j]! + centroids[o + j]!;
    }
    for (let j = 0; j < dim; j++) { mean[j] = mean[j]! / cnt; dir[j] = ((j * 0x9e3779b1) >>> 0) / 4294967296 - 0.5; }
    for (let p = lo, q = 0; p < hi; p++, q += dim) {
      const o = order[p]! * dim;
      for (let j = 0; j < dim; j++) w[q + j] = centroids[o + j]! - mean[j]!;
    }
    const end = cnt * dim;
    for (let it = 0; it < ORDER_POWER_STEPS; it++) {
      next.fill(0);
      for (let q = 0; q < end; q += dim) {
        const t = dotRow(w, q, dir, dim);
        for (let j = 0; j < dim; j++) next[j] = next[j]! + t * w[q + j]!;
      }
      let norm = 0;
      for (let j = 0; j < dim; j++) norm += next[j]! * next[j]!;
      if (!(norm > 0)) break;
      norm = Math.sqrt(norm);
      for (let j = 0; j < dim; j++) dir[j] = next[j]! / norm;
    }
    for (let q = 0; q < cnt; q++) proj[q] = dotRow(w, q * dim, dir, dim);
    return proj;
  });
}

/** w[q ..] · v over dim values (four running sums: the loop is not bound by one add's latency). */
function dotRow(w: Float64Array, q: number, v: Float64Array, dim: number): number {
  let t0 = 0, t1 = 0, t2 = 0, t3 = 0, j = 0;
  for (; j + 4 <= dim; j += 4) {
    t0 += w[q + j]! * v[j]!; t1 += w[q + j + 1]! * v[j + 1]!;
    t2 += w[q + j + 2]! * v[j + 2]!; t3 += w[q + j + 3]! * v[j + 3]!;
  }
  for (; j < dim; j++) t0 += w[q + j]! * v[j]!;
  return (t0 + t1) + (t2 + t3);
}
