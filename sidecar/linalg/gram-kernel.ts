// Gram matrices of float32 rows on the host (gram-kernel.wat, compiled by scripts/build.mjs and
// embedded as base64 in GRAM_KERNEL_WASM): the products of each slab of SLAB_ROWS rows in float32,
// added to a float64 sum, and only the upper triangle's tiles computed. On the wasm backend this does
// the calibration statistics' largest products in a quarter to a third of tfjs's thread time
// (bench/gram.ts; stats/gram.ts uses it).
import { growingKernel } from './wasm-kernel';

declare const GRAM_KERNEL_WASM: string;

/** Rows per slab: the products of at most this many rows are summed in float32, and the slab
 *  (dim × SLAB_ROWS floats, 352 KiB at dim 688) stays in a core's L2 cache. */
export const SLAB_ROWS = 128;

type Raw = (p: number, rows: number, dim: number, g: number) => void;

const load = growingKernel<{ gram: Raw }>(GRAM_KERNEL_WASM);

/** sum (dim × dim float64, row-major) += XᵀX for X (rows × dim float32, row-major): the upper
 *  triangle and the diagonal only; the strict lower triangle is left as it was. */
export function addGram(x: Float32Array, rows: number, dim: number, sum: Float64Array): void {
  if (x.length < rows * dim || sum.length !== dim * dim) throw new Error(`addGram: ${x.length} inputs for ${rows} × ${dim}, or a sum of ${sum.length} for ${dim}²`);
  // The kernel works on whole 8-column blocks; the padding columns' entries are never read back.
  const wide = Math.ceil(dim / 8) * 8;
  const slabBytes = 4 * wide * SLAB_ROWS;
  const { exports, buffer } = load(slabBytes + 8 * wide * wide);
  const slab = new Float32Array(buffer, 0, wide * SLAB_ROWS);
  const g = new Float64Array(buffer, slabBytes, wide * wide).fill(0);
  for (let t0 = 0; t0 < rows; t0 += SLAB_ROWS) {
    const kb = Math.min(SLAB_ROWS, rows - t0);
    // Rows of `wide` floats (the kernel's layout): x's own when dim is a multiple of 8.
    if (wide === dim) slab.set(x.subarray(t0 * dim, (t0 + kb) * dim));
    else for (let t = 0; t < kb; t++) slab.set(x.subarray((t0 + t) * dim, (t0 + t + 1) * dim), t * wide);
    exports.gram(0, kb, wide, slabBytes);
  }
  addUpper(sum, g, dim, wide);
}

/** sum (dim × dim, row-major) += the upper triangle and diagonal of g (dim × dim, row length ld);
 *  the strict lower triangle is left as it was: a Gram's result mirrors the upper one into it. */
export function addUpper(sum: Float64Array, g: Float64Array | Float32Array, dim: number, ld = dim): void {
  for (let i = 0; i < dim; i++) {
    for (let j = i, s = i * dim, o = i * ld; j < dim; j++) sum[s + j] += g[o + j];
  }
}

/** XᵀX's upper triangle and diagonal as a new dim × dim array (zeros below): a batch's share of a
 *  Gram, computed where the sum is not (a pool worker, stats/gram.ts). */
export function gramUpper(x: Float32Array, rows: number, dim: number): Float64Array {
  const g = new Float64Array(dim * dim);
  addGram(x, rows, dim, g);
  return g;
}
