// Gram matrix G = Σ_t x_t x_tᵀ of a projection's inputs (METHODS.md SVD-LLM step 1), in float64 (the
// default, as SVD-LLM asks) or float32. A float64 Gram's products run in WebAssembly SIMD by default
// (linalg/gram-kernel.ts: the upper triangle only, float32 sums over slabs of 128 rows added in
// float64): on tfjs-wasm that took a quarter to a third of the thread time of tfjs's products
// (bench/gram.ts). Each batch's products run on a pool worker ('pool', the default), so that the
// calling thread, which runs the forward passes that every later step waits on, only copies the
// batch; 'host' runs them on the calling thread. On tfjs-node (TensorFlow's kernels, maybe a GPU)
// they run on the backend: float32 matMuls over chunks of rows, whose products are summed on the
// host in float64. A float32 Gram stays on the backend (no per-batch read-back, for GPU backends and
// quick statistics).
// A backend chunk is one whole product: multiplying only the 128-column blocks on and above the
// diagonal did 59% of the arithmetic at width 688 but took 1.1–2.0× as long on tfjs-wasm, on one
// thread or two (many small products, each with its slices; measured on 8 chunks of 2048 rows at
// widths 256 and 688).
import * as tf from '@tensorflow/tfjs-core';
import { addGram, addUpper, gramUpper } from '../linalg/gram-kernel';
import { lend, linalgPool, pooled, sharedBuffer, sharedFloat64 } from '../linalg/pool';
import { floatsNow } from '../tensor/host-data';

export type Accumulation = 'float64' | 'float32';

/** Where a float64 Gram's products run (a float32 one's always run on the backend): the host kernel
 *  on a pool worker or on the calling thread, or the backend's matMul. */
export type GramProducts = 'pool' | 'host' | 'backend';

/** The host kernel on the pool, except on tfjs-node, whose products are TensorFlow's (and may be a GPU's). */
export const defaultGramProducts = (): GramProducts => (tf.getBackend() === 'tensorflow' ? 'backend' : 'pool');

/** Batch copies on their way to or in the pool, over all collectors, past which a batch's products
 *  run on the calling thread: it bounds the copies, and gives that thread the work when the pool is
 *  behind. */
const POOL_INPUT_BYTES = 2 ** 26;
let poolInputBytes = 0;

/**
 * Shared buffers of pooled batches (their copies and their shares) whose jobs are done, by byte
 * length, for the next batches of the same shape. Each batch took two new ArrayBuffers (about 65
 * MiB a layer on the reference model), and V8 counts ArrayBuffers against a limit of its own past
 * which it collects garbage: 23 full collections on the compressing thread (its critical path) in
 * one bench/compress run, 14 with the buffers reused. Held weakly: a collection frees the ones not
 * reused since.
 */
const spare = new Map<number, WeakRef<ArrayBufferLike>[]>();

function takeBuffer(bytes: number): ArrayBufferLike {
  const list = spare.get(bytes);
  for (let r = list?.pop(); r; r = list?.pop()) {
    const b = r.deref();
    if (b) return b;
  }
  return sharedBuffer(bytes);
}

function recycle(b: ArrayBufferLike): void {
  if (!(b instanceof SharedArrayBuffer)) return;
  const list = spare.get(b.byteLength) ?? [];
  list.push(new WeakRef(b));
  spare.set(b.byteLength, list);
}

/** Rows per backend float32 matMul: bounds the float32 summation length inside one product. */
export const GRAM_CHUNK_ROWS = 2048;

export interface GramOptions {
  accumulate?: Accumulation;
  products?: GramProducts;
  /** Rows per backend product (GRAM_CHUNK_ROWS). */
  chunkRows?: number;
  /** The bound on pooled batch copies this collector respects (POOL_INPUT_BYTES). */
  poolInputBytes?: number;
}

export class GramCollector {
  private readonly sum64?: Float64Array;
  private sum32?: tf.Tensor2D;
  private count = 0;
  private read = false;
  private readonly products: GramProducts;
  private readonly chunkRows: number;
  private readonly poolInputBytes: number;
  /** The batches' products not yet added to sum64, chained in the order the batches came: the sum
   *  is then the same to the bit wherever each batch's products ran. */
  private shares: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(readonly dim: number, o: GramOptions = {}) {
    // In shared memory, so that the pool's jobs can read the result without a copy (Linalg.readOnly).
    if ((o.accumulate ?? 'float64') === 'float64') this.sum64 = sharedFloat64(dim * dim);
    this.products = this.sum64 ? o.products ?? defaultGramProducts() : 'backend';
    this.chunkRows = o.chunkRows ?? GRAM_CHUNK_ROWS;
    this.poolInputBytes = o.poolInputBytes ?? POOL_INPUT_BYTES;
  }

