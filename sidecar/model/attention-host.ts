// Causal attention on the host for the passes that take no gradient (compression's calibration
// passes, evaluation) on the backends whose tensors live in this process (wasm, cpu): one
// WebAssembly SIMD kernel a (window, head) (attention-kernel.wat, embedded as base64 in
// ATTENTION_KERNEL_WASM) does the scores on the causal triangle only, the softmax and the product
// with the values; rope and 1/√hd are applied first to the kernel's copies of q and k. As tfjs ops
// the attention was a third of a layer's forward on the reference model (24 of 62 ms for 8 windows
// × 256 tokens: the scores' scale and mask, the softmax, 32 small products a side, the rotations
// and the stacking). The windows are shared with a helper thread (attention-helper.ts) when the
// window length is a multiple of 4. The kernel's memory holds q, k, v and the output of the batch
// (6 MB for that batch) and stays with the thread, at the largest size asked for.
import * as tf from '@tensorflow/tfjs-core';
import { growingKernel } from '../linalg/wasm-kernel';
import { eachWindow } from './attention-helper';
import { floatTensor, readFloats } from '../tensor/host-data';
import type { AttentionShape } from './attention';

declare const ATTENTION_KERNEL_WASM: string;

interface Kernel {
  rope(x: number, rows: number, heads: number, dp: number, T: number, cos: number, sin: number, mul: number): void;
  scale(x: number, count: number, mul: number): void;
  transpose(k: number, ldk: number, rows: number, dp: number, kt: number, tp: number): void;
  scores(q: number, ldq: number, kt: number, s: number, rows: number, tp: number, dp: number): void;
  softmax(s: number, rows: number, tp: number, z: number): void;
  values(s: number, v: number, ldv: number, o: number, ldo: number, z: number, rows: number, tp: number, dp: number): void;
  /** Window b, every head (the .wat's `window`): q, k, v, o, ldq, ldk, T, R, tp, dp, heads, kvHeads, kt, s, z. */
  window(b: number, ...args: number[]): void;
}

const load = growingKernel<Kernel>(ATTENTION_KERNEL_WASM, { shared: true });

const roundUp = (x: number, k: number) => Math.ceil(x / k) * k;

/** Whether causalAttention runs here: no gradient is being recorded, the tensors' data is this
 *  process's memory (on tfjs-node it stays with TensorFlow's kernels, maybe on a GPU), and the head
 *  dimension is a multiple of 8 (the kernel's column blocks; every Llama-like model's is). */
export function hostAttentionApplies(headDim: number): boolean {
  const backend = tf.getBackend();
  return headDim % 8 === 0 && (backend === 'wasm' || backend === 'cpu') && !tf.engine().isTapeOn();
}

/**
 * causalAttention's result (attention.ts) computed by the host kernel. q, k and v are copied into
 * the kernel's memory as they are (rows of all heads); rope (and 1/√hd for q) is applied there in
 * place, and each (window, head) reads its rows in place: a window's last block of four rows may
 * run into the next window's rows (or, for the last window, zeroed rows past the end), whose scores
 * and outputs are discarded or overwritten, and whose probabilities for the real rows are 0.
 */
export function hostCausalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, s: AttentionShape, rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D }): tf.Tensor2D {
  const { batch: B, seqLen: T, heads, kvHeads, headDim: D } = s;
  const R = roundUp(T, 4);
  const TP = roundUp(R, 8);
  const qw = heads * D;
  const kw = kvHeads * D;
  const slack = R - T;
  // Offsets in floats, each array 16-byte aligned: q, k, v and the output as whole tensors (q, v and
  // the output with slack rows), cos and sin (T × D), and for each of the two threads one key head
  // transposed (D × TP), one head's scores (R × TP) and 1/Σ (R).
  let end = 0;
  const take = (n: number) => {
    const at = end;
    end += roundUp(n, 4);
    return at;
  };
  const at = {
    q: take((B * T + slack) * qw), k: take(B * T * kw), v: take((B * T + slack) * kw), o: take((B * T + slack) * qw),
    cos: take(T * D), sin: take(T * D),
  };
  const scratch = [0, 1].map(() => ({ kt: take(D * TP), s: take(R * TP), z: take(R) }));
  const { exports: kernel, buffer, memory, module } = load(4 * end);
  const mem = new Float32Array(buffer, 0, end);
  // The slack rows and the transposed heads' padding columns are read, so they must be finite:
  // zero. Everything else read is written first.
  mem.fill(0, at.q + B * T * qw, at.q + (B * T + slack) * qw);
  mem.fill(0, at.v + B * T * kw, at.v + (B * T + slack) * kw);
  for (const { kt } of scratch) mem.fill(0, kt, kt + D * TP);
  readFloats(q, mem, at.q);
  readFloats(k, mem, at.k);
  readFloats(v, mem, at.v);
  const scale = 1 / Math.sqrt(D);
  if (rope) {
    readFloats(rope.cos, mem, at.cos);
    readFloats(rope.sin, mem, at.sin);
    kernel.rope(4 * at.q, B * T, heads, D, T, 4 * at.cos, 4 * at.sin, scale);
    kernel.rope(4 * at.k, B * T, kvHeads, D, T, 4 * at.cos, 4 * at.sin, 1);
  } else {
    kernel.scale(4 * at.q, B * T * qw, scale);
  }
  const args = ({ kt, s: sc, z }: (typeof scratch)[number]) =>
    [4 * at.q, 4 * at.k, 4 * at.v, 4 * at.o, 4 * qw, 4 * kw, T, R, TP, D, heads, kvHeads, 4 * kt, 4 * sc, 4 * z];
  // A window's last block of four rows writes into the next window's first rows when T is not a
  // multiple of 4 (the next window then overwrites them): such windows run in order, here.
  if (slack) for (let b = 0; b < B; b++) kernel.window(b, ...args(scratch[0]));
  else eachWindow(B, module, memory, kernel.window, args(scratch[0]), args(scratch[1]));
  return floatTensor(mem.subarray(at.o, at.o + B * T * qw), [B * T, qw]) as tf.Tensor2D;
}
