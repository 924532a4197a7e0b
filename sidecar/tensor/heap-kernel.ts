// A WebAssembly kernel instantiated on tfjs-wasm's own memory. The threaded build (wasm-threads.ts)
// shares it with its threads (Emscripten's Module.wasmMemory), so a kernel of ours can run on it too
// and read and write tensors where they lie, with no copy in or out. Elsewhere (tfjs's
// single-threaded build, other backends) there is none, and callers run tfjs's ops.
import type * as tf from '@tensorflow/tfjs-core';
import { compiled, type KernelBinary } from '../linalg/wasm-kernel';
import { heapOutput, wasmBackend } from './host-data';

export interface HeapKernel<E> {
  exports: E;
  /** tfjs's heap, and the kernel's module: for another thread to instantiate it on the heap too. */
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  /** t's byte offset in the heap (t on this backend). */
  at(t: tf.Tensor): number;
  /** A new float32 tensor of this shape, not initialised: the kernel writes it. */
  output(shape: number[]): tf.Tensor;
}

/** The embedded kernel on the wasm backend's heap, instantiated once per heap; undefined
 *  where the backend is another or its heap is not a shared memory. */
export function heapKernel<E>(binary: KernelBinary): () => HeapKernel<E> | undefined {
  const module = compiled(binary);
  let last: { memory: WebAssembly.Memory; kernel: HeapKernel<E> } | undefined;
  return () => {
    const backend = wasmBackend();
    const memory = (backend?.wasm as unknown as { wasmMemory?: WebAssembly.Memory } | undefined)?.wasmMemory;
    if (!backend || !memory || !(memory.buffer instanceof SharedArrayBuffer)) return undefined;
    if (last?.memory !== memory) {
      const exports = new WebAssembly.Instance(module(), { env: { memory } }).exports as E;
      last = {
        memory,
        kernel: {
          exports,
          memory,
          module: module(),
          at: (t) => backend.getMemoryOffset(t.dataId),
          output: (shape) => heapOutput(backend, shape),
        },
      };
    }
    return last.kernel;
  };
}
