// Gram matrix G = Σ_t x_t x_tᵀ of a projection's inputs (METHODS.md SVD-LLM step 1), in float64 (the
// default, as SVD-LLM asks) or float32. A float64 Gram's products run in WebAssembly SIMD by default
// (linalg/gram-kernel.ts: the upper triangle only, float32 sums over slabs of 128 rows added in
// float64): on tfjs-wasm that took a quarter to a third of the thread time of tfjs's products
// (bench/gram.ts). Each batch's products run on the pool's workers ('pool', the default), so that
// the calling thread, which runs the forward passes that every later step waits on, only hands the
// batch over (in place on tfjs-wasm's shared heap, else as a copy), and the workers add bands of its
// rows straight into the sum; 'host' runs them on the calling thread. On tfjs-node (TensorFlow's
// kernels, maybe a GPU)
// they run on the backend: float32 matMuls over chunks of rows, whose products are summed on the
// host in float64. A float32 Gram stays on the backend (no per-batch read-back, for GPU backends and
// quick statistics).
// A backend chunk is one whole product: multiplying only the 128-column blocks on and above the
// diagonal did 59% of the arithmetic at width 688 but took 1.1–2.0× as long on tfjs-wasm, on one
// thread or two (many small products, each with its slices; measured on 8 chunks of 2048 rows at
// widths 256 and 688).
import * as tf from '@tensorflow/tfjs-core';
import { addGram, addUpper, gramUpper } from '../linalg/gram-kernel';
import { linalgPool, POOL_SIZE, pooled } from '../linalg/pool';
import { lend, lendView, recycle, reusedBuffer } from '../linalg/shared-memory';
import { floatsNow } from '../tensor/host-data';

export type Accumulation = 'float64' | 'float32';

/** Where a float64 Gram's products run (a float32 one's always run on the backend): the host kernel
 *  on a pool worker or on the calling thread, or the backend's matMul. */
export type GramProducts = 'pool' | 'host' | 'backend';

/** The host kernel on the pool, except on tfjs-node, whose products are TensorFlow's (and may be a GPU's). */
export const defaultGramProducts = (): GramProducts => (tf.getBackend() === 'tensorflow' ? 'backend' : 'pool');

/** Batch inputs on their way to or in the pool, over all collectors, past which a batch's products
 *  run on the calling thread. The calibration passes wait for the pool between batches
 *  (pooledGramsSettled), so this bounds one batch's sites, which can pass it on wide models. */
const POOL_INPUT_BYTES = 2 ** 26;
let poolInputBytes = 0;
let settledWaiters: (() => void)[] = [];

/** Bytes of batches on their way to or in the pool, over all collectors. */
export const pooledGramBytes = (): number => poolInputBytes;

/**
 * Resolves once no batch waits for the pool's Gram jobs. The calibration passes wait on it before
 * each batch (methods/calibration.ts): on tfjs-wasm the waiting batches are read where they lie in
 * tfjs's heap, which never shrinks, and when the pool was behind (busy with the layer before's
 * SVDs) two or three batches' inputs waited there, 23 MiB each at width 512. The forward pass
 * waiting leaves the cores to the pool's jobs.
 */
export function pooledGramsSettled(): Promise<void> {
  if (poolInputBytes === 0) return Promise.resolve();
  return new Promise((resolve) => settledWaiters.push(resolve));
}

/** k bands of G's rows with about equal upper-triangle work, split at multiples of 8 (the host
 *  kernel's column blocks): one pool job each. */
