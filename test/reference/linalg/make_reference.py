#!/usr/bin/python3
"""LAPACK reference decompositions for the linalg tests (numpy/scipy, independent of Rankwise).

Writes <name>.bin (float64, little-endian, concatenated arrays) and index.json describing each
array's offset and shape. Run: /usr/bin/python3 test/reference/linalg/make_reference.py
"""
import json, os, struct
import numpy as np
import scipy.linalg as sla

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, '..', '..', '..', 'models', 'rankwise-brown-14m', 'model.safetensors')
rng = np.random.default_rng(20261122)


def bf16_tensor(path, name):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        e = header[name]
        f.seek(8 + n + e['data_offsets'][0])
        raw = np.frombuffer(f.read(e['data_offsets'][1] - e['data_offsets'][0]), dtype='<u2')
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(e['shape']).astype(np.float64)


def with_condition(m, n, cond):
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    k = min(m, n)
    s = np.logspace(0, -np.log10(cond), k)
    return (u[:, :k] * s) @ v[:, :k].T


cases = {
    'random_64x48': rng.standard_normal((64, 48)),
    'random_120x200': rng.standard_normal((120, 200)),
    'cond1e6_128x128': with_condition(128, 128, 1e6),
    'rank10_96x64': rng.standard_normal((96, 10)) @ rng.standard_normal((10, 64)),
    'model_l0_k_proj': bf16_tensor(MODEL, 'model.layers.0.self_attn.k_proj.weight'),
    'model_l3_down_proj': bf16_tensor(MODEL, 'model.layers.3.mlp.down_proj.weight'),
}

index, blobs, offset = {}, [], 0


def put(key, arr):
    global offset
    arr = np.ascontiguousarray(arr, dtype='<f8')
    index[key] = {'offset': offset, 'shape': list(arr.shape)}
    blobs.append(arr.tobytes())
    offset += arr.nbytes


for name, a in cases.items():
    put(f'{name}/a', a)
    put(f'{name}/s', np.linalg.svd(a, compute_uv=False))

# Cholesky and triangular solves on an SPD Gram matrix of real activations' shape (random here).
x = rng.standard_normal((300, 64))
g = x.T @ x
l = np.linalg.cholesky(g)
b = rng.standard_normal((64, 5))
put('chol/g', g)
put('chol/l', l)
put('chol/b', b)
put('chol/solve_lower', sla.solve_triangular(l, b, lower=True))
put('chol/solve_upper_t', sla.solve_triangular(l, b, lower=True, trans='T'))
# A rank-deficient Gram matrix (not positive definite in floating point) and its smallest eigenvalue.
xd = rng.standard_normal((20, 64))
gd = xd.T @ xd
put('chol_deficient/g', gd)
put('chol_deficient/eig', np.linalg.eigvalsh(gd))

# Tall and wide cases past the SVD's QR-first crossover (sidecar/linalg/svd.ts), drawn last so the
# arrays above keep their bytes.
late = {
    'cond1e6_300x100': with_condition(300, 100, 1e6),
    'rank10_60x250': rng.standard_normal((60, 10)) @ rng.standard_normal((10, 250)),
}
for name, a in late.items():
    put(f'{name}/a', a)
    put(f'{name}/s', np.linalg.svd(a, compute_uv=False))

with open(os.path.join(HERE, 'reference.bin'), 'wb') as f:
    f.write(b''.join(blobs))
with open(os.path.join(HERE, 'index.json'), 'w') as f:
    json.dump({'numpy': np.__version__, 'scipy': __import__('scipy').__version__, 'arrays': index}, f, indent=1)
print('wrote', len(index), 'arrays,', offset, 'bytes')