  /** Tokens added so far. */
  get tokens(): number {
    return this.count;
  }

  /** Adds x [tokens, dim]. Synchronous, so it can run inside a layer hook (tf.tidy). */
  add(x: tf.Tensor2D): void {
    const [n, d] = x.shape;
    if (d !== this.dim) throw new Error(`Gram collector of dimension ${this.dim} given inputs of ${d}`);
    if (this.read) throw new Error('Gram collector: inputs added after its result was read');
    this.count += n;
    if (this.products !== 'backend') {
      if (x.dtype !== 'float32') throw new Error(`Gram collector given ${x.dtype} inputs, not float32`);
      // Read in place (the kernel runs no tfjs operation): no copy of the batch for the host kernel.
      const data = floatsNow(x);
      const bytes = 4 * n * d;
      const toPool = this.products === 'pool' && pooled({ op: 'gram', x: data, rows: n, dim: d }) &&
        poolInputBytes + bytes <= this.poolInputBytes;
      if (toPool) return this.chain(this.pooledShare(data, n, d, bytes));
      if (this.pending) return this.chain(Promise.resolve(gramUpper(data, n, d)));
      return addGram(data, n, d, this.sum64!);
    }
    for (let r = 0; r < n; r += this.chunkRows) {
      const rows = Math.min(this.chunkRows, n - r);
      // Explicit transpose: a transposed operand in tfjs-wasm's matMul is slow (see model/linear.ts).
      const g = tf.tidy(() => {
        const c = rows === n ? x : tf.slice(x, [r, 0], [rows, d]);
        return tf.matMul(tf.transpose(c), c) as tf.Tensor2D;
      });
      if (this.sum64) {
        const v = g.dataSync();
        g.dispose();
        addUpper(this.sum64, v as Float32Array, this.dim);
      } else if (this.sum32) {
        const next = tf.keep(tf.add(this.sum32, g) as tf.Tensor2D);
        this.sum32.dispose();
        g.dispose();
        this.sum32 = next;
      } else {
        this.sum32 = tf.keep(g);
      }
    }
  }

  /** A batch's products on a pool worker: x copied into a shared buffer lent to the job, and the
   *  share written into another, both recycled once used. */
  private pooledShare(x: Float32Array, rows: number, dim: number, bytes: number): Promise<Float64Array> {
    poolInputBytes += bytes;
    const input = lend(new Float32Array(takeBuffer(bytes)));
    input.set(x.subarray(0, rows * dim));
    const out = lend(new Float64Array(takeBuffer(8 * dim * dim)));
    return linalgPool().run({ op: 'gram', x: input, rows, dim, out })
      .then(() => out)
      .finally(() => {
        poolInputBytes -= bytes;
        recycle(input.buffer);
      });
  }

  /** Adds share to the sum after the shares before it. */
  private chain(share: Promise<Float64Array>): void {
    // Handled here, so that a failure waits for result() instead of failing the process.
    share.catch(() => {});
    this.pending++;
    const sum = this.sum64!;
    this.shares = this.shares.then(async () => {
      const g = await share;
      addUpper(sum, g, this.dim);
      recycle(g.buffer);
      this.pending--;
    });
    this.shares.catch(() => {});
  }

  /** G as a row-major dim × dim float64 array, once every batch's products are in. With float64
   *  accumulation it is the collector's own sum, not a copy (an n² float64 copy per input site per
   *  layer was the largest transient of the whitening pass), and nothing may be added after it is
   *  read. */
  async result(): Promise<Float64Array> {
    const first = !this.read;
    this.read = true;
    if (this.sum64) {
      await this.shares;
      // Only the upper triangle was summed (the backend's product need not be bit-symmetric, and the
      // kernel computes no other): it is mirrored, so the factorizations see an exactly symmetric G.
      // Once: after that a pool job may be reading it.
      const g = this.sum64;
      const d = this.dim;
      for (let i = 0; i < d && first; i++) {
        for (let j = 0; j < i; j++) g[i * d + j] = g[j * d + i];
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
