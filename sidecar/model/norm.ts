// The two normalisations of the supported families, as pure tfjs ops on [tokens, hidden].
import * as tf from '@tensorflow/tfjs-core';
import { hostRmsNorm } from './pointwise-host';

/** Llama RMSNorm: x / sqrt(mean(x²) + eps) · w (in one pass on the host where no gradient is taken). */
export function rmsNorm(x: tf.Tensor2D, w: tf.Tensor, eps: number): tf.Tensor2D {
  return hostRmsNorm(x, w, eps) ?? tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w) as tf.Tensor2D);
}

/** GPT-2 LayerNorm with the biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), w), b) as tf.Tensor2D;
  });
}
