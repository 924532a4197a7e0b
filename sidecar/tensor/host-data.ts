// A float32 tensor's data copied to or from host memory in one copy. On the wasm backend the data
// lies in the WebAssembly heap: dataSync would first copy it into a new buffer (tfjs-wasm's
// readSync slices the heap), and tf.tensor(values) keeps the values in JavaScript until first use;
// here the heap is read and written in place. Other backends go through dataSync and tf.tensor.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The wasm backend, when it is the current one. */
export const wasmBackend = (): BackendWasm | undefined => (tf.getBackend() === 'wasm' ? (tf.backend() as BackendWasm) : undefined);

/** A new float32 tensor of this shape in the wasm heap, not initialised: the caller writes it. */
export const heapOutput = (backend: BackendWasm, shape: number[]): tf.Tensor =>
  tf.engine().makeTensorFromTensorInfo(backend.makeOutput(shape, 'float32'), backend);

/** The wasm backend's whole heap as bytes: a view replaced whenever the heap grows, so take it
 *  after the allocations it must see. */
export const heapBytes = (backend: BackendWasm): Uint8Array => (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;

/** The heap's floats of a wasm tensor (a view: valid until the heap next grows). */
function heapFloats(backend: BackendWasm, dataId: object, length: number): Float32Array {
  const heap = heapBytes(backend);
  return new Float32Array(heap.buffer, heap.byteOffset + backend.getMemoryOffset(dataId), length);
}

/** t's values (t float32) without a copy where they lie in the wasm heap: a view that is valid
 *  only until the next tfjs operation (which may grow the heap, or reuse t's memory once t is
 *  disposed); read it at once. Elsewhere dataSync's array. */
export function floatsNow(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`host data: a ${t.dtype} tensor, not float32`);
  const backend = wasmBackend();
  return backend ? heapFloats(backend, t.dataId, t.size) : (t.dataSync() as Float32Array);
}

/** dst[offset..] = t's values (t float32). */
export function readFloats(t: tf.Tensor, dst: Float32Array, offset = 0): void {
  dst.set(floatsNow(t), offset);
}

/**
 * A new float32 tensor of this shape, its values written by fill, which may take its time (a file
 * read). On the wasm backend with a shared heap (the threaded build) fill writes the tensor's own
 * heap memory: a shared memory grows in place, so the view stays valid while other ops run. No
 * host copy is made, nor left for the collector. Elsewhere fill writes a host array that becomes
 * the tensor. If fill fails the tensor is disposed.
 */
export async function filledTensor(shape: number[], fill: (dst: Float32Array) => Promise<void>): Promise<tf.Tensor> {
  const size = shape.reduce((a, b) => a * b, 1);
  const backend = wasmBackend();
  if (!backend || !(heapBytes(backend).buffer instanceof SharedArrayBuffer)) {
    const values = new Float32Array(size);
    await fill(values);
    return tf.tensor(values, shape, 'float32');
  }
  const t = heapOutput(backend, shape);
  try {
    await fill(heapFloats(backend, t.dataId, size));
    return t;
  } catch (e) {
    t.dispose();
    throw e;
  }
}

/** A new float32 tensor of this shape holding src's values. */
export function floatTensor(src: Float32Array, shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (src.length !== size) throw new Error(`floatTensor: ${src.length} values for shape [${shape.join(', ')}]`);
  const backend = wasmBackend();
  if (!backend) return tf.tensor(src.slice(), shape, 'float32');
  const t = heapOutput(backend, shape);
  heapFloats(backend, t.dataId, size).set(src);
  return t;
}
