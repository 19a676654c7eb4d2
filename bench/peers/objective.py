"""Float64 objectives for bench/run.mjs: one scorer for every implementation's trained parameters.

usage: python3 objective.py '<json>'   with {"data", "n", "d", "items": [...]}; prints a JSON list.
Item kinds (all files little-endian float32):
  kmeans  {"centroids", "k"}                      sum_i min_j ||x_i - c_j||^2
  pq      {"codebook", "m", "ksub"}               sum over sub-spaces of the k-means objective
                                                  (= the PQ reconstruction SSE)
  ivfpq   {"centroids", "k", "codebook", "m", "ksub"}  PQ objective of the residuals x_i - c_nearest(i)
  sq      {"lower", "upper"}                      reconstruction SSE of a uniform 8-bit codec:
                                                  code = floor(255 clamp((x - lo)/(hi - lo), 0, 1)),
                                                  x' = lo + (code + 0.5)(hi - lo)/255
Distances are ||x||^2 - 2 x.c + ||c||^2 in float64 (clamped at 0), in row blocks.
"""
import json
import sys

import numpy as np

BLOCK = 4096


def read(path, count=None):
    a = np.fromfile(path, dtype="<f4")
    if count is not None and a.size != count:
        raise SystemExit(f"{path}: expected {count} floats, got {a.size}")
    return a


def nearest(x64, c64):
    """(index, squared distance) of each row's nearest centroid, float64."""
    cn = (c64 * c64).sum(1)
    idx = np.empty(x64.shape[0], dtype=np.int64)
    dist = np.empty(x64.shape[0])
    for s in range(0, x64.shape[0], BLOCK):
        xb = x64[s:s + BLOCK]
        d2 = (xb * xb).sum(1)[:, None] - 2.0 * (xb @ c64.T) + cn[None, :]
        j = d2.argmin(1)
        idx[s:s + BLOCK] = j
        dist[s:s + BLOCK] = np.maximum(d2[np.arange(xb.shape[0]), j], 0.0)
    return idx, dist


def kmeans_sse(x64, c64):
    return float(nearest(x64, c64)[1].sum())


def pq_sse(x64, codebook, m, ksub):
    d = x64.shape[1]
    ds = d // m
    cb = codebook.reshape(m, ksub, ds).astype(np.float64)
    return sum(kmeans_sse(np.ascontiguousarray(x64[:, s * ds:(s + 1) * ds]), cb[s]) for s in range(m))


def sq_sse(x, lo, hi):
    total = 0.0
    span = hi - lo
    for s in range(0, x.shape[0], BLOCK):
        xb = x[s:s + BLOCK].astype(np.float64)
        if span > 0:
            code = np.floor(255.0 * np.clip((xb - lo) / span, 0.0, 1.0))
            rec = lo + (code + 0.5) * span / 255.0
        else:
            rec = np.full_like(xb, lo)
        total += float(((xb - rec) ** 2).sum())
    return total


def score(x, x64, item):
    d = x.shape[1]
    kind = item["kind"]
    if kind == "kmeans":
        return kmeans_sse(x64, read(item["centroids"], item["k"] * d).reshape(item["k"], d).astype(np.float64))
    if kind == "pq":
        return pq_sse(x64, read(item["codebook"], item["m"] * item["ksub"] * (d // item["m"])), item["m"], item["ksub"])
    if kind == "ivfpq":
        c64 = read(item["centroids"], item["k"] * d).reshape(item["k"], d).astype(np.float64)
        idx, _ = nearest(x64, c64)
        r = x64 - c64[idx]
        return pq_sse(r, read(item["codebook"], item["m"] * item["ksub"] * (d // item["m"])), item["m"], item["ksub"])
    if kind == "sq":
        return sq_sse(x, float(item["lower"]), float(item["upper"]))
    raise SystemExit(f"unknown objective kind {kind!r}")


def main():
    job = json.loads(sys.argv[1])
    n, d = job["n"], job["d"]
    x = read(job["data"], n * d).reshape(n, d)
    x64 = x.astype(np.float64)
    print(json.dumps([score(x, x64, item) for item in job["items"]]))


if __name__ == "__main__":
    main()
