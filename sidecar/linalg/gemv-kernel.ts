// The bidiagonalisation's arrays in one shared WebAssembly memory, and the matrix-vector kernels
// (gemv-kernel.wat, compiled by scripts/build.mjs and embedded as base64 in GEMV_KERNEL_WASM) that
// run on it. The memory holds one reduction at a time (an SVD's is its thread's reused one, up to
// REUSED_MEMORY_BYTES) and is posted with it to the lanes, each of which instantiates the kernels
// on it; nothing is copied in or out.
import { compiled, type KernelBinary } from './wasm-kernel';

declare const GEMV_KERNEL_WASM: KernelBinary;

/** Arrays carved from one shared memory, every one 64-byte aligned. */
export interface KernelMemory {
  memory: WebAssembly.Memory;
  alloc(length: number): Float64Array;
}

/** WebAssembly's 32-bit memories end at 4 GiB. */
const MAX_BYTES = 2 ** 32;

/** Bytes of the one-reduction kernel memories this thread made (not the reused one), a running
 *  total: V8 frees a dead one only in a full collection, and does not count it as the ArrayBuffers'
 *  external memory by which a pool worker decides to collect (pool-worker.ts), so the worker
 *  counts these too. */
export let kernelMemoryBytes = 0;

/** Reductions up to this size share one memory per thread (reusable): a job's own memory was
 *  garbage once it ended, and a pool worker's collections of it dropped the kernels' optimized code,
 *  which had embedded the dead memory and its instance (pool-worker.ts). Larger ones, where a
 *  collection costs little against the reduction, get their own, so that no thread holds that much
 *  for as long as it lives. */
export const REUSED_MEMORY_BYTES = 32 * 2 ** 20;
let reusable: WebAssembly.Memory | undefined;

/** A zeroed memory with room for arrays of the given lengths (doubles). With `reuse`, the caller's
 *  arrays must be dead before this thread's next reduction starts: up to REUSED_MEMORY_BYTES, the
 *  memory is this thread's reusable one, zeroed over what is asked for, and grown if too small. */
export function kernelMemory(lengths: number[], reuse = false): KernelMemory {
  const bytes = lengths.reduce((sum, length) => sum + aligned(length), 0);
  if (bytes > MAX_BYTES) throw new Error(`svd: the reduction's ${(bytes / 2 ** 30).toFixed(1)} GiB exceed WebAssembly's 4 GiB`);
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  let memory: WebAssembly.Memory;
  if (reuse && bytes <= REUSED_MEMORY_BYTES) {
    reusable ??= new WebAssembly.Memory({ initial: 0, maximum: REUSED_MEMORY_BYTES / 65536, shared: true });
    const have = reusable.buffer.byteLength / 65536;
    if (have < pages) reusable.grow(pages - have);
    memory = reusable;
    new Float64Array(memory.buffer, 0, bytes / 8).fill(0);
  } else {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    kernelMemoryBytes += pages * 65536;
  }
  let next = 0;
  return {
    memory,
    alloc(length) {
      const array = new Float64Array(memory.buffer, next, length);
      next += aligned(length);
      return array;
    },
  };
}

const aligned = (length: number): number => Math.ceil((8 * length) / 64) * 64;

export interface GemvKernel {
  /** out[o + c] = Σ_r A[a + c·ld + r] v[vi + r] for r < len, c < nc. */
  dots(A: Float64Array, a: number, ld: number, len: number, nc: number, v: Float64Array, vi: number, out: Float64Array, o: number): void;
  /** y[yi + r] += Σ_c u[ui + c] A[a + c·ld + r] for r < len, c < nc. */
  matvec(A: Float64Array, a: number, ld: number, len: number, nc: number, u: Float64Array, ui: number, y: Float64Array, yi: number): void;
  /** M[m + r·ld + t] += a[ai + r] v[vi + t] for t < len, r < rows. */
  ger(M: Float64Array, m: number, ld: number, len: number, rows: number, a: Float64Array, ai: number, v: Float64Array, vi: number): void;
}

type Raw = (a: number, ld: number, len: number, nc: number, v: number, out: number) => void;

const module = compiled(GEMV_KERNEL_WASM);
let last: { buffer: ArrayBuffer; kernel: GemvKernel } | undefined;

/** The kernels on `memory` (instantiated once per memory, and again after it grew, in each thread;
 *  arrays passed must be views of its buffer now). */
export function gemvKernel(memory: WebAssembly.Memory): GemvKernel {
  const buffer = memory.buffer;
  if (last?.buffer === buffer) return last.kernel;
  const exports = new WebAssembly.Instance(module(), { env: { memory } }).exports as { dots: Raw; matvec: Raw; ger: Raw };
  const at = (x: Float64Array, i: number): number => {
    if (x.buffer !== buffer) throw new Error('svd: a matrix-vector operand is not in the reduction memory');
    return x.byteOffset + 8 * i;
  };
  const kernel: GemvKernel = {
    dots: (A, a, ld, len, nc, v, vi, out, o) => exports.dots(at(A, a), ld, len, nc, at(v, vi), at(out, o)),
    matvec: (A, a, ld, len, nc, u, ui, y, yi) => exports.matvec(at(A, a), ld, len, nc, at(u, ui), at(y, yi)),
    ger: (M, m, ld, len, rows, a, ai, v, vi) => exports.ger(at(M, m), ld, len, rows, at(a, ai), at(v, vi)),
  };
  last = { buffer, kernel };
  return kernel;
}
