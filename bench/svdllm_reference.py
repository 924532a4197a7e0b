#!/usr/bin/python3
"""The authors' SVD-LLM (AIoT-MLSys-Lab/SVD-LLM, SVDLLM.py `--step 2 --run_low_resource`), written
again for the peer of bench/compress.ts on Debian's PyTorch (CPU, float32 model as the script's
`model.float()`), independent of Rankwise's code. Per the authors' code:

- profle_svdllm_low_resource: the ORIGINAL layers run sample by sample (batch 1) over the whitening
  windows; a forward hook on every nn.Linear adds inpᵀ inp in float32 (one Gram per module, so q/k/v
  and gate/up each form their own); then per module S = cholesky(G.double()), and on failure
  G += (−λ_min + 1e-6)·I from eigvalsh and retry.
- whitening_local_update: per module S⁻¹ = inv(S) in float64, then in float32 W S, svd (thin),
  r = int(m·n·ratio/(m+n)) with ratio = 1 − removed, V_r = VTᵣ S⁻¹; the ORIGINAL layer runs on all
  update windows at once (the compressed path's states) and each module's hook solves
  lstsq(X V_rᵀ Σ_r, W X) for Uᵀ; u = U Σ_r^½, v = Σ_r^½ V_r; then the compressed layer advances the
  states.
Differences, on purpose: (1) GQA. The authors' SVD_LlamaAttention sizes every attention factor as
square (rank int(hidden·ratio/2), k/v outputs heads·head_dim), which breaks on k_proj/v_proj with
fewer kv heads (their issues #20, #27, #34); here every matrix gets its own rank by the rule above
and attention repeats the kv heads. (2) The hook's two relative-error diagnostics (computed, never
used) are left out, so this peer does only the algorithm's work. (3) The compressed model (factors
and the other weights) is saved with torch.save, fp32 as the script saves it, to a temporary folder.

  svdllm_reference.py MODEL_DIR CALIB_IDS EVAL_IDS SEQ_LEN UPDATE_SAMPLES RATIO EVAL_BATCH
IDS files are little-endian int32 token ids, whole windows of SEQ_LEN. Prints one JSON object.
"""
import json, math, os, re, resource, sys, tempfile, time
import numpy as np
import torch
from safetensors_torch import load

torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
LINEARS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj',
           'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']


def rss_mib(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) / 1024
    return float('nan')


