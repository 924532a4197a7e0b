// Gram matrices of float32 rows on the host (gram-kernel.wat, compiled by scripts/build.mjs and
// embedded as base64 in GRAM_KERNEL_WASM): the products of each slab of SLAB_ROWS rows in float32,
// added to a float64 sum, and only the upper triangle's tiles computed. On the wasm backend this does
// the calibration statistics' largest products in a quarter to a third of tfjs's thread time
// (bench/gram.ts; stats/gram.ts uses it).
import { growingKernel, type KernelBinary } from './wasm-kernel';

declare const GRAM_KERNEL_WASM: KernelBinary;

/** Rows per slab: the products of at most this many rows are summed in float32, and the slab
 *  (dim × SLAB_ROWS floats, 352 KiB at dim 688) stays in a core's L2 cache. */
export const SLAB_ROWS = 128;

/** Bytes of G's float64 rows one pass over the slabs accumulates: the bulk of the kernel's memory,
 *  which never shrinks, on every thread that ran it. A whole Gram there was 15 MiB at width 1376 and
 *  would be 1.6 GB at Llama-3-8B's 14336; a band of rows bounds it, and the rows are read once per
 *  band (the columns from the band's first on, as the upper triangle needs). At 4 MiB each pool
 *  worker kept 4.6 MiB resident at width 1376, at 1 MiB 1.6 MiB; the batch is read about three
 *  times as often, within the noise of bench/gram and bench/compress. */
export const GRAM_BAND_BYTES = 2 ** 20;

type Raw = (p: number, rows: number, ldp: number, g: number, ldg: number, gi0: number, gi1: number, wide: number) => void;

const load = growingKernel<{ gram: Raw }>(GRAM_KERNEL_WASM);

/** The kernel's memory on this thread, in bytes (one page before its first use). */
export const gramKernelBytes = (): number => load(0).buffer.byteLength;

/** Bands [r0, r1) of rows from..to, multiples of 8 (the kernel's column blocks) apart from the last
 *  end, each with about `bytes` of float64 rows from column r0 on (`wide` columns in all). */
function bands(from: number, to: number, wide: number, bytes: number): [number, number][] {
  const out: [number, number][] = [];
  for (let r0 = from; r0 < to;) {
    const rows = Math.max(8, Math.floor(bytes / (8 * (wide - r0)) / 8) * 8);
    const r1 = Math.min(to, r0 + rows);
    out.push([r0, r1]);
    r0 = r1;
  }
  return out;
}

/** sum (dim × dim float64, row-major) += XᵀX for X (rows × dim float32, row-major): the upper
 *  triangle and the diagonal only, of G's rows from..to (from a multiple of 8; by default all);
 *  every other entry is left as it was. Each entry gets this batch's float64 total added once, so
 *  the bits do not depend on how the rows were split. */
export function addGram(x: Float32Array, rows: number, dim: number, sum: Float64Array, from = 0, to = dim): void {
  if (x.length < rows * dim || sum.length !== dim * dim) throw new Error(`addGram: ${x.length} inputs for ${rows} × ${dim}, or a sum of ${sum.length} for ${dim}²`);
  if (from % 8 || from < 0 || to > dim || from > to) throw new Error(`addGram: rows ${from}..${to} of ${dim}`);
  // The kernel works on whole 8-column blocks; the padding columns' entries are never read back.
  const wide = Math.ceil(dim / 8) * 8;
  for (const [r0, r1] of bands(from, to, wide, GRAM_BAND_BYTES)) {
    // Columns r0..wide of the band's rows (4-row groups up to r1) and of the slab's.
    const cols = wide - r0;
    const bandRows = Math.ceil((r1 - r0) / 4) * 4;
    const gBytes = 8 * cols * bandRows;
    const { exports, buffer } = load(gBytes + 4 * cols * SLAB_ROWS);
    const g = new Float64Array(buffer, 0, cols * bandRows).fill(0);
    const slab = new Float32Array(buffer, gBytes, cols * SLAB_ROWS);
    const used = Math.min(cols, dim - r0);
    for (let t0 = 0; t0 < rows; t0 += SLAB_ROWS) {
      const kb = Math.min(SLAB_ROWS, rows - t0);
      if (used === cols && r0 === 0) slab.set(x.subarray(t0 * dim, (t0 + kb) * dim));
      else for (let t = 0; t < kb; t++) slab.set(x.subarray((t0 + t) * dim + r0, (t0 + t + 1) * dim), t * cols);
      exports.gram(gBytes - 4 * r0, kb, 4 * cols, -8 * r0, 8 * cols, r0 / 4, bandRows / 4 + r0 / 4, wide);
    }
    for (let i = r0; i < Math.min(r1, dim); i++) {
      for (let j = i, s = i * dim, o = (i - r0) * cols - r0; j < dim; j++) sum[s + j] += g[o + j];
    }
  }
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
