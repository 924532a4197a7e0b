#!/usr/bin/python3
"""LAPACK side of bench/linalg.ts: times numpy's SVD (gesdd) with and without vectors.

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/linalg_numpy.py ROWSxCOLS ...
Prints one JSON object: the BLAS in use and, per shape, the best of `reps` runs in seconds.
"""
import json, sys, time
import numpy as np


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        return [{k: p.get(k) for k in ('internal_api', 'version', 'num_threads', 'filepath')} for p in threadpool_info()]
    except ImportError:
        # Debian's numpy links libblas.so.3, an alternatives link to the real library.
        import ctypes.util, glob, os
        libs = glob.glob('/usr/lib/x86_64-linux-gnu/libblas.so.3') + glob.glob('/usr/lib/x86_64-linux-gnu/liblapack.so.3')
        return [{'library': os.path.realpath(p)} for p in libs] or [{'library': ctypes.util.find_library('blas')}]


def best(f, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


rng = np.random.default_rng(0)
out = {'numpy': np.__version__, 'blas': blas_info(), 'results': {}}
for shape in sys.argv[1:]:
    m, n = map(int, shape.split('x'))
    a = rng.standard_normal((m, n))
    reps = 3 if m * n <= 1024 * 1024 else 1
    out['results'][shape] = {
        'vectors': best(lambda: np.linalg.svd(a, full_matrices=False), reps),
        'values': best(lambda: np.linalg.svd(a, compute_uv=False), reps),
    }
print(json.dumps(out))
