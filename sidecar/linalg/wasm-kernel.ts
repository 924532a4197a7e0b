// The WebAssembly kernels (gemm-, gemv-, gram-kernel.wat and the layer's), assembled by
// scripts/build.mjs and embedded as base64: each compiled once per thread, and the ones that own
// their memory given one per thread that grows to the largest size asked for (and never shrinks).
import { setFlagsFromString } from 'node:v8';

/** An embedded kernel: its binary as written, and for the product kernels a second one whose tiles
 *  multiply and add in one instruction (scripts/build.mjs `fused`: relaxed SIMD's relaxed_madd,
 *  which V8 compiles to an FMA where the CPU has one). */
export interface KernelBinary { plain: string; fused?: string }

/** (module (func (param v128 v128 v128) (result v128) (f32x4.relaxed_madd (local.get 0)
 *  (local.get 1) (local.get 2)))): valid where this V8 compiles relaxed SIMD. */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

let fused: boolean | undefined;

/**
 * Whether this process runs the fused kernels. The fused products are rounded once where the plain
 * ones round twice, so results differ in the last bits, and between CPUs with and without FMA:
 * RANKWISE_WASM_FMA=off keeps the plain ones everywhere. Node 20's V8 (11.3) compiles relaxed SIMD
 * behind a flag only (on by default from V8 11.4: Node 22, Electron 25); the flag is process-wide, so
 * every thread decides alike and a result does not depend on the thread that computed it.
 */
export function fusedKernels(): boolean {
  if (fused === undefined) {
    fused = process.env.RANKWISE_WASM_FMA !== 'off';
    if (fused && !WebAssembly.validate(RELAXED_SIMD_PROBE)) {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
      fused = WebAssembly.validate(RELAXED_SIMD_PROBE);
    }
  }
  return fused;
}

/** The module of an embedded kernel, compiled on first use in this thread: the fused binary where
 *  there is one and fusedKernels(). */
export function compiled(binary: KernelBinary): () => WebAssembly.Module {
  let module: WebAssembly.Module | undefined;
  return () => (module ??= new WebAssembly.Module(Buffer.from(binary.fused && fusedKernels() ? binary.fused : binary.plain, 'base64')));
}

/** A kernel on its own memory: the exports, the memory and its buffer, with at least `bytes` (the
 *  buffer is a new one only after growing, which detaches the old unless the memory is shared). A
 *  shared memory (the module must import one) can be instantiated on by other threads too. */
export function growingKernel<E>(binary: KernelBinary, o: { shared?: boolean } = {}): (bytes: number) => GrowingKernel<E> {
  const module = compiled(binary);
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
