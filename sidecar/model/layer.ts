// One decoder layer: its weights loaded from the checkpoint when needed, and its forward pass as
// pure tfjs ops (so tf.grad works through it for GRASP and SoCo).
import * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from '../checkpoint/checkpoint';
import type { InputSite, ResolvedArch } from '../arch/table';
import { applyLinear, disposeLinear, type Linear } from './linear';
import { transposeF32 } from '../methods/weights';
import { factorNames } from '../inspect/summary';

export interface LayerWeights {
  index: number;
  /** By projection key, e.g. `self_attn.q_proj` or `attn.c_attn`. */
  linears: Map<string, Linear>;
  /** Norm weights and biases by key relative to the layer, e.g. `input_layernorm.weight`. */
  params: Map<string, tf.Tensor>;
}

/** Hooks run inside tf.tidy: tf.keep (or read out) anything they retain. */
export interface LayerHooks { onInput?: (site: InputSite, x: tf.Tensor2D) => void }

async function loadLinear(ckpt: Checkpoint, name: string, transposed: boolean): Promise<Linear> {
  const bias = ckpt.has(`${name}.bias`) ? tf.tensor1d(await ckpt.read(`${name}.bias`)) : undefined;
  const dense = ckpt.tensors.get(`${name}.weight`);
  if (dense) {
    const [a, b] = dense.shape;
    const data = await ckpt.read(`${name}.weight`);
    // Conv1D already stores [in, out], which is the layout we run.
    const wT = transposed ? tf.tensor2d(data, [a, b]) : tf.tensor2d(transposeF32(data, a, b), [b, a]);
    return { kind: 'dense', wT, b: bias };
  }
  const f = factorNames(name);
  const u = ckpt.tensors.get(f.u);
  const v = ckpt.tensors.get(f.v);
  if (!u || !v) throw new Error(`${ckpt.dir}: projection ${name} has neither .weight nor .u/.v factors`);
  // Factors are always stored in [out, r] / [r, in] math layout, also for GPT-2.
  return {
    kind: 'factored', b: bias,
    uT: tf.tensor2d(transposeF32(await ckpt.read(f.u), u.shape[0], u.shape[1]), [u.shape[1], u.shape[0]]),
    vT: tf.tensor2d(transposeF32(await ckpt.read(f.v), v.shape[0], v.shape[1]), [v.shape[1], v.shape[0]]),
  };
}

export async function loadLayer(ckpt: Checkpoint, arch: ResolvedArch, i: number): Promise<LayerWeights> {
  const prefix = arch.layer(i);
  const linears = new Map<string, Linear>();
  for (const { name, spec } of arch.projections(i)) linears.set(spec.key, await loadLinear(ckpt, name, spec.transposed));
  const params = new Map<string, tf.Tensor>();
  for (const norm of arch.spec.norms) {
    for (const part of ['weight', 'bias']) {
      const n = `${prefix}${norm}.${part}`;
      if (ckpt.has(n)) params.set(`${norm}.${part}`, tf.tensor1d(await ckpt.read(n)));
    }
  }
  return { index: i, linears, params };
}

export function disposeLayer(w: LayerWeights): void {
  for (const l of w.linears.values()) disposeLinear(l);
  for (const p of w.params.values()) p.dispose();
}

export function rmsNorm(x: tf.Tensor2D, w: tf.Tensor, eps: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w) as tf.Tensor2D);
}

export function layerNorm(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), w), b) as tf.Tensor2D;
  });
}

/** Rotary tables for positions 0..T-1, rotate-half layout (Hugging Face Llama). */
export function ropeTables(T: number, headDim: number, theta: number, scaling?: { type?: string; rope_type?: string; factor?: number }): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const half = headDim / 2;
  const factor = scaling && (scaling.type ?? scaling.rope_type) === 'linear' ? scaling.factor ?? 1 : 1;
  const cos = new Float32Array(T * headDim);
  const sin = new Float32Array(T * headDim);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < half; j++) {
      const angle = (t / factor) * theta ** (-(2 * j) / headDim);
      cos[t * headDim + j] = cos[t * headDim + j + half] = Math.cos(angle);
      sin[t * headDim + j] = sin[t * headDim + j + half] = Math.sin(angle);
    }
  }
  return { cos: tf.tensor2d(cos, [T, headDim]), sin: tf.tensor2d(sin, [T, headDim]) };
}

/** Positions and mask shared by every layer of a forward pass with sequence length T. */
export interface PassContext { batch: number; seqLen: number; mask: tf.Tensor2D; rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D } }

export function passContext(arch: ResolvedArch, batch: number, seqLen: number): PassContext {
  const m = new Float32Array(seqLen * seqLen);
  for (let i = 0; i < seqLen; i++) for (let j = i + 1; j < seqLen; j++) m[i * seqLen + j] = -1e9;
  const cfg = arch.config;
  const rope = arch.spec.family === 'llama'
    ? ropeTables(seqLen, arch.dims.headDim, typeof cfg.rope_theta === 'number' ? cfg.rope_theta : 10000, cfg.rope_scaling as { type?: string; factor?: number } | undefined)
    : undefined;
  return { batch, seqLen, mask: tf.tensor2d(m, [seqLen, seqLen]), rope };
}

