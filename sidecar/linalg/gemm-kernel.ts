// Loads the product kernel (gemm-kernel.wat, compiled to WebAssembly by scripts/build.mjs and embedded
// as base64 in GEMM_KERNEL_WASM) once per thread, with a memory that grows to the largest panels asked for.
declare const GEMM_KERNEL_WASM: string;

type Panel = (ap: number, bp: number, cp: number, m4: number, n4: number, kl: number) => void;

export interface GemmKernel {
  /** A view of the kernel's memory; offsets into it, times 8, are the kernel's byte offsets. */
  f64: Float64Array;
  panel: Panel;
}

let memory: WebAssembly.Memory | undefined;
let kernel: GemmKernel | undefined;

/** The kernel, with room for at least `doubles` doubles (a new view only after growing, which
 *  detaches the old one). */
export function gemmKernel(doubles: number): GemmKernel {
  if (!memory || !kernel) {
    memory = new WebAssembly.Memory({ initial: 1 });
    const module = new WebAssembly.Module(Buffer.from(GEMM_KERNEL_WASM, 'base64'));
    const panel = new WebAssembly.Instance(module, { env: { memory } }).exports.panel as Panel;
    kernel = { f64: new Float64Array(memory.buffer), panel };
  }
  const pages = Math.ceil((doubles * 8) / 65536);
  if (memory.buffer.byteLength < pages * 65536) {
    memory.grow(pages - memory.buffer.byteLength / 65536);
    kernel = { f64: new Float64Array(memory.buffer), panel: kernel.panel };
  }
  return kernel;
}
