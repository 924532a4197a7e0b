// A row-wise function of a tensor computed over pieces of its rows, each piece's output copied into
// one output tensor as soon as it is made, so that the function's intermediates are a piece's size
// rather than the whole input's. The MLP's are a layer's largest tensors ([rows, intermediate],
// three at once): at width 512 (intermediate 1376) a calibration batch's were 11 MiB each, and
// tfjs-wasm's heap, which never shrinks, grew to hold them (bench/scaling, model/layer.ts).
import * as tf from '@tensorflow/tfjs-core';
import { heapBytes, heapOutput, wasmBackend } from './host-data';

/**
 * f(x) for an f whose output row i depends on row i of x alone, computed on pieces of at most
 * maxRows rows (as few as can be, all of one size but the last) into one float32 tensor in
 * tfjs-wasm's heap. f(x) in one piece where x has no more rows than that, off the wasm backend, or
 * under a gradient tape (the copies have no gradient).
 */
export function inRowPieces(x: tf.Tensor2D, maxRows: number, f: (rows: tf.Tensor2D) => tf.Tensor2D): tf.Tensor2D {
  const rows = x.shape[0];
  const backend = wasmBackend();
  if (rows <= maxRows || !backend || tf.engine().isTapeOn()) return f(x);
  const size = Math.ceil(rows / Math.ceil(rows / maxRows));
  let out: tf.Tensor2D | undefined;
  try {
    for (let r0 = 0; r0 < rows; r0 += size) {
      const n = Math.min(size, rows - r0);
      const part = tf.tidy(() => f(tf.slice(x, [r0, 0], [n, -1])));
      const width = part.shape[1];
      try {
        if (part.dtype !== 'float32' || part.shape[0] !== n || (out && width !== out.shape[1])) throw new Error(`inRowPieces: a piece of ${n} rows gave a ${part.dtype} [${part.shape.join(', ')}]`);
        out ??= heapOutput(backend, [rows, width]) as tf.Tensor2D;
        // The heap's view is taken after every allocation: growing the heap replaces its buffer.
        const heap = heapBytes(backend);
        const from = backend.getMemoryOffset(part.dataId);
        heap.copyWithin(backend.getMemoryOffset(out.dataId) + 4 * r0 * width, from, from + 4 * n * width);
      } finally {
        part.dispose();
      }
    }
  } catch (e) {
    out?.dispose();
    throw e;
  }
  return out!;
}
