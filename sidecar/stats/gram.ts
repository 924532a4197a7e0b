// Gram matrix G = Σ_t x_t x_tᵀ of a projection's inputs (METHODS.md SVD-LLM step 1). Each batch is
// float32 matMuls on the tensor backend in chunks of rows; the chunks' products are summed on the
// host in float64 (the default, as SVD-LLM asks), or on the device in float32 (no per-batch
// read-back, for GPU backends and quick statistics). The float64 path multiplies only the column
// blocks on and above the diagonal (G is symmetric) and mirrors them when read: 59% of the
// products at width 688, 75% at 256.
import * as tf from '@tensorflow/tfjs-core';

export type Accumulation = 'float64' | 'float32';

/** Rows per float32 matMul: bounds the float32 summation length inside one product. */
export const GRAM_CHUNK_ROWS = 2048;
/** Columns per block: narrower products would lose more of the backend's GEMM speed than they save. */
const GRAM_BLOCK = 128;

export class GramCollector {
  private readonly sum64?: Float64Array;
  private sum32?: tf.Tensor2D;
  private count = 0;

  constructor(readonly dim: number, readonly accumulate: Accumulation = 'float64', private readonly chunkRows = GRAM_CHUNK_ROWS) {
    if (accumulate === 'float64') this.sum64 = new Float64Array(dim * dim);
  }

  /** Tokens added so far. */
  get tokens(): number {
    return this.count;
  }

  /** Adds x [tokens, dim]. Synchronous, so it can run inside a layer hook (tf.tidy). */
  add(x: tf.Tensor2D): void {
    const [n, d] = x.shape;
    if (d !== this.dim) throw new Error(`Gram collector of dimension ${this.dim} given inputs of ${d}`);
    for (let r = 0; r < n; r += this.chunkRows) {
      const rows = Math.min(this.chunkRows, n - r);
      if (this.sum64) {
        this.addBlocks(x, r, rows);
        continue;
      }
      // Explicit transpose: a transposed operand in tfjs-wasm's matMul is slow (see model/linear.ts).
      const g = tf.tidy(() => {
        const c = rows === n ? x : tf.slice(x, [r, 0], [rows, d]);
        return tf.matMul(tf.transpose(c), c) as tf.Tensor2D;
      });
      if (this.sum32) {
        const next = tf.keep(tf.add(this.sum32, g) as tf.Tensor2D);
        this.sum32.dispose();
        g.dispose();
        this.sum32 = next;
      } else {
        this.sum32 = tf.keep(g);
      }
    }
    this.count += n;
  }

  /** Adds rows r..r+rows−1 of x into the blocks of sum64 on and above the diagonal. */
  private addBlocks(x: tf.Tensor2D, r: number, rows: number): void {
    const d = this.dim;
    const sum = this.sum64!;
    const starts = Array.from({ length: Math.ceil(d / GRAM_BLOCK) }, (_, b) => b * GRAM_BLOCK);
    const width = (s: number) => Math.min(GRAM_BLOCK, d - s);
    const products = tf.tidy(() => {
      const c = rows === x.shape[0] ? x : tf.slice(x, [r, 0], [rows, d]);
      // Rows of cᵀ are contiguous slices; columns of c are copied once per block.
      const ct = tf.transpose(c);
      const left = starts.map((s) => tf.slice(ct, [s, 0], [width(s), rows]));
      const right = starts.map((s) => tf.slice(c, [0, s], [rows, width(s)]));
      return starts.flatMap((_, i) => starts.slice(i).map((__, k) => tf.matMul(left[i], right[i + k])));
    });
    let p = 0;
    for (const [i, si] of starts.entries()) {
      for (const sj of starts.slice(i)) {
        const v = products[p].dataSync();
        const w = width(sj);
        for (let a = 0; a < width(si); a++) {
          const o = (si + a) * d + sj;
          for (let b = 0; b < w; b++) sum[o + b] += v[a * w + b];
        }
        products[p++].dispose();
      }
    }
  }

  /** G as a row-major dim × dim float64 array (a copy). */
  result(): Float64Array {
    if (this.sum64) {
      // Only blocks on and above the diagonal were summed; the diagonal blocks are complete.
      const g = Float64Array.from(this.sum64);
      const d = this.dim;
      for (let i = 0; i < d; i++) {
        const bi = i - (i % GRAM_BLOCK);
        for (let j = 0; j < bi; j++) g[i * d + j] = g[j * d + i];
      }
      return g;
    }
    return this.sum32 ? Float64Array.from(this.sum32.dataSync()) : new Float64Array(this.dim * this.dim);
  }

  dispose(): void {
    this.sum32?.dispose();
    this.sum32 = undefined;
  }
}
