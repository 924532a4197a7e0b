// The next-token NLL of a chunk of logit rows by a kernel of ours (lse-kernel.wat, embedded as base64
// in LSE_KERNEL_WASM) on tfjs-wasm's heap where no gradient is taken (evaluation): one pass for each
// row's maximum and one for Σ e^(x − max), read where the logits lie, the sum and the NLL in float64.
// tfjs's logSumExp over 1024 rows of the reference model's 32k vocabulary took 0.52–0.56 s, about as
// long as their product by the head (bench/forward.ts measures the whole evaluation).
import * as tf from '@tensorflow/tfjs-core';
import { heapKernel } from '../tensor/heap-kernel';
import type { KernelBinary } from '../linalg/wasm-kernel';
import { floatsNow } from '../tensor/host-data';

declare const LSE_KERNEL_WASM: KernelBinary;

const kernel = heapKernel<{ maxsum(x: number, rows: number, cols: number, out: number): void }>(LSE_KERNEL_WASM);

/** Σ_r (log Σ_j e^logits[r, j] − logits[r, targets[r]]) by the kernel, or undefined where it does
 *  not apply: under a gradient tape, or off the threaded wasm backend. */
export function hostNllSum(logits: tf.Tensor2D, targets: Int32Array): number | undefined {
  const [rows, cols] = logits.shape;
  if (targets.length !== rows) throw new Error(`nll: ${targets.length} targets for ${rows} rows of logits`);
  const k = logits.dtype === 'float32' && !tf.engine().isTapeOn() ? kernel() : undefined;
  if (!k) return undefined;
  // Two float64 a row: the maximum and the sum.
  const stats = k.output([rows, 4]);
  try {
    const at = k.at(stats);
    if (at % 8) throw new Error(`nll: the heap placed a float64 output at byte ${at}`);
    k.exports.maxsum(k.at(logits), rows, cols, at);
    const ms = new Float64Array(k.memory.buffer, at, 2 * rows);
    const x = floatsNow(logits);
    let sum = 0;
    for (let r = 0; r < rows; r++) sum += ms[2 * r] + Math.log(ms[2 * r + 1]) - x[r * cols + targets[r]];
    return sum;
  } finally {
    stats.dispose();
  }
}
