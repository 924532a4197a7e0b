// One decoder layer: its weights read from the checkpoint when needed, and its forward pass as pure
// tfjs ops (differentiable with tf.grad / tf.variableGrads, which GRASP and SoCo need).
import * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from '../checkpoint/checkpoint';
import type { InputSite, ResolvedArch } from '../arch/table';
import { factorNames } from '../inspect/summary';
import { applyLinear, disposeLinear, type Linear } from './linear';
import { layerNorm, rmsNorm } from './norm';
import { causalAttention } from './attention';
import { ropeTables, type RopeScaling } from './rope';
import { readTensor } from './read-tensor';
import { inRowPieces } from '../tensor/row-pieces';

export interface LayerWeights {
  index: number;
  /** By projection key, e.g. `self_attn.q_proj` or `attn.c_attn`; always [out, in] layout. */
  linears: Map<string, Linear>;
  /** Norm weights and biases by key relative to the layer, e.g. `input_layernorm.weight`. */
  params: Map<string, tf.Tensor>;
}

/**
 * onInput sees each projection's input x [B·T, in] once per site (q/k/v share attn_in, gate/up share
 * mlp_in). The layer disposes x once its projections have read it: read x synchronously, or hold a
 * reference of your own (tf.clone, as stats/gram.ts does with a reshape), not tf.keep.
 */
export interface LayerHooks { onInput?: (site: InputSite, x: tf.Tensor2D) => void }

async function loadLinear(ckpt: Checkpoint, name: string, conv1d: boolean): Promise<Linear> {
  // What was read is disposed if a later read fails.
  const held: tf.Tensor[] = [];
  const read = async <R extends tf.Rank>(n: string) => {
    const t = await readTensor<R>(ckpt, n);
    held.push(t);
    return t;
  };
  try {
    const bias = ckpt.has(`${name}.bias`) ? await read<tf.Rank.R1>(`${name}.bias`) : undefined;
    if (ckpt.has(`${name}.weight`)) {
      const w = await read<tf.Rank.R2>(`${name}.weight`);
      if (!conv1d) return { kind: 'dense', w, b: bias };
      // GPT-2's Conv1D stores [in, out]: transposed once here so every Linear is [out, in].
      const t = tf.transpose(w) as tf.Tensor2D;
      w.dispose();
      return { kind: 'dense', w: t, b: bias };
    }
    const f = factorNames(name);
    if (!ckpt.has(f.u) || !ckpt.has(f.v)) throw new Error(`${ckpt.dir}: projection ${name} has neither .weight nor .u/.v factors`);
    // Factors are stored in math layout ([out, r], [r, in]) for every family, GPT-2 included.
    return { kind: 'factored', u: await read<tf.Rank.R2>(f.u), v: await read<tf.Rank.R2>(f.v), b: bias };
  } catch (e) {
    tf.dispose(held);
    throw e;
  }
}

export async function loadLayer(ckpt: Checkpoint, arch: ResolvedArch, i: number): Promise<LayerWeights> {
  const prefix = arch.layer(i);
  const projections = arch.projections(i);
  const params = arch.spec.norms.flatMap((norm) => ['weight', 'bias'].map((part) => `${norm}.${part}`)).filter((key) => ckpt.has(prefix + key));
  // Every tensor read at once: each read is a round trip through libuv's threads, and one after
  // another each waited for this thread to come back from whatever it ran meanwhile (a layer read
  // ahead is read while the forward passes run).
  const [linears, norms] = await Promise.all([
    Promise.allSettled(projections.map(({ name, spec }) => loadLinear(ckpt, name, spec.transposed))),
    Promise.allSettled(params.map((key) => readTensor(ckpt, prefix + key))),
  ]);
  const w: LayerWeights = { index: i, linears: new Map(), params: new Map() };
  linears.forEach((r, k) => r.status === 'fulfilled' && w.linears.set(projections[k].spec.key, r.value));
  norms.forEach((r, k) => r.status === 'fulfilled' && w.params.set(params[k], r.value));
  const failed = [...linears, ...norms].find((r) => r.status === 'rejected');
  if (failed) {
    disposeLayer(w);
    throw failed.reason;
  }
  return w;
}

