// Mean absolute value of each input channel over the calibration tokens (ASVD's activation scale),
// summed in float64 across batches.
import * as tf from '@tensorflow/tfjs-core';

export class MeanAbsCollector {
  private readonly sum: Float64Array;
  private count = 0;

  constructor(readonly dim: number) {
    this.sum = new Float64Array(dim);
  }

  get tokens(): number {
    return this.count;
  }

  /** Adds x [tokens, dim]. Synchronous, so it can run inside a layer hook (tf.tidy). */
  add(x: tf.Tensor2D): void {
    if (x.shape[1] !== this.dim) throw new Error(`mean-abs collector of dimension ${this.dim} given inputs of ${x.shape[1]}`);
    const s = tf.tidy(() => tf.sum(tf.abs(x), 0));
    const v = s.dataSync();
    s.dispose();
    for (let i = 0; i < this.dim; i++) this.sum[i] += v[i];
    this.count += x.shape[0];
  }

  /** Per-channel mean of |x|. */
  result(): Float64Array {
    if (this.count === 0) throw new Error('mean-abs collector: no inputs were added');
    return this.sum.map((s) => s / this.count);
  }
}
