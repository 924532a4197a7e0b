// Causal attention on the host for the passes that take no gradient (compression's calibration
// passes, evaluation) on the backends whose tensors live in this process (wasm, cpu): one
// WebAssembly SIMD kernel a (window, head) (attention-kernel.wat, embedded as base64 in
// ATTENTION_KERNEL_WASM) does the scores on the causal triangle only, the softmax and the product
// with the values; rope and 1/√hd are applied to q and k first. As tfjs ops
// the attention was a third of a layer's forward on the reference model (24 of 62 ms for 8 windows
// × 256 tokens: the scores' scale and mask, the softmax, 32 small products a side, the rotations
// and the stacking). The windows are shared with a helper thread (kernel-helper.ts) when the
// window length is a multiple of 4.
// Where tfjs-wasm's heap is a shared memory (the threaded build), the kernel runs on it: a caller
// that lets q and k be overwritten (the forward pass, whose q and k die with the attention) has
// rope applied to them where they lie, and the kernel reads q, k and v and writes the output
// tensor in place; its other arrays are a small scratch tensor. Other calls there copy q, k and v
// into a scratch tensor of their own. Without a shared heap (the cpu backend, tfjs's
// single-threaded build) they are copied into the kernel's own memory, which stays resident at its
// largest size (12.8 MiB at width 512 for 8 windows × 256 tokens, when every call made it).
import * as tf from '@tensorflow/tfjs-core';
import { growingKernel, type KernelBinary } from '../linalg/wasm-kernel';
import { eachWindow } from './kernel-helper';
import { floatTensor, readFloats } from '../tensor/host-data';
import { heapKernel } from '../tensor/heap-kernel';
import type { AttentionShape } from './attention';

declare const ATTENTION_KERNEL_WASM: KernelBinary;

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

const onHeap = heapKernel<Kernel>(ATTENTION_KERNEL_WASM);
const load = growingKernel<Kernel>(ATTENTION_KERNEL_WASM, { shared: true });

let ownBytes = 0;
/** Bytes of the kernel's own memory in this thread (0 while every call ran in tfjs's heap). */
export const ownMemoryBytes = (): number => ownBytes;

const roundUp = (x: number, k: number) => Math.ceil(x / k) * k;

/** Whether causalAttention runs here: no gradient is being recorded, the tensors' data is this
 *  process's memory (on tfjs-node it stays with TensorFlow's kernels, maybe on a GPU), and the head
 *  dimension is a multiple of 8 (the kernel's column blocks; every Llama-like model's is). */
export function hostAttentionApplies(headDim: number): boolean {
  const backend = tf.getBackend();
  return headDim % 8 === 0 && (backend === 'wasm' || backend === 'cpu') && !tf.engine().isTapeOn();
}

/**
 * causalAttention's result (attention.ts) computed by the host kernel. With `overwrite` (q and k are
 * the caller's to spoil) on a shared heap, and a window length that is a multiple of 4, rope (and
 * 1/√hd for q) is applied to q and k in place and the kernel reads q, k, v and writes the output
 * where they lie. Otherwise q, k and v are copied into the kernel's memory as they are (rows of all
 * heads) and the same is done there: a window's last block of four rows may run into the next
 * window's rows (or, for the last window, zeroed rows past the end), whose scores and outputs are
 * discarded or overwritten, and whose probabilities for the real rows are 0.
 */
export function hostCausalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, s: AttentionShape, rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D }, o: { overwrite?: boolean } = {}): tf.Tensor2D {
  const { batch: B, seqLen: T, heads, kvHeads, headDim: D } = s;
  const R = roundUp(T, 4);
  const TP = roundUp(R, 8);
  const qw = heads * D;
  const kw = kvHeads * D;
  const slack = R - T;
  const heap = onHeap();
  const inPlace = heap !== undefined && o.overwrite === true && slack === 0;
  // Offsets in floats, each array 16-byte aligned: unless in place, q, k, v and the output as whole
  // tensors (q, v and the output with slack rows); cos and sin (T × D); and for each of the two
  // threads one key head transposed (D × TP), one head's scores (R × TP) and 1/Σ (R).
  let end = 0;
  const take = (n: number) => {
    const at = end;
    end += roundUp(n, 4);
    return at;
  };
  const copied = inPlace ? undefined : { q: take((B * T + slack) * qw), k: take(B * T * kw), v: take((B * T + slack) * kw), o: take((B * T + slack) * qw) };
  const tables = { cos: take(T * D), sin: take(T * D) };
  const scratch = [0, 1].map(() => ({ kt: take(D * TP), s: take(R * TP), z: take(R) }));
  // The kernel, its memory, and the byte offset there of float 0 of `mem` (the arrays above).
  let kernel: Kernel, memory: WebAssembly.Memory, module: WebAssembly.Module, base: number, release = () => {};
  if (heap) {
    const work = heap.output([end]);
    release = () => work.dispose();
    ({ exports: kernel, memory, module } = heap);
    base = heap.at(work);
  } else {
    let buffer: ArrayBuffer;
    ({ exports: kernel, buffer, memory, module } = load(4 * end));
    ownBytes = buffer.byteLength;
    base = 0;
  }
  let out: tf.Tensor2D | undefined;
  try {
    const mem = new Float32Array(memory.buffer, base, end);
    const b = (floats: number) => base + 4 * floats;
    let at: { q: number; k: number; v: number; o: number };
    if (copied) {
      // The slack rows are read, so they must be finite: zero. Everything else read is written first.
      mem.fill(0, copied.q + B * T * qw, copied.q + (B * T + slack) * qw);
      mem.fill(0, copied.v + B * T * kw, copied.v + (B * T + slack) * kw);
      readFloats(q, mem, copied.q);
      readFloats(k, mem, copied.k);
      readFloats(v, mem, copied.v);
      at = { q: b(copied.q), k: b(copied.k), v: b(copied.v), o: b(copied.o) };
    } else {
      out = heap!.output([B * T, qw]) as tf.Tensor2D;
      at = { q: heap!.at(q), k: heap!.at(k), v: heap!.at(v), o: heap!.at(out) };
    }
    // The transposed heads' padding columns are read: zero.
    for (const { kt } of scratch) mem.fill(0, kt, kt + D * TP);
    const scale = 1 / Math.sqrt(D);
    if (rope) {
      readFloats(rope.cos, mem, tables.cos);
      readFloats(rope.sin, mem, tables.sin);
      kernel.rope(at.q, B * T, heads, D, T, b(tables.cos), b(tables.sin), scale);
      kernel.rope(at.k, B * T, kvHeads, D, T, b(tables.cos), b(tables.sin), 1);
    } else {
      kernel.scale(at.q, B * T * qw, scale);
    }
    const args = ({ kt, s: sc, z }: (typeof scratch)[number]) =>
      [at.q, at.k, at.v, at.o, 4 * qw, 4 * kw, T, R, TP, D, heads, kvHeads, b(kt), b(sc), b(z)];
    // A window's last block of four rows writes into the next window's first rows when T is not a
    // multiple of 4 (the next window then overwrites them): such windows run in order, here.
    if (slack) for (let w = 0; w < B; w++) kernel.window(w, ...args(scratch[0]));
    else eachWindow(B, module, memory, kernel.window, args(scratch[0]), args(scratch[1]));
    return out ?? floatTensor(mem.subarray(copied!.o, copied!.o + B * T * qw), [B * T, qw]) as tf.Tensor2D;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    release();
  }
}
