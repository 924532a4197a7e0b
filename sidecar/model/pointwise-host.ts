// RMSNorm and SwiGLU's gate by the pointwise kernel (pointwise-kernel.wat, embedded as base64 in
// POINTWISE_KERNEL_WASM) on tfjs-wasm's heap, for the passes that take no gradient (compression's
// calibration passes, evaluation): one pass over the tensors each, where tfjs runs six and three
// ops with a temporary each (0.67 and 1.3 ms for a batch of 2048 rows of 256 and of 688 on the
// wasm backend, a throwaway probe; a compression of the reference model runs 44 such batches).
// Under a gradient tape, on other backends, or for widths that are not a multiple of 4, callers run
// tfjs's ops (norm.ts, layer.ts).
import * as tf from '@tensorflow/tfjs-core';
import { heapKernel } from '../tensor/heap-kernel';

declare const POINTWISE_KERNEL_WASM: string;

interface Kernel {
  rmsnorm(x: number, w: number, out: number, rows: number, cols: number, eps: number): void;
  swiglu(g: number, u: number, out: number, n: number): void;
}

const load = heapKernel<Kernel>(POINTWISE_KERNEL_WASM);

/** The kernel, where no gradient is being recorded and the backend's heap can take it. */
const kernel = () => (tf.engine().isTapeOn() ? undefined : load());

/** Whether hostSwiGlu runs for rows of `width` (the caller then need not keep tfjs's order of ops). */
export const hostSwiGluApplies = (width: number): boolean => width % 4 === 0 && kernel() !== undefined;

/** x / √(mean(x²) + eps) · w row by row, or undefined where the kernel does not apply. */
export function hostRmsNorm(x: tf.Tensor2D, w: tf.Tensor, eps: number): tf.Tensor2D | undefined {
  const [rows, cols] = x.shape;
  const k = cols % 4 === 0 && w.size === cols && x.dtype === 'float32' && w.dtype === 'float32' ? kernel() : undefined;
  if (!k) return undefined;
  const out = k.output([rows, cols]) as tf.Tensor2D;
  k.exports.rmsnorm(k.at(x), k.at(w), k.at(out), rows, cols, eps);
  return out;
}

/** g · σ(g) · u (SwiGLU's gated product; g and u of one shape, float32), where hostSwiGluApplies. */
export function hostSwiGlu(g: tf.Tensor2D, u: tf.Tensor2D): tf.Tensor2D {
  const k = kernel();
  if (!k || g.dtype !== 'float32' || u.dtype !== 'float32' || g.size !== u.size || g.size % 4) throw new Error('hostSwiGlu: the kernel does not apply here');
  const out = k.output(g.shape) as tf.Tensor2D;
  k.exports.swiglu(k.at(g), k.at(u), k.at(out), g.size);
  return out;
}