class Llama:
    """Weights by name; a linear is a dense W [out, in] or factors (u [out, r], v [r, in])."""

    def __init__(self, folder, L):
        c = json.load(open(os.path.join(folder, 'config.json')))
        self.w = load(folder)
        self.layers = c['num_hidden_layers']
        self.H, self.heads = c['hidden_size'], c['num_attention_heads']
        self.kv, self.eps, self.hd = c.get('num_key_value_heads', self.heads), c['rms_norm_eps'], self.H // self.heads
        inv = 1.0 / (c.get('rope_theta', 10000.0) ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        ang = torch.outer(torch.arange(L, dtype=torch.float32), inv)
        self.cos, self.sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
        self.mask = torch.full((L, L), float('-inf')).triu(1)
        self.factors = {}

    def rms(self, x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * g

    def linear(self, name, x):
        f = self.factors.get(name)
        return (x @ f[1].T) @ f[0].T if f else x @ self.w[name + '.weight'].T

    def layer(self, i, h, hook=None, original=False):
        """One decoder layer on h [B, L, H]; hook(name, x, y) sees each linear's input and output."""
        p = f'model.layers.{i}.'
        B, L, H = h.shape
        hd, heads, kv = self.hd, self.heads, self.kv

        def lin(key, x):
            name = p + key
            y = x @ self.w[name + '.weight'].T if original else self.linear(name, x)
            if hook:
                hook(name, x, y)
            return y

        def rot(x):
            return torch.cat([-x[..., hd // 2:], x[..., :hd // 2]], -1)

        a = self.rms(h, self.w[p + 'input_layernorm.weight'])
        q = lin('self_attn.q_proj', a).view(B, L, heads, hd).transpose(1, 2)
        k = lin('self_attn.k_proj', a).view(B, L, kv, hd).transpose(1, 2)
        v = lin('self_attn.v_proj', a).view(B, L, kv, hd).transpose(1, 2)
        q, k = q * self.cos[:L] + rot(q) * self.sin[:L], k * self.cos[:L] + rot(k) * self.sin[:L]
        k, v = k.repeat_interleave(heads // kv, 1), v.repeat_interleave(heads // kv, 1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + self.mask[:L, :L], -1) @ v
        h = h + lin('self_attn.o_proj', att.transpose(1, 2).reshape(B, L, H))
        a = self.rms(h, self.w[p + 'post_attention_layernorm.weight'])
        g = torch.nn.functional.silu(lin('mlp.gate_proj', a)) * lin('mlp.up_proj', a)
        return h + lin('mlp.down_proj', g)

    def embed(self, ids):
        return self.w['model.embed_tokens.weight'][ids]

    def nll(self, ids):
        head = self.w.get('lm_head.weight', self.w['model.embed_tokens.weight'])
        h = self.embed(ids)
        for i in range(self.layers):
            h = self.layer(i, h)
        logits = self.rms(h, self.w['model.norm.weight'])[:, :-1] @ head.T
        return -torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).sum().item()


def cholesky_shifted(g, log):
    try:
        return torch.linalg.cholesky(g)
    except RuntimeError:
        lam = torch.linalg.eigvalsh(g)[0].item()
        log.append(f'shift {-lam + 1e-6:.3e}')
        return torch.linalg.cholesky(g + (-lam + 1e-6) * torch.eye(g.shape[0], dtype=g.dtype))


def profile(model, calib, phases, log):
    """profle_svdllm_low_resource: S per linear of every layer, from the original model's inputs."""
    inps = model.embed(calib)
    mats = {}
    for i in range(model.layers):
        grams = {}

        def hook(name, x, _y):
            t = time.perf_counter()
            add = torch.sum(torch.matmul(x.transpose(1, 2), x), dim=0)
            grams[name] = grams[name] + add if name in grams else add
            phases['statistics'] += time.perf_counter() - t

        t = time.perf_counter()
        outs = torch.zeros_like(inps)
        for j in range(inps.shape[0]):
            outs[j] = model.layer(i, inps[j].unsqueeze(0), hook=hook, original=True)[0]
        phases['forward (whitening path)'] += time.perf_counter() - t
        t = time.perf_counter()
        for name, g in grams.items():
            mats[name] = cholesky_shifted(g.double(), log)
        phases['cholesky'] += time.perf_counter() - t
        inps = outs
    return mats


def update(model, ids, mats, ratio, phases):
    """whitening_local_update: SVD of W S, then the closed-form refit of U, layer by layer."""
    inps = model.embed(ids)
    for i in range(model.layers):
        t = time.perf_counter()
        parts = {}
        for key in LINEARS:
            name = f'model.layers.{i}.{key}'
            W = model.w[name + '.weight']
            S = mats[name]
            s_inv = torch.linalg.inv(S).float()
            U, sig, VT = torch.linalg.svd(W @ S.float(), full_matrices=False)
            r = int(W.shape[0] * W.shape[1] * ratio / (W.shape[0] + W.shape[1]))
            parts[name] = (sig[:r], VT[:r] @ s_inv)
        phases['svd'] += time.perf_counter() - t
        solved = {}

        def hook(name, x, y):
            t = time.perf_counter()
            sig, v = parts[name]
            xs = (x.reshape(-1, x.shape[-1]) @ v.T) * sig
            solved[name] = torch.linalg.lstsq(xs, y.reshape(-1, y.shape[-1])).solution
            phases['update (lstsq)'] += time.perf_counter() - t

        t = time.perf_counter()
        model.layer(i, inps, hook=hook, original=True)
        for name, (sig, v) in parts.items():
            root = sig.sqrt()
            model.factors[name] = (solved[name].T * root, root[:, None] * v)
        inps = model.layer(i, inps)
        phases['forward (update path)'] += time.perf_counter() - t
    return inps


def main():
    folder, calib_file, eval_file = sys.argv[1:4]
    L, update_samples, removed, batch = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
    read = lambda f: torch.from_numpy(np.fromfile(f, dtype='<i4').astype(np.int64)).view(-1, L)
    calib, evals = read(calib_file), read(eval_file)
    base = rss_mib('VmRSS')
    phases = {k: 0.0 for k in ['load', 'forward (whitening path)', 'statistics', 'cholesky', 'svd',
                               'forward (update path)', 'update (lstsq)', 'save']}
    log = []
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    model = Llama(folder, L)
    phases['load'] = time.perf_counter() - t0
    mats = profile(model, calib, phases, log)
    update(model, calib[:update_samples], mats, 1 - removed, phases)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        kept = {n: t for n, t in model.w.items() if n.rsplit('.', 1)[0] not in model.factors}
        torch.save({'weights': kept, 'factors': model.factors}, os.path.join(d, 'svdllm.pt'))
    phases['save'] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - cpu0
    # Hooks are timed inside the forward passes: report those without them.
    phases['forward (whitening path)'] -= phases['statistics']
    phases['forward (update path)'] -= phases['update (lstsq)']
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    nll = sum(model.nll(evals[s:s + batch]) for s in range(0, evals.shape[0], batch))
    eval_seconds = time.perf_counter() - t
    params = sum(t.numel() for n, t in model.w.items() if n.rsplit('.', 1)[0] not in model.factors)
    params += sum(u.numel() + v.numel() for u, v in model.factors.values())
    cfg = torch.__config__.show()
    info = re.search(r'BLAS_INFO=([^,\s]+)', cfg)
    mapped = sorted({os.path.basename(l.split()[-1]) for l in open('/proc/self/maps') if re.search(r'lib(open)?blas|mkl', l)})
    print(json.dumps({
        'seconds': seconds, 'cpuSeconds': cpu_seconds, 'phases': phases, 'peakRssMiB': peak, 'baseRssMiB': base,
        'peakRssWithEvalMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'evalSeconds': eval_seconds, 'perplexity': math.exp(nll / (evals.shape[0] * (L - 1))),
        'windows': evals.shape[0], 'parameters': params, 'shifts': log,
        'torch': torch.__version__, 'threads': torch.get_num_threads(),
        'blas': f"{info.group(1) if info else 'unknown'} (mapped: {', '.join(mapped) or 'none'})",
    }))


if __name__ == '__main__':
    with torch.no_grad():
        main()