export function gramBands(dim: number, k: number): [number, number][] {
  const cuts = [0];
  for (let j = 1; j < k; j++) {
    // Rows 0..r hold a fraction 1 − (1 − r/dim)² of the triangle's entries.
    const r = Math.round((dim * (1 - Math.sqrt(1 - j / k))) / 8) * 8;
    if (r > cuts[cuts.length - 1] && r < dim) cuts.push(r);
  }
  cuts.push(dim);
  return cuts.slice(1).map((to, i) => [cuts[i], to]);
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
  /** The batches' products not yet added to sum64, chained in the order the batches came: every
   *  entry gets each batch's float64 total added in that order, so the sum is the same to the bit
   *  wherever each batch's products ran. */
  private shares: Promise<void> = Promise.resolve();
  private pending = 0;
  private failure?: { error: unknown };

  constructor(readonly dim: number, o: GramOptions = {}) {
    // In shared memory, so that the pool's jobs can read the result without a copy (Linalg.readOnly);
    // a buffer handed back (shared-memory.ts recycle) by the layer before, when there is one.
    if ((o.accumulate ?? 'float64') === 'float64') this.sum64 = new Float64Array(reusedBuffer(8 * dim * dim, true));
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
      if (toPool) return this.pooledAdd(x, data, n, d, bytes);
      if (this.pending) {
        // x is read now (it is a view of the tensor); its share waits for the batches before it.
        const share = gramUpper(data, n, d);
        return this.chain(() => addUpper(this.sum64!, share, d));
      }
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

  /** A batch's products on the pool, each job adding a band of G's rows to the sum itself. With one
   *  job a batch and a dim² float64 share of its own for this thread to add, a batch in flight at
   *  width 1376 held 15 MiB more (and would at Llama-3-8B's 14336, 1.6 GB). Two batches' jobs would
   *  add to the same rows of the sum at once, so a batch's jobs are posted once the batch before it
   *  has been added. The jobs read x's rows where they lie when that is shared memory (tfjs-wasm's
   *  threaded heap), x's memory held by a tensor of its own until they settle; otherwise from a
   *  copy in a shared buffer, recycled after. */
  private pooledAdd(x: tf.Tensor2D, data: Float32Array, rows: number, dim: number, bytes: number): void {
    poolInputBytes += bytes;
    let input: Float32Array;
    let release: () => void;
    if (data.buffer instanceof SharedArrayBuffer) {
      // A reshape shares x's memory and counts as one more reference to it, so x's own disposal
      // (the layer disposes its intermediates once used) does not free it.
      const held = tf.keep(tf.reshape(x, x.shape));
      input = lendView(data.subarray(0, rows * dim));
      release = () => held.dispose();
    } else {
      input = lend(new Float32Array(reusedBuffer(bytes, false)));
      input.set(data.subarray(0, rows * dim));
      release = () => recycle(input.buffer);
    }
    const sum = lend(this.sum64!);
    const done = () => {
      poolInputBytes -= bytes;
      release();
      if (poolInputBytes === 0) {
        const waiters = settledWaiters;
        settledWaiters = [];
        waiters.forEach((resolve) => resolve());
      }
    };
    this.chain(() => {
      const jobs = gramBands(dim, POOL_SIZE).map(([from, to]) => linalgPool().run({ op: 'gram', x: input, rows, dim, out: sum, from, to }));
      return Promise.all(jobs).then(done, (e) => {
        // The other bands' jobs may still run: the buffer is not reused until they settle.
        void Promise.allSettled(jobs).then(done);
        throw e;
      });
    }, done);
  }

  /** Runs step once the batches before it are added: now if none is in flight, so that a batch's
   *  jobs are posted without waiting for this thread's event loop, which the forward pass holds.
   *  After a failure no step runs (`skipped` does instead), and result() throws it. */
  private chain(step: () => unknown, skipped?: () => void): void {
    if (this.failure) return skipped?.();
    const idle = this.pending === 0;
    this.pending++;
    const run = () => {
      if (!this.failure) return step();
      skipped?.();
    };
    let next: Promise<unknown>;
    try {
      next = idle ? Promise.resolve(run()) : this.shares.then(run);
    } catch (e) {
      next = Promise.reject(e);
    }
    this.shares = next.then(() => void this.pending--, (error) => {
      this.pending--;
      this.failure ??= { error };
    });
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
      if (this.failure) throw this.failure.error;
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
