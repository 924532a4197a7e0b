// Block Influence (ShortGPT; METHODS.md "Layer removal"): BI = 1 − mean over tokens of
// cos(h_in, h_out), from a layer's input and output hidden states, summed in float64 across batches.
import * as tf from '@tensorflow/tfjs-core';

export class BlockInfluence {
  private cosSum = 0;
  private count = 0;

  get tokens(): number {
    return this.count;
  }

  /** Adds one batch of states before and after the layer ([B, T, hidden] or [tokens, hidden]). */
  add(hIn: tf.Tensor, hOut: tf.Tensor): void {
    if (hIn.shape.join() !== hOut.shape.join()) throw new Error(`block influence: shapes ${hIn.shape} and ${hOut.shape} differ`);
    const H = hIn.shape[hIn.shape.length - 1];
    const s = tf.tidy(() => {
      const a = tf.reshape(hIn, [-1, H]);
      const b = tf.reshape(hOut, [-1, H]);
      const dot = tf.sum(tf.mul(a, b), -1);
      const norms = tf.mul(tf.norm(a, 'euclidean', -1), tf.norm(b, 'euclidean', -1));
      // A zero state has no direction: count it as unchanged (cos 1) rather than NaN.
      return tf.sum(tf.where(tf.greater(norms, 0), tf.div(dot, tf.maximum(norms, 1e-30)), tf.onesLike(dot)));
    });
    this.cosSum += s.dataSync()[0];
    s.dispose();
    this.count += hIn.size / H;
  }

  /** Mean cosine similarity between input and output states. */
  meanCos(): number {
    if (this.count === 0) throw new Error('block influence: no states were added');
    return this.cosSum / this.count;
  }

  value(): number {
    return 1 - this.meanCos();
  }
}
