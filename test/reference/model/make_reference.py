#!/usr/bin/python3
"""Independent Llama/GPT-2 forward pass in numpy (float64), for the forward-pass tests.

It shares no code with Rankwise: its own safetensors reader, RMSNorm, rotate-half RoPE, grouped-query
attention, SwiGLU; LayerNorm, learned positions and GELU (tanh) for GPT-2.

  make_reference.py logits MODEL_DIR IDS_JSON OUT_JSON   # logits for fixed id windows
  make_reference.py ppl MODEL_DIR IDS_BIN SEQ_LEN        # perplexity of an int32 id stream (METHODS.md)

IDS_JSON holds {"windows": [[ids...], ...]}; OUT_JSON gets logits rows and checksums.
"""
import json, math, os, struct, sys
import numpy as np


def read_safetensors(folder):
    files = []
    index = os.path.join(folder, 'model.safetensors.index.json')
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))['weight_map'].values()))
    else:
        files = ['model.safetensors']
    out = {}
    for name in files:
        with open(os.path.join(folder, name), 'rb') as f:
            n = struct.unpack('<Q', f.read(8))[0]
            header = json.loads(f.read(n))
            base = 8 + n
            for key, e in header.items():
                if key == '__metadata__':
                    continue
                f.seek(base + e['data_offsets'][0])
                raw = f.read(e['data_offsets'][1] - e['data_offsets'][0])
                if e['dtype'] == 'BF16':
                    a = (np.frombuffer(raw, '<u2').astype(np.uint32) << 16).view(np.float32)
                elif e['dtype'] == 'F16':
                    a = np.frombuffer(raw, '<f2')
                else:
                    a = np.frombuffer(raw, '<f4')
                out[key] = a.astype(np.float64).reshape(e['shape'])
    return out


class Model:
    def __init__(self, folder):
        self.c = json.load(open(os.path.join(folder, 'config.json')))
        self.w = read_safetensors(folder)
        self.gpt2 = self.c['model_type'] == 'gpt2'
        self.p = 'transformer.' if self.gpt2 and 'transformer.wte.weight' in self.w else ''

    def lin(self, x, name, conv1d=False):
        if name + '.weight' in self.w:
            W = self.w[name + '.weight']
            y = x @ W if conv1d else x @ W.T
        else:  # factored: u [out,r], v [r,in]
            y = (x @ self.w[name + '.v.weight'].T) @ self.w[name + '.u.weight'].T
        if name + '.bias' in self.w:
            y = y + self.w[name + '.bias']
        return y

    def attend(self, q, k, v, heads, kv, hd, rope):
        T = q.shape[0]
        q = q.reshape(T, heads, hd).transpose(1, 0, 2)
        k = k.reshape(T, kv, hd).transpose(1, 0, 2)
        v = v.reshape(T, kv, hd).transpose(1, 0, 2)
        if rope is not None:
            cos, sin = rope
            rot = lambda x: np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)
            q = q * cos + rot(q) * sin
            k = k * cos + rot(k) * sin
        rep = heads // kv
        k = np.repeat(k, rep, axis=0)
        v = np.repeat(v, rep, axis=0)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        s = s + np.triu(np.full((T, T), -np.inf), 1)
        s = s - s.max(-1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(-1, keepdims=True)
        return (p @ v).transpose(1, 0, 2).reshape(T, heads * hd)

    def hidden(self, ids):
        c, w, T = self.c, self.w, len(ids)
        if self.gpt2:
            H, heads, eps = c['n_embd'], c['n_head'], c.get('layer_norm_epsilon', 1e-5)
            ln = lambda x, n: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w[n + '.weight'] + w[n + '.bias']
            h = w[self.p + 'wte.weight'][ids] + w[self.p + 'wpe.weight'][:T]
            for i in range(c['n_layer']):
                b = f'{self.p}h.{i}.'
                x = ln(h, b + 'ln_1')
                qkv = self.lin(x, b + 'attn.c_attn', conv1d=b + 'attn.c_attn.weight' in w)
                a = self.attend(qkv[:, :H], qkv[:, H:2 * H], qkv[:, 2 * H:], heads, heads, H // heads, None)
                h = h + self.lin(a, b + 'attn.c_proj', conv1d=b + 'attn.c_proj.weight' in w)
                x = ln(h, b + 'ln_2')
                f = self.lin(x, b + 'mlp.c_fc', conv1d=b + 'mlp.c_fc.weight' in w)
                f = 0.5 * f * (1 + np.tanh(math.sqrt(2 / math.pi) * (f + 0.044715 * f ** 3)))
                h = h + self.lin(f, b + 'mlp.c_proj', conv1d=b + 'mlp.c_proj.weight' in w)
            return ln(h, self.p + 'ln_f')
        H, heads = c['hidden_size'], c['num_attention_heads']
        kv, eps = c.get('num_key_value_heads', heads), c['rms_norm_eps']
        hd = H // heads
        theta = c.get('rope_theta', 10000.0)
        inv = theta ** (-np.arange(0, hd, 2) / hd)
        ang = np.arange(T)[:, None] * inv[None, :]
        ang = np.concatenate([ang, ang], -1)
        rope = (np.cos(ang), np.sin(ang))
        rms = lambda x, n: x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w[n]
        h = w['model.embed_tokens.weight'][ids]
        for i in range(c['num_hidden_layers']):
            b = f'model.layers.{i}.'
            x = rms(h, b + 'input_layernorm.weight')
            a = self.attend(self.lin(x, b + 'self_attn.q_proj'), self.lin(x, b + 'self_attn.k_proj'), self.lin(x, b + 'self_attn.v_proj'), heads, kv, hd, rope)
            h = h + self.lin(a, b + 'self_attn.o_proj')
            x = rms(h, b + 'post_attention_layernorm.weight')
            g = self.lin(x, b + 'mlp.gate_proj')
            h = h + self.lin(g / (1 + np.exp(-g)) * self.lin(x, b + 'mlp.up_proj'), b + 'mlp.down_proj')
        return rms(h, 'model.norm.weight')

    def logits(self, ids):
        x = self.hidden(np.asarray(ids))
        head = self.w.get('lm_head.weight', self.w.get(self.p + 'wte.weight', self.w.get('model.embed_tokens.weight')))
        return x @ head.T


def main():
    mode, folder = sys.argv[1], sys.argv[2]
    m = Model(folder)
    if mode == 'logits':
        windows = json.load(open(sys.argv[3]))['windows']
        out = []
        for ids in windows:
            lg = m.logits(ids)
            out.append({'ids': ids, 'first64': lg[:, :64].tolist(), 'rowsum': lg.sum(-1).tolist(), 'rownorm': np.linalg.norm(lg, axis=-1).tolist(),
                        'lastrow': lg[-1].tolist()})
        json.dump({'model': os.path.basename(os.path.normpath(folder)), 'windows': out}, open(sys.argv[4], 'w'))
    elif mode == 'ppl':
        ids = np.fromfile(sys.argv[3], dtype='<i4')
        L = int(sys.argv[4])
        n = len(ids) // L
        nll = 0.0
        for k in range(n):
            win = ids[k * L:(k + 1) * L]
            lg = m.logits(win)[:-1]
            lg = lg - lg.max(-1, keepdims=True)
            logp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
            nll -= logp[np.arange(L - 1), win[1:]].sum()
        print(json.dumps({'perplexity': math.exp(nll / (n * (L - 1))), 'windows': n, 'predictions': n * (L - 1)}))


if __name__ == '__main__':
    main()
