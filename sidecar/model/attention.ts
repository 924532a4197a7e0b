// Causal multi-head self-attention with grouped key/value heads (GQA): as tfjs ops (differentiable,
// any backend), or by the host kernel (attention-host.ts) where no gradient is taken on wasm or cpu.
import * as tf from '@tensorflow/tfjs-core';
import { applyRope } from './rope';
import { hostAttentionApplies, hostCausalAttention } from './attention-host';

export interface AttentionShape { batch: number; seqLen: number; heads: number; kvHeads: number; headDim: number }

let memo: { T: number; data: Float32Array } | undefined;

/** [T, T] additive causal mask: 0 on and below the diagonal, −1e9 above (finite, so softmax stays NaN-free); built once per T. */
function maskData(T: number): Float32Array {
  if (memo?.T !== T) {
    const data = new Float32Array(T * T);
    for (let r = 0; r < T; r++) data.fill(-1e9, r * T + r + 1, (r + 1) * T);
    memo = { T, data };
  }
  return memo.data;
}

/** x [B, kvHeads, rows, cols] as its B·kvHeads matrices: one unstack, each matrix one contiguous
 *  copy inside the wasm heap (sidecar/tensor/wasm-slice.ts). */
function pairs(x: tf.Tensor4D): tf.Tensor2D[] {
  const [B, h, rows, cols] = x.shape;
  return rowsOf(tf.reshape(x, [B * h, rows * cols]) as tf.Tensor2D).map((m) => tf.reshape(m, [rows, cols]) as tf.Tensor2D);
}

/** The rows of x. A single row is reshaped, not unstacked: tfjs hands a one-output kernel's
 *  gradient a lone dy, which Unpack's gradient (a stack of the list) rejects. */
function rowsOf(x: tf.Tensor2D): tf.Tensor[] {
  return x.shape[0] === 1 ? [tf.reshape(x, [x.shape[1]])] : tf.unstack(x);
}

/**
 * q [B·T, heads·hd], k and v [B·T, kvHeads·hd] → [B·T, heads·hd], rope applied to q and k first when
 * its tables are given. Query head h uses kv head ⌊h / group⌋, as repeat_kv in transformers.
 * With `overwrite` the host kernel may change q and k (the caller's own, about to be freed).
 */
export function causalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, s: AttentionShape, rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D }, o: { overwrite?: boolean } = {}): tf.Tensor2D {
  return hostAttentionApplies(s.headDim) ? hostCausalAttention(q, k, v, s, rope, o) : tfjsCausalAttention(q, k, v, s, rope);
}

/**
 * causalAttention as tfjs ops. Query heads are grouped by the key/value head they share, which lets
 * one reshape do GQA without copying k and v per query head.
 * Each (window, kv head) pair runs as its own 2-D matMul: tfjs-wasm sends 2-D products to XNNPACK
 * but runs batched ones (rank > 2) in a naive kernel. On the reference model's shapes (8 windows ×
 * 256 tokens, 8 heads, 4 kv heads) the attention is 3–4× faster so, and SVD-LLM's forward passes
 * in bench/compress.ts went from 17.9 to 8.4 s.
 */
export function tfjsCausalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, s: AttentionShape, rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D }): tf.Tensor2D {
  return tf.tidy(() => {
    const { batch: B, seqLen: T, heads, kvHeads, headDim: hd } = s;
    const group = heads / kvHeads;
    const split = (x: tf.Tensor2D, h: number) => tf.transpose(tf.reshape(x, [B, T, h, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    // Each operand's transposes, rotation and splits in a tidy of their own, and every pair's
    // slices and output disposed once used: the attention's intermediates are not all resident at
    // once (at width 512, 8 windows × 256 tokens: about 16 MB at a time instead of 40). Under a
    // gradient tape dispose is safe: the tape keeps its own references to what it saved.
    const qs = tf.tidy(() => {
      const qh = split(q, heads);
      return pairs(tf.reshape(rope ? applyRope(qh, rope.cos, rope.sin) : qh, [B, kvHeads, group * T, hd]) as tf.Tensor4D);
    });
    // Explicit transpose of k: wasm's matMul with transposeB is far slower (see linear.ts).
    const ks = tf.tidy(() => {
      const kh = split(k, kvHeads);
      return pairs(tf.transpose(rope ? applyRope(kh, rope.cos, rope.sin) : kh, [0, 1, 3, 2]));
    });
    const vs = tf.tidy(() => pairs(split(v, kvHeads)));
    const mask = tf.tensor2d(maskData(T), [T, T]);
    const scale = 1 / Math.sqrt(hd);
    // One tidy per pair: its scores and probabilities are freed before the next pair's are made.
    // The pair's group query heads are stacked along rows; the mask broadcasts over them.
    const outs = qs.map((qi, i) => {
      const o = tf.tidy(() => {
        const scores = tf.add(tf.reshape(tf.mul(tf.matMul(qi, ks[i]), scale), [group, T, T]), mask);
        return tf.matMul(tf.reshape(tf.softmax(scores), [group * T, T]) as tf.Tensor2D, vs[i]);
      });
      tf.dispose([qi, ks[i], vs[i]]);
      return o;
    });
    const out = tf.tidy(() => tf.transpose(tf.reshape(tf.stack(outs), [B, heads, T, hd]), [0, 2, 1, 3]));
    tf.dispose(outs);
    return tf.reshape(out, [B * T, heads * hd]) as tf.Tensor2D;
  });
}