export function disposePassContext(c: PassContext): void {
  c.mask.dispose();
  c.rope?.cos.dispose();
  c.rope?.sin.dispose();
}

function rotate(x: tf.Tensor4D, rope: { cos: tf.Tensor2D; sin: tf.Tensor2D }): tf.Tensor4D {
  // x [B, heads, T, hd]; rotate_half(x) = cat(−x2, x1).
  const hd = x.shape[3];
  const [x1, x2] = tf.split(x, [hd / 2, hd / 2], 3);
  const rot = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, rope.cos), tf.mul(rot, rope.sin)) as tf.Tensor4D;
}

/** Causal self-attention on [B·T, heads·hd] projections; kv heads are shared by groups of query heads (GQA). */
function attention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, arch: ResolvedArch, ctx: PassContext): tf.Tensor2D {
  const { heads, kvHeads, headDim } = arch.dims;
  const { batch: B, seqLen: T } = ctx;
  const split = (x: tf.Tensor2D, h: number) => tf.transpose(tf.reshape(x, [B, T, h, headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
  let qh = split(q, heads);
  let kh = split(k, kvHeads);
  let vh = split(v, kvHeads);
  if (ctx.rope) {
    qh = rotate(qh, ctx.rope);
    kh = rotate(kh, ctx.rope);
  }
  if (kvHeads !== heads) {
    const group = heads / kvHeads;
    const idx = tf.tensor1d(Array.from({ length: heads }, (_, h) => Math.floor(h / group)), 'int32');
    kh = tf.gather(kh, idx, 1);
    vh = tf.gather(vh, idx, 1);
  }
  // Explicit transpose: wasm's batched matMul with transposeB is far slower (see linear.ts).
  const scores = tf.add(tf.mul(tf.matMul(qh, tf.transpose(kh, [0, 1, 3, 2])), 1 / Math.sqrt(headDim)), ctx.mask);
  const probs = tf.softmax(scores, -1);
  const out = tf.matMul(probs, vh);
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B * T, heads * headDim]) as tf.Tensor2D;
}

const gelu = (x: tf.Tensor2D) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))) as tf.Tensor2D;

/** h [B·T, hidden] → h' [B·T, hidden]. Hooks see each projection's input (the statistics' source). */
export function layerForward(arch: ResolvedArch, w: LayerWeights, h: tf.Tensor2D, ctx: PassContext, hooks: LayerHooks = {}): tf.Tensor2D {
  return tf.tidy(() => {
    const L = (key: string) => w.linears.get(key)!;
    const P = (key: string) => w.params.get(key)!;
    const see = (site: InputSite, x: tf.Tensor2D) => { hooks.onInput?.(site, x); return x; };
    const eps = arch.dims.eps;
    if (arch.spec.family === 'llama') {
      const x = see('attn_in', rmsNorm(h, P('input_layernorm.weight'), eps));
      const q = applyLinear(x, L('self_attn.q_proj'));
      const k = applyLinear(x, L('self_attn.k_proj'));
      const v = applyLinear(x, L('self_attn.v_proj'));
      const a = see('attn_ctx', attention(q, k, v, arch, ctx));
      const h1 = tf.add(h, applyLinear(a, L('self_attn.o_proj'))) as tf.Tensor2D;
      const x2 = see('mlp_in', rmsNorm(h1, P('post_attention_layernorm.weight'), eps));
      const g = applyLinear(x2, L('mlp.gate_proj'));
      const act = see('mlp_act', tf.mul(tf.mul(g, tf.sigmoid(g)), applyLinear(x2, L('mlp.up_proj'))) as tf.Tensor2D);
      return tf.add(h1, applyLinear(act, L('mlp.down_proj'))) as tf.Tensor2D;
    }
    const x = see('attn_in', layerNorm(h, P('ln_1.weight'), P('ln_1.bias'), eps));
    const qkv = applyLinear(x, L('attn.c_attn'));
    const H = arch.dims.hidden;
    const [q, k, v] = tf.split(qkv, [H, H, H], 1) as tf.Tensor2D[];
    const a = see('attn_ctx', attention(q, k, v, arch, ctx));
    const h1 = tf.add(h, applyLinear(a, L('attn.c_proj'))) as tf.Tensor2D;
    const x2 = see('mlp_in', layerNorm(h1, P('ln_2.weight'), P('ln_2.bias'), eps));
    const act = see('mlp_act', gelu(applyLinear(x2, L('mlp.c_fc'))));
    return tf.add(h1, applyLinear(act, L('mlp.c_proj'))) as tf.Tensor2D;
  });
}
