#!/usr/bin/python3
"""The PyTorch peer of bench/forward.ts: an independent Llama forward pass (float32, Debian's torch
on CPU) computing the same perplexity over the same token ids, timed the same way (model load plus
all windows). Prints one JSON object: tokensPerSecond, peakRssMiB (ru_maxrss), seconds, perplexity,
torch version, threads and the BLAS that torch reports and that is actually mapped in the process.

  forward_torch.py MODEL_DIR IDS_INT32_FILE SEQ_LEN BATCH
"""
import json, math, os, re, resource, sys, time
import numpy as np
import torch
from safetensors_torch import load

torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))


def main():
    folder, ids_file, L, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    t0 = time.perf_counter()
    c = json.load(open(os.path.join(folder, 'config.json')))
    w = load(folder)
    H, heads = c['hidden_size'], c['num_attention_heads']
    kv, eps, hd = c.get('num_key_value_heads', heads), c['rms_norm_eps'], H // c['num_attention_heads']
    inv = 1.0 / (c.get('rope_theta', 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.outer(torch.arange(L, dtype=torch.float32), inv)
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    mask = torch.full((L, L), float('-inf')).triu(1)
    head = w.get('lm_head.weight', w['model.embed_tokens.weight'])

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    def rot(x):
        return torch.cat([-x[..., hd // 2:], x[..., :hd // 2]], -1)

    ids = torch.from_numpy(np.fromfile(ids_file, dtype='<i4').astype(np.int64))
    n = len(ids) // L
    nll = 0.0
    with torch.no_grad():
        for s in range(0, n, batch):
            x = ids[s * L:min(n, s + batch) * L].view(-1, L)
            B = x.shape[0]
            h = w['model.embed_tokens.weight'][x]
            for i in range(c['num_hidden_layers']):
                p = f'model.layers.{i}.'
                a = rms(h, w[p + 'input_layernorm.weight'])
                q = (a @ w[p + 'self_attn.q_proj.weight'].T).view(B, L, heads, hd).transpose(1, 2)
                k = (a @ w[p + 'self_attn.k_proj.weight'].T).view(B, L, kv, hd).transpose(1, 2)
                v = (a @ w[p + 'self_attn.v_proj.weight'].T).view(B, L, kv, hd).transpose(1, 2)
                q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
                k, v = k.repeat_interleave(heads // kv, 1), v.repeat_interleave(heads // kv, 1)
                att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, -1) @ v
                h = h + att.transpose(1, 2).reshape(B, L, H) @ w[p + 'self_attn.o_proj.weight'].T
                a = rms(h, w[p + 'post_attention_layernorm.weight'])
                h = h + (torch.nn.functional.silu(a @ w[p + 'mlp.gate_proj.weight'].T) * (a @ w[p + 'mlp.up_proj.weight'].T)) @ w[p + 'mlp.down_proj.weight'].T
            logits = rms(h, w['model.norm.weight'])[:, :-1] @ head.T
            nll -= torch.log_softmax(logits, -1).gather(-1, x[:, 1:, None]).sum().item()
    seconds = time.perf_counter() - t0
    cfg = torch.__config__.show()
    info = re.search(r'BLAS_INFO=([^,\s]+)', cfg)
    mapped = sorted({os.path.basename(l.split()[-1]) for l in open('/proc/self/maps') if re.search(r'lib(open)?blas|mkl', l)})
    print(json.dumps({
        'tokensPerSecond': n * L / seconds, 'seconds': seconds, 'perplexity': math.exp(nll / (n * (L - 1))),
        'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'torch': torch.__version__,
        'threads': torch.get_num_threads(), 'blas': f"{info.group(1) if info else 'unknown'} (mapped: {', '.join(mapped) or 'none'})",
    }))


if __name__ == '__main__':
    main()
