#!/usr/bin/python3
"""Independent Llama/GPT-2 forward pass in numpy (float64), for Rankwise's forward-pass tests.

Shares no code with Rankwise: its own safetensors reader, RMSNorm, rotate-half RoPE (rope_theta;
rope_scaling linear, dynamic and llama3 as in transformers' modeling_rope_utils), grouped-query
attention (repeat_kv), SwiGLU; LayerNorm, learned positions and GELU (tanh or erf) for GPT-2; dense
`X.weight` or factored `X.u.weight` / `X.v.weight` projections.

  make_reference.py logits MODEL IDS_JSON OUT_JSON [ROWS]  # logits for id windows
  make_reference.py ppl MODEL IDS_BIN SEQ_LEN               # perplexity of an int32 id stream (METHODS.md)
  make_reference.py stats MODEL IDS_JSON OUT_JSON           # per-layer input Gram, mean |x|, Block Influence

IDS_JSON holds {"windows": [[ids...], ...]} (equal lengths). logits writes, per window, the first 64
vocabulary entries at every position, each row's sum and norm, and the full rows at positions ROWS
(comma-separated, negative counts from the end; default -1). Values keep 8 significant digits.
The real model's files were made with (ids from Rankwise's tokenizer, whose ids a test pins):
  make_reference.py logits models/rankwise-brown-14m test/reference/model/windows.json test/reference/model/logits.json 0,63,-1
  make_reference.py ppl models/rankwise-brown-14m /tmp/brown-valid.ids 256     # "full" in perplexity.json
  make_reference.py ppl models/rankwise-brown-14m /tmp/brown-valid-32.ids 256  # "first32": the first 32·256·4 bytes
where /tmp/brown-valid.ids is the int32 token stream of corpora/brown-valid.txt (test/reference/model/dump_ids.ts).
"""
import hashlib, json, math, os, struct, sys
import numpy as np

SITES = ('attn_in', 'attn_ctx', 'mlp_in', 'mlp_act')


def read_safetensors(folder):
    index = os.path.join(folder, 'model.safetensors.index.json')
    files = sorted(set(json.load(open(index))['weight_map'].values())) if os.path.exists(index) else ['model.safetensors']
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


