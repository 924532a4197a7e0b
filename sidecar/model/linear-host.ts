// A projection's product y = x Wᵀ by a kernel of ours (linear-kernel.wat, embedded in
// LINEAR_KERNEL_WASM) on tfjs-wasm's heap, where no gradient is taken (compression's calibration
// passes, evaluation): x and W are read where they lie and y is written there, its column groups
// shared with a helper thread (kernel-helper.ts). tfjs-wasm runs its products on XNNPACK's
// multiply-then-add kernels, which WebAssembly's 128-bit SIMD limits to about 20 GFLOP/s a thread
// here; ours fuses each multiply-add (relaxed SIMD, an FMA instruction) where V8 compiles it
// (wasm-kernel.ts), and runs the same tiles plain elsewhere.
import * as tf from '@tensorflow/tfjs-core';
import { heapKernel } from '../tensor/heap-kernel';
import type { KernelBinary } from '../linalg/wasm-kernel';
import { eachWindow } from './kernel-helper';

declare const LINEAR_KERNEL_WASM: KernelBinary;

type Window = (b: number, x: number, w: number, y: number, m: number, n: number, k: number, scratch: number) => void;

const kernel = heapKernel<{ window: Window }>(LINEAR_KERNEL_WASM);

/** y's columns a window computes (the kernel's, 8 panels of 8). */
const COLUMNS = 64;

/** Whether the kernel can run here at all (the threaded wasm backend's shared heap). */
export const hostLinearAvailable = (): boolean => kernel() !== undefined;

/** x Wᵀ for x [m, k] and W [n, k], or undefined where the kernel does not apply: under a gradient
 *  tape, off the threaded wasm backend, or m not a multiple of 4 (the tiles' rows). */
export function hostMatMulT(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D | undefined {
  const [m, k] = x.shape;
  const [n, kw] = w.shape;
  if (kw !== k) throw new Error(`linear: ${m}×${k} inputs for ${n}×${kw} weights`);
  if (m % 4 || x.dtype !== 'float32' || w.dtype !== 'float32' || tf.engine().isTapeOn()) return undefined;
  const heap = kernel();
  if (!heap || m === 0 || n === 0 || k === 0) return undefined;
  // Each thread's packed panels: COLUMNS × k floats.
  const scratch = heap.output([2, COLUMNS * k]);
  const y = heap.output([m, n]) as tf.Tensor2D;
  try {
    const at = heap.at(scratch);
    const args = (s: number) => [heap.at(x), heap.at(w), heap.at(y), m, n, k, at + 4 * s * COLUMNS * k];
    eachWindow(Math.ceil(n / COLUMNS), heap.module, heap.memory, heap.exports.window, args(0), args(1));
    return y;
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    scratch.dispose();
  }
}
