// The two normalisations of the supported families, as pure tfjs ops on [tokens, hidden]; RMSNorm
// also by a kernel of ours (rmsnorm-kernel.wat, embedded as base64 in RMSNORM_KERNEL_WASM) on
// tfjs-wasm's heap where no gradient is taken (compression's calibration passes, evaluation): one
// pass over the rows, where tfjs's six ops took 0.42–0.64 ms wall (0.53–0.90 ms CPU on two threads)
// for 2048 rows of 256 against 0.19 (a throwaway probe; 88 norms a compression of the reference
// model). A SwiGLU gate in the same way took 2.2 ms against tfjs's 1.1–1.4 (on two threads): not kept.
import * as tf from '@tensorflow/tfjs-core';
import { heapKernel } from '../tensor/heap-kernel';
import type { KernelBinary } from '../linalg/wasm-kernel';

declare const RMSNORM_KERNEL_WASM: KernelBinary;

const kernel = heapKernel<{ rmsnorm(x: number, w: number, out: number, rows: number, cols: number, eps: number): void }>(RMSNORM_KERNEL_WASM);

/** RMSNorm by the kernel, or undefined where it does not apply: under a gradient tape, off the
 *  threaded wasm backend, or for widths that are not a multiple of 4. */
export function hostRmsNorm(x: tf.Tensor2D, w: tf.Tensor, eps: number): tf.Tensor2D | undefined {
  const [rows, cols] = x.shape;
  const applies = cols % 4 === 0 && w.size === cols && x.dtype === 'float32' && w.dtype === 'float32' && !tf.engine().isTapeOn();
  const k = applies ? kernel() : undefined;
  if (!k) return undefined;
  const out = k.output([rows, cols]) as tf.Tensor2D;
  k.exports.rmsnorm(k.at(x), k.at(w), k.at(out), rows, cols, eps);
  return out;
}

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