def inv_freq(c, hd, T):
    theta = c.get('rope_theta', 10000.0)
    s = c.get('rope_scaling') or {}
    kind = s.get('rope_type', s.get('type', 'default'))
    factor = s.get('factor', 1.0)
    ctx = c['max_position_embeddings']
    if kind == 'dynamic' and T > ctx:
        theta = theta * ((factor * T / ctx) - (factor - 1)) ** (hd / (hd - 2))
    inv = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    if kind == 'linear':
        inv = inv / factor
    elif kind == 'llama3':
        old = s.get('original_max_position_embeddings', 8192)
        lo, hi = s.get('low_freq_factor', 1.0), s.get('high_freq_factor', 4.0)
        wl = 2 * math.pi / inv
        scaled = np.where(wl > old / lo, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        medium = (wl >= old / hi) & (wl <= old / lo)
        inv = np.where(medium, (1 - smooth) * scaled / factor + smooth * scaled, scaled)
    elif kind not in ('default', 'dynamic'):
        raise SystemExit('unsupported rope_scaling ' + kind)
    return inv


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
        else:  # factored: u [out, r], v [r, in], in math layout for every family
            y = (x @ self.w[name + '.v.weight'].T) @ self.w[name + '.u.weight'].T
        if name + '.bias' in self.w:
            y = y + self.w[name + '.bias']
        return y

    @staticmethod
    def attend(q, k, v, heads, kv, hd, rope):
        B, T = q.shape[:2]
        q = q.reshape(B, T, heads, hd).transpose(0, 2, 1, 3)
        k = k.reshape(B, T, kv, hd).transpose(0, 2, 1, 3)
        v = v.reshape(B, T, kv, hd).transpose(0, 2, 1, 3)
        if rope is not None:
            cos, sin = rope
            rot = lambda x: np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)
            q = q * cos + rot(q) * sin
            k = k * cos + rot(k) * sin
        k = np.repeat(k, heads // kv, axis=1)  # repeat_kv: query head h reads kv head h // group
        v = np.repeat(v, heads // kv, axis=1)
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + np.triu(np.full((T, T), -np.inf), 1)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return (p @ v).transpose(0, 2, 1, 3).reshape(B, T, heads * hd)

    def hidden(self, ids, probe=None):
        """ids [B, T] → final-normed states [B, T, H]; probe(layer, site, x) and probe(layer, 'io', (h_in, h_out))."""
        c, w = self.c, self.w
        B, T = ids.shape
        see = (lambda i, s, x: probe(i, s, x)) if probe else (lambda i, s, x: None)
        if self.gpt2:
            H, heads, eps = c['n_embd'], c['n_head'], c.get('layer_norm_epsilon', 1e-5)
            act = c.get('activation_function', 'gelu_new')
            ln = lambda x, n: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w[n + '.weight'] + w[n + '.bias']
            h = w[self.p + 'wte.weight'][ids] + w[self.p + 'wpe.weight'][:T]
            for i in range(c['n_layer']):
                b, h0 = f'{self.p}h.{i}.', h
                x = ln(h, b + 'ln_1'); see(i, 'attn_in', x)
                qkv = self.lin(x, b + 'attn.c_attn', conv1d=b + 'attn.c_attn.weight' in w)
                a = self.attend(qkv[..., :H], qkv[..., H:2 * H], qkv[..., 2 * H:], heads, heads, H // heads, None); see(i, 'attn_ctx', a)
                h = h + self.lin(a, b + 'attn.c_proj', conv1d=b + 'attn.c_proj.weight' in w)
                x = ln(h, b + 'ln_2'); see(i, 'mlp_in', x)
                f = self.lin(x, b + 'mlp.c_fc', conv1d=b + 'mlp.c_fc.weight' in w)
                if act == 'gelu':
                    f = 0.5 * f * (1 + np.vectorize(math.erf)(f / math.sqrt(2)))
                else:
                    f = 0.5 * f * (1 + np.tanh(math.sqrt(2 / math.pi) * (f + 0.044715 * f ** 3)))
                see(i, 'mlp_act', f)
                h = h + self.lin(f, b + 'mlp.c_proj', conv1d=b + 'mlp.c_proj.weight' in w)
                see(i, 'io', (h0, h))
            return ln(h, self.p + 'ln_f')
        H, heads = c['hidden_size'], c['num_attention_heads']
        kv, eps = c.get('num_key_value_heads', heads), c['rms_norm_eps']
        hd = c.get('head_dim', H // heads)
        ang = np.arange(T)[:, None] * inv_freq(c, hd, T)[None, :]
        ang = np.concatenate([ang, ang], -1)
        rope = (np.cos(ang), np.sin(ang))
        rms = lambda x, n: x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w[n]
        h = w['model.embed_tokens.weight'][ids]
        for i in range(c['num_hidden_layers']):
            b, h0 = f'model.layers.{i}.', h
            x = rms(h, b + 'input_layernorm.weight'); see(i, 'attn_in', x)
            a = self.attend(self.lin(x, b + 'self_attn.q_proj'), self.lin(x, b + 'self_attn.k_proj'), self.lin(x, b + 'self_attn.v_proj'), heads, kv, hd, rope)
            see(i, 'attn_ctx', a)
            h = h + self.lin(a, b + 'self_attn.o_proj')
            x = rms(h, b + 'post_attention_layernorm.weight'); see(i, 'mlp_in', x)
            g = self.lin(x, b + 'mlp.gate_proj')
            m = g / (1 + np.exp(-g)) * self.lin(x, b + 'mlp.up_proj'); see(i, 'mlp_act', m)
            h = h + self.lin(m, b + 'mlp.down_proj')
            see(i, 'io', (h0, h))
        return rms(h, 'model.norm.weight')

    def head(self):
        w = self.w
        for n in ('lm_head.weight', self.p + 'lm_head.weight', self.p + 'wte.weight', 'model.embed_tokens.weight'):
            if n in w:
                return w[n]

    def logits(self, ids, probe=None):
        return self.hidden(np.asarray(ids).reshape(-1, len(ids[0]) if np.ndim(ids) == 2 else len(ids)), probe) @ self.head().T


def r8(a):
    return [float('%.8g' % x) for x in np.ravel(a)]


def main():
    mode, folder = sys.argv[1], sys.argv[2]
    m = Model(folder)
    if mode == 'logits':
        windows = json.load(open(sys.argv[3]))['windows']
        rows = [int(r) for r in (sys.argv[5] if len(sys.argv) > 5 else '-1').split(',')]
        out = []
        for ids in windows:
            lg = m.logits([ids])[0]
            T = len(ids)
            full = {str(r % T): r8(lg[r % T]) for r in rows}
            out.append({'ids': ids, 'first64': r8(lg[:, :64]), 'rowsum': r8(lg.sum(-1)), 'rownorm': r8(np.linalg.norm(lg, axis=-1)), 'rows': full})
        json.dump({'model': os.path.basename(os.path.normpath(folder)), 'vocab': int(m.head().shape[0]), 'windows': out}, open(sys.argv[4], 'w'))
    elif mode == 'ppl':
        raw = open(sys.argv[3], 'rb').read()
        ids = np.frombuffer(raw, dtype='<i4')
        L = int(sys.argv[4])
        n = len(ids) // L
        nll = 0.0
        for k in range(0, n, 16):
            win = ids[k * L:min(n, k + 16) * L].reshape(-1, L)
            lg = m.hidden(win)[:, :-1] @ m.head().T
            lg = lg - lg.max(-1, keepdims=True)
            logp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
            nll -= np.take_along_axis(logp, win[:, 1:, None].astype(np.int64), -1).sum()
        print(json.dumps({'model': os.path.basename(os.path.normpath(folder)), 'seq_len': L, 'tokens': int(len(ids)), 'ids_sha256': hashlib.sha256(raw).hexdigest(),
                          'perplexity': math.exp(nll / (n * (L - 1))), 'windows': n, 'predictions': n * (L - 1)}))
    elif mode == 'stats':
        ids = np.asarray(json.load(open(sys.argv[3]))['windows'])
        acc = {}

        def probe(i, site, x):
            if site == 'io':
                a, b = (y.reshape(-1, y.shape[-1]) for y in x)
                cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
                acc.setdefault(i, {})['bi'] = float(1 - cos.mean())
                return
            X = x.reshape(-1, x.shape[-1])
            acc.setdefault(i, {})[site] = {'gram': r8(X.T @ X), 'meanabs': r8(np.abs(X).mean(0)), 'dim': X.shape[1]}
        m.hidden(ids, probe)
        json.dump({'layers': [acc[i] for i in sorted(acc)]}, open(sys.argv[4], 'w'))


if __name__ == '__main__':
    main()
