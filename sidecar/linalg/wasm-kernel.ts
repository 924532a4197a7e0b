// The WebAssembly kernels (gemm-, gemv-, gram-kernel.wat), assembled by scripts/build.mjs and
// embedded as base64: each compiled once per thread, and the ones that own their memory given one
// per thread that grows to the largest size asked for (and never shrinks).

/** The module of an embedded kernel, compiled on first use in this thread. */
export function compiled(base64: string): () => WebAssembly.Module {
  let module: WebAssembly.Module | undefined;
  return () => (module ??= new WebAssembly.Module(Buffer.from(base64, 'base64')));
}

/** A kernel on its own memory: the exports, the memory and its buffer, with at least `bytes` (the
 *  buffer is a new one only after growing, which detaches the old unless the memory is shared). A
 *  shared memory (the module must import one) can be instantiated on by other threads too. */
export function growingKernel<E>(base64: string, o: { shared?: boolean } = {}): (bytes: number) => GrowingKernel<E> {
  const module = compiled(base64);
  let memory: WebAssembly.Memory | undefined;
  let exports: E | undefined;
  return (bytes) => {
    if (!memory || !exports) {
      memory = new WebAssembly.Memory(o.shared ? { initial: 1, maximum: 65536, shared: true } : { initial: 1 });
      exports = new WebAssembly.Instance(module(), { env: { memory } }).exports as E;
    }
    const pages = Math.ceil(bytes / 65536);
    if (memory.buffer.byteLength < pages * 65536) memory.grow(pages - memory.buffer.byteLength / 65536);
    return { exports, buffer: memory.buffer, memory, module: module() };
  };
}

export interface GrowingKernel<E> { exports: E; buffer: ArrayBuffer; memory: WebAssembly.Memory; module: WebAssembly.Module }
