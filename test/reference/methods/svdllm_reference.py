#!/usr/bin/python3
"""Independent SVD-LLM computation in numpy (float64), for Rankwise's method tests.

Shares no code with Rankwise. Follows the authors' SVDLLM.py (AIoT-MLSys-Lab/SVD-LLM) step by step:
  whitening:  G = Xᵀ X (X: tokens × n), S = cholesky(G) (on failure G += (−λ_min + 1e-6) I), SVD of
              W S, truncation to r, W_u = U_r Σ_r^½, W_v = Σ_r^½ V_rᵀ S⁻¹ (here S⁻¹ by numpy's inv,
              as the authors do; Rankwise uses a triangular solve);
  update:     Y = X̂ Wᵀ, x = X̂ (V_rᵀ S⁻¹)ᵀ Σ_r, Uᵀ = lstsq(x, Y), W_u = U Σ_r^½ (local_update).

  svdllm_reference.py MODEL TENSOR X_BIN XHAT_BIN RANK OUT_JSON

MODEL is a checkpoint folder (single model.safetensors), TENSOR a projection weight name [out, in].
X_BIN and XHAT_BIN are float32 little-endian matrices of tokens × in (calibration inputs for the
whitening, and the inputs of the update). OUT_JSON gets the top-RANK singular values of W S, the
products W_u W_v without and with the update (row-major, sign-free), and the output errors
‖Y − W′ X̂‖_F of both.
"""
import json, os, struct, sys
import numpy as np


def read_tensor(folder, name):
    with open(os.path.join(folder, 'model.safetensors'), 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        e = header[name]
        f.seek(8 + n + e['data_offsets'][0])
        raw = f.read(e['data_offsets'][1] - e['data_offsets'][0])
    if e['dtype'] == 'BF16':
        a = (np.frombuffer(raw, '<u2').astype(np.uint32) << 16).view(np.float32)
    elif e['dtype'] == 'F16':
        a = np.frombuffer(raw, '<f2')
    else:
        a = np.frombuffer(raw, '<f4')
    return a.astype(np.float64).reshape(e['shape'])


def read_inputs(path, n):
    a = np.fromfile(path, '<f4').astype(np.float64)
    return a.reshape(-1, n)


def whitening_factor(x):
    g = x.T @ x
    try:
        return np.linalg.cholesky(g)
    except np.linalg.LinAlgError:
        lam = np.linalg.eigvalsh(g)[0]
        return np.linalg.cholesky(g + (-lam + 1e-6) * np.eye(g.shape[0]))


def main():
    model, tensor, x_bin, xhat_bin, rank, out = sys.argv[1:7]
    r = int(rank)
    w = read_tensor(model, tensor)
    x = read_inputs(x_bin, w.shape[1])
    xhat = read_inputs(xhat_bin, w.shape[1])

    s_mat = whitening_factor(x)
    s_inv = np.linalg.inv(s_mat)
    u, sig, vt = np.linalg.svd(w @ s_mat, full_matrices=False)
    truc_v = vt[:r] @ s_inv                        # V_rᵀ S⁻¹
    root = np.sqrt(sig[:r])
    w_u = u[:, :r] * root                          # U_r Σ^½
    w_v = root[:, None] * truc_v                   # Σ^½ V_rᵀ S⁻¹

    y = xhat @ w.T                                 # original weights on the update inputs
    xs = (xhat @ truc_v.T) * sig[:r]               # x = X̂ (V_rᵀ S⁻¹)ᵀ Σ_r
    ut = np.linalg.lstsq(xs, y, rcond=None)[0]     # r × out
    w_u_upd = ut.T * root                          # U Σ^½

    def err(wu):
        return float(np.linalg.norm(y - xhat @ (wu @ w_v).T))

    json.dump({
        'shape': list(w.shape), 'rank': r, 'tokens': [x.shape[0], xhat.shape[0]],
        'sigma': sig[:r].tolist(),
        'sigma_tail': float(np.sqrt(np.sum(sig[r:] ** 2))),
        'product': (w_u @ w_v).ravel().tolist(),
        'product_updated': (w_u_upd @ w_v).ravel().tolist(),
        'error': err(w_u), 'error_updated': err(w_u_upd),
    }, open(out, 'w'))


if __name__ == '__main__':
    main()