export function disposeLayer(w: LayerWeights): void {
  for (const l of w.linears.values()) disposeLinear(l);
  for (const p of w.params.values()) p.dispose();
}

/** Float32 bytes of a layer's tensors (what it costs resident). */
export function layerBytes(w: LayerWeights): number {
  let n = 0;
  for (const l of w.linears.values()) {
    for (const t of l.kind === 'dense' ? [l.w, l.b] : [l.u, l.v, l.b]) n += t ? t.size * 4 : 0;
  }
  for (const p of w.params.values()) n += p.size * 4;
  return n;
}

// GPT-2's MLP activation by its config's activation_function: "gelu_new" (the tanh approximation,
// GPT-2's default) or the exact erf "gelu". One op at a time, each intermediate ([rows, intermediate])
// disposed once the next is made, and x after its second use: as one expression the tanh form held
// eight of them until the MLP piece's tidy ended. x·0.5 comes last (a power of two: the same bits).
export function gelu(x: tf.Tensor2D, kind: unknown): tf.Tensor2D {
  if (kind !== undefined && kind !== 'gelu' && kind !== 'gelu_new' && kind !== 'gelu_pytorch_tanh') throw new Error(`config.json: activation_function "${String(kind)}" is not supported`);
  const steps: ((t: tf.Tensor) => tf.Tensor)[] = kind === 'gelu'
    ? [(t) => tf.mul(t, Math.SQRT1_2), tf.erf]
    : [(t) => tf.pow(t, 3), (t) => tf.mul(t, 0.044715), (t) => tf.add(t, x), (t) => tf.mul(t, Math.sqrt(2 / Math.PI)), tf.tanh];
  const last = [...steps, (t: tf.Tensor) => tf.add(t, 1), (t: tf.Tensor) => tf.mul(t, x)].reduce((t, f) => {
    const next = f(t);
    if (t !== x) t.dispose();
    return next;
  }, x as tf.Tensor);
  x.dispose();
  const out = tf.mul(last, 0.5) as tf.Tensor2D;
  last.dispose();
  return out;
}

/** Bytes of one MLP intermediate ([rows, intermediate] float32) past which the MLP runs over pieces
 *  of its rows (tensor/row-pieces.ts). Each piece dispatches every MLP op again to tfjs-wasm's
 *  thread pool, so small ones are not split: in pieces of 512 rows the reference model's
 *  compression (intermediates of 5.5 MiB) took 3.9% longer. Width 512's 11 MiB go in two, which
 *  cut tfjs's heap at bench/scaling's peak from 132–140 to 115 MiB. */
const MLP_PIECE_BYTES = 8 * 2 ** 20;

const mlpRows = (arch: ResolvedArch) => Math.max(1, Math.floor(MLP_PIECE_BYTES / (4 * arch.dims.intermediate)));

/** r + x Wᵀ, a block's residual sum: x is disposed once projected and the product once added,
 *  since nothing after the sum reads either (the MLP's activation is the layer's largest tensor). */
function residualPlus(r: tf.Tensor2D, x: tf.Tensor2D, l: Linear): tf.Tensor2D {
  const p = applyLinear(x, l);
  x.dispose();
  const sum = tf.add(r, p) as tf.Tensor2D;
  p.dispose();
  return sum;
}

/** h [B, T, hidden] → h' [B, T, hidden]; causal within each of the B sequences. */
export function layerForward(arch: ResolvedArch, w: LayerWeights, h: tf.Tensor3D, hooks: LayerHooks = {}): tf.Tensor3D {
  return run(arch, w, h, hooks, true)!;
}

/** The layer on h only as far as its projections' inputs, each shown to onInput: the last
 *  projection (down_proj, c_proj) and the residual are not computed, since nothing reads them. */
export function layerInputs(arch: ResolvedArch, w: LayerWeights, h: tf.Tensor3D, onInput: NonNullable<LayerHooks['onInput']>): void {
  run(arch, w, h, { onInput }, false);
}

