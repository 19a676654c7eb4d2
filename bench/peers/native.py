"""Native peers of `bench/run.mjs`: FAISS (Debian python3-faiss) and scikit-learn.

usage: python3 native.py '<json job>'       (one job, printed back as one JSON line)
       python3 native.py --probe            (which of faiss / sklearn import, with versions; OpenBLAS's kernel)

A job names an implementation ('faiss' or 'sklearn'), a task and the float32 files written by
bench/data.mjs. Only the training call is timed. Trained parameters go to float32 files under
job['out'] so that run.mjs scores every implementation with the same objective code.
Thread counts come from the environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS), set by run.mjs
before this interpreter starts; job['threads'] is applied to FAISS's and sklearn's OpenMP as well.
"""
import json
import os
import sys
import time
import warnings


def probe():
    found = {}
    try:
        import numpy
        found["numpy"] = numpy.__version__
    except ImportError as e:
        found["numpy_error"] = str(e)
    try:
        import faiss
        found["faiss"] = faiss.__version__
    except ImportError as e:
        found["faiss_error"] = str(e)
    try:
        import sklearn
        found["sklearn"] = sklearn.__version__
    except ImportError as e:
        found["sklearn_error"] = str(e)
    try:
        from threadpoolctl import threadpool_info
        arch = [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"]
        if arch:
            found["openblas"] = arch[0]
    except Exception as e:  # threadpoolctl comes with sklearn; without it the kernel is unknown
        found["openblas_error"] = str(e)
    return found


def load(path, rows, dim):
    import numpy as np
    a = np.fromfile(path, dtype="<f4")
    if a.size != rows * dim:
        raise SystemExit(f"{path}: expected {rows * dim} floats, got {a.size}")
    return np.ascontiguousarray(a.reshape(rows, dim))


def write(job, name, arr):
    import numpy as np
    path = os.path.join(job["out"], name)
    np.ascontiguousarray(arr, dtype="<f4").tofile(path)
    return path


def repeat(fn, runs):
    times, res = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return times, res


def run_faiss(job):
    import numpy as np
    import faiss

    faiss.omp_set_num_threads(job["threads"])
    n, d, iters = job["n"], job["d"], job.get("iters", 20)
    x = load(job["data"], n, d)
    task = job["task"]
    files, extra = {}, {"version": faiss.__version__}

    if task == "kmeans":
        k = job["k"]
        init = load(job["init"], k, d)

        def train():
            km = faiss.Kmeans(d, k, niter=iters, seed=job.get("seed", 1234),
                              max_points_per_centroid=n // k + 1, min_points_per_centroid=1)
            km.train(x, init_centroids=init)
            return km

        times, km = repeat(train, job["runs"])
        files["centroids"] = write(job, "centroids.f32", km.centroids)
        extra["iterations"] = len(km.obj)
    elif task == "pq":
        m, nbits = job["m"], job["nbits"]

        def train():
            pq = faiss.ProductQuantizer(d, m, nbits)
            pq.cp.niter = iters
            pq.cp.max_points_per_centroid = n // (1 << nbits) + 1
            pq.train(x)
            return pq

        times, pq = repeat(train, job["runs"])
        files["codebook"] = write(job, "codebook.f32", faiss.vector_to_array(pq.centroids))
        extra["iterations"] = iters
    elif task == "sq":
        def train():
            sq = faiss.ScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit_uniform)
            sq.train(x)
            return sq

        times, sq = repeat(train, job["runs"])
        vmin, vdiff = (float(v) for v in faiss.vector_to_array(sq.trained)[:2])
        extra["lower"], extra["upper"] = vmin, vmin + vdiff
    elif task in ("ivfpq", "ivfsq", "recall"):
        k = job["k"]
        key = f"IVF{k},PQ{job['m']}np" if task != "ivfsq" else f"IVF{k},SQ8"

        def train():
            index = faiss.index_factory(d, key)
            ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
            ivf.cp.niter = iters
            if task != "ivfsq":
                ivf.pq.cp.niter = job.get("pqIters", iters)
            index.train(x)
            return index

        times, index = repeat(train, job["runs"])
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
        files["centroids"] = write(job, "centroids.f32", ivf.quantizer.reconstruct_n(0, k))
        extra["key"] = key
        if task != "ivfsq":
            files["codebook"] = write(job, "codebook.f32", faiss.vector_to_array(ivf.pq.centroids))
        else:
            trained = faiss.vector_to_array(ivf.sq.trained)
            extra["sq"] = "per-dimension QT_8bit on residuals"
            extra["sqTrainedHead"] = [round(float(v), 5) for v in trained[:4]]
        if task == "recall":
            q = load(job["queries"], job["nq"], d)
            kk, nprobe = job.get("topk", 10), job.get("nprobes", 16)
            flat = faiss.IndexFlatL2(d)
            flat.add(x)
            _, gt = flat.search(q, kk)
            index.add(x)
            ivf.nprobe = nprobe
            _, found = index.search(q, kk)
            hits = sum(len(set(gt[i]) & set(found[i])) for i in range(q.shape[0]))
            extra["faissRecall"] = hits / float(gt.size)
    else:
        raise SystemExit(f"faiss: unknown task {task!r}")
    return times, files, extra


def run_sklearn(job):
    import numpy as np
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits
    import sklearn

    warnings.filterwarnings("ignore")
    n, d, iters = job["n"], job["d"], job.get("iters", 20)
    x = load(job["data"], n, d)
    task = job["task"]
    files, extra = {}, {"version": sklearn.__version__}
    with threadpool_limits(limits=job["threads"], user_api="openmp"), threadpool_limits(limits=1, user_api="blas"):
        if task == "kmeans":
            k = job["k"]
            init = load(job["init"], k, d)

            def train():
                return KMeans(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0.0,
                              algorithm="lloyd").fit(x)

            times, km = repeat(train, job["runs"])
            files["centroids"] = write(job, "centroids.f32", km.cluster_centers_)
            extra["iterations"] = int(km.n_iter_)
        elif task == "pq":
            m, ksub = job["m"], 1 << job["nbits"]
            ds = d // m
            init = load(job["init"], ksub, d)
            subs = [np.ascontiguousarray(x[:, s * ds:(s + 1) * ds]) for s in range(m)]
            inits = [np.ascontiguousarray(init[:, s * ds:(s + 1) * ds]) for s in range(m)]

            def train():
                return [KMeans(n_clusters=ksub, init=inits[s], n_init=1, max_iter=iters, tol=0.0,
                               algorithm="lloyd").fit(subs[s]) for s in range(m)]

            times, kms = repeat(train, job["runs"])
            files["codebook"] = write(job, "codebook.f32", np.stack([km.cluster_centers_ for km in kms]))
            extra["iterations"] = max(int(km.n_iter_) for km in kms)
        else:
            raise SystemExit(f"sklearn: unknown task {task!r}")
    return times, files, extra


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        print(json.dumps(probe()))
        return
    job = json.loads(sys.argv[1])
    os.makedirs(job["out"], exist_ok=True)
    runner = {"faiss": run_faiss, "sklearn": run_sklearn}[job["impl"]]
    times, files, extra = runner(job)
    print(json.dumps({"times": times, "files": files, **extra}), flush=True)


if __name__ == "__main__":
    main()
