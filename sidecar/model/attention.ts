// Causal multi-head self-attention with grouped key/value heads (GQA), as pure tfjs ops.
import * as tf from '@tensorflow/tfjs-core';
import { applyRope } from './rope';

export interface AttentionShape { batch: number; seqLen: number; heads: number; kvHeads: number; headDim: number }

/** [T, T] additive mask: 0 on and below the diagonal, −1e9 above (a finite value keeps softmax NaN-free). */
export function causalMask(T: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9) as tf.Tensor2D);
}

/**
 * q [B·T, heads·hd], k and v [B·T, kvHeads·hd] → [B·T, heads·hd]. Query heads are grouped by the
 * key/value head they share (head h uses kv head ⌊h / group⌋, as repeat_kv in transformers), which
 * lets one reshape do GQA without copying k and v per query head.
 */
export function causalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, s: AttentionShape, rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D }): tf.Tensor2D {
  return tf.tidy(() => {
    const { batch: B, seqLen: T, heads, kvHeads, headDim: hd } = s;
    const group = heads / kvHeads;
    const split = (x: tf.Tensor2D, h: number) => tf.transpose(tf.reshape(x, [B, T, h, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    let qh = split(q, heads);
    let kh = split(k, kvHeads);
    const vh = split(v, kvHeads);
    if (rope) {
      qh = applyRope(qh, rope.cos, rope.sin);
      kh = applyRope(kh, rope.cos, rope.sin);
    }
    // Explicit transpose of k: wasm's batched matMul with transposeB is far slower (see linear.ts).
    const kT = tf.transpose(kh, [0, 1, 3, 2]);
    const scores = tf.reshape(tf.matMul(tf.reshape(qh, [B, kvHeads, group * T, hd]), kT), [B, heads, T, T]);
    const probs = tf.softmax(tf.add(tf.mul(scores, 1 / Math.sqrt(hd)), causalMask(T)), -1);
    const out = tf.reshape(tf.matMul(tf.reshape(probs, [B, kvHeads, group * T, T]), vh), [B, heads, T, hd]);
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B * T, heads * hd]) as tf.Tensor2D;
  });
}