function run(arch: ResolvedArch, w: LayerWeights, h: tf.Tensor3D, hooks: LayerHooks, output: boolean): tf.Tensor3D | undefined {
  return tf.tidy(() => {
    const [B, T, H] = h.shape;
    const { heads, kvHeads, headDim, eps } = arch.dims;
    const L = (key: string) => {
      const l = w.linears.get(key);
      if (!l) throw new Error(`layer ${w.index}: projection ${key} not loaded`);
      return l;
    };
    const P = (key: string) => {
      const p = w.params.get(key);
      if (!p) throw new Error(`layer ${w.index}: ${key} not loaded`);
      return p;
    };
    const see = (site: InputSite, x: tf.Tensor2D) => {
      hooks.onInput?.(site, x);
      return x;
    };
    const shape = { batch: B, seqLen: T, heads, kvHeads, headDim };
    const x0 = tf.reshape(h, [B * T, H]) as tf.Tensor2D;
    let out: tf.Tensor2D;
    const cfg = arch.config;
    if (arch.spec.family === 'llama') {
      if (cfg.hidden_act !== undefined && cfg.hidden_act !== 'silu') throw new Error(`config.json: hidden_act "${String(cfg.hidden_act)}" is not supported (silu)`);
      const theta = typeof cfg.rope_theta === 'number' ? cfg.rope_theta : 10000;
      const rope = ropeTables(T, headDim, theta, arch.dims.context, cfg.rope_scaling as RopeScaling | null | undefined);
      const x = see('attn_in', rmsNorm(x0, P('input_layernorm.weight'), eps));
      const q = applyLinear(x, L('self_attn.q_proj'));
      const k = applyLinear(x, L('self_attn.k_proj'));
      const v = applyLinear(x, L('self_attn.v_proj'));
      // q and k are this pass's own: the host kernel may rotate them in place.
      const a = see('attn_ctx', causalAttention(q, k, v, shape, rope, { overwrite: true }));
      // Each intermediate is disposed as soon as nothing after it reads it, not when the tidy ends:
      // tfjs-wasm's heap never shrinks, so what the layer holds at its end sets its high-water mark.
      tf.dispose([x, q, k, v]);
      const h1 = residualPlus(x0, a, L('self_attn.o_proj'));
      const x2 = see('mlp_in', rmsNorm(h1, P('post_attention_layernorm.weight'), eps));
      // Own tidy: gate, up and their products ([B·T, intermediate] each, the layer's largest
      // tensors) are freed before down_proj runs instead of living until the layer returns, and
      // each is disposed once used, so at most three are resident at once, not five. (Under a
      // gradient tape the tape holds its own reference to what it saved: dispose is safe.)
      const act = see('mlp_act', inRowPieces(x2, mlpRows(arch), (xs) => tf.tidy(() => {
        const g = applyLinear(xs, L('mlp.gate_proj'));
        const s = tf.sigmoid(g);
        const silu = tf.mul(g, s);
        tf.dispose([g, s]);
        const u = applyLinear(xs, L('mlp.up_proj'));
        const a = tf.mul(silu, u) as tf.Tensor2D;
        tf.dispose([silu, u]);
        return a;
      })));
      tf.dispose(x2);
      if (!output) return undefined;
      out = residualPlus(h1, act, L('mlp.down_proj'));
    } else {
      const x = see('attn_in', layerNorm(x0, P('ln_1.weight'), P('ln_1.bias'), eps));
      const qkv = applyLinear(x, L('attn.c_attn'));
      const [q, k, v] = tf.split(qkv, [H, H, H], 1) as tf.Tensor2D[];
      const a = see('attn_ctx', causalAttention(q, k, v, shape));
      tf.dispose([x, qkv, q, k, v]);
      const h1 = residualPlus(x0, a, L('attn.c_proj'));
      const x2 = see('mlp_in', layerNorm(h1, P('ln_2.weight'), P('ln_2.bias'), eps));
      const act = see('mlp_act', inRowPieces(x2, mlpRows(arch), (xs) => tf.tidy(() => gelu(applyLinear(xs, L('mlp.c_fc')), arch.config.activation_function))));
      tf.dispose(x2);
      if (!output) return undefined;
      out = residualPlus(h1, act, L('mlp.c_proj'));
    }
    return tf.reshape(out, [B, T, H]) as tf.Tensor3D;
  });
}
