// Loads the product kernel (gemm-kernel.wat, compiled to WebAssembly by scripts/build.mjs and embedded
// as base64 in GEMM_KERNEL_WASM) once per thread, with a memory that grows to the largest panels asked for.
import { growingKernel, type KernelBinary } from './wasm-kernel';

declare const GEMM_KERNEL_WASM: KernelBinary;

type Panel = (ap: number, bp: number, cp: number, m4: number, n4: number, kl: number) => void;

export interface GemmKernel {
  /** A view of the kernel's memory; offsets into it, times 8, are the kernel's byte offsets. */
  f64: Float64Array;
  panel: Panel;
}

const load = growingKernel<{ panel: Panel }>(GEMM_KERNEL_WASM);
let kernel: GemmKernel | undefined;

/** The kernel, with room for at least `doubles` doubles (a new view only after growing, which
 *  detaches the old one). */
export function gemmKernel(doubles: number): GemmKernel {
  const { exports, buffer } = load(doubles * 8);
  if (kernel?.f64.buffer !== buffer) kernel = { f64: new Float64Array(buffer), panel: exports.panel };
  return kernel;
}
