// The shared memory that the linear-algebra pool's jobs (pool.ts) read and write: arrays passed to
// a job as they are rather than copied (read-only ones, and ones lent to it), and large buffers
// handed back by their last user for the next one of the same size.
import type { Matrix } from './matrix';

/** Whether shared memory exists here (Node can be run without it): the pool's workers need it. */
export const CAN_SHARE = typeof SharedArrayBuffer === 'function';

/** Shared buffers passed to jobs as they are: ones no thread writes again (readOnly()), and ones
 *  lent to a job (lend()); and views of memory that other data shares, lent alone (lendView()). */
const asIs = new WeakSet<SharedArrayBuffer>();
const lentViews = new WeakSet<Float32Array | Float64Array>();

/** A zeroed buffer of `bytes`, in shared memory where there is any. */
const sharedBuffer = (bytes: number): ArrayBufferLike => (CAN_SHARE ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));

/**
 * m for reading only, by any number of later jobs: in shared memory (moved there by one copy unless
 * its whole buffer is already shared), and passed to every job that reads it as it is instead of as
 * a copy per job. A layer's Cholesky factors and Grams are read by up to three jobs each, and at
 * Llama-7B's MLP width each is 0.97 GB in float64. Neither the caller nor anyone else may write
 * m.data after this (until recycle() takes its buffer back).
 */
export function readOnly(m: Matrix): Matrix {
  if (!CAN_SHARE) return m;
  const buf = m.data.buffer;
  const whole = buf instanceof SharedArrayBuffer && m.data.byteOffset === 0 && m.data.byteLength === buf.byteLength;
  const data = whole ? m.data : shared(m.data);
  asIs.add(data.buffer as SharedArrayBuffer);
  return { rows: m.rows, cols: m.cols, data };
}

/** a, in shared memory that its owner neither writes nor reuses until the job it is passed to
 *  settles (or a job's output, which the job writes): passed to that job as it is, not copied. */
export function lend<T extends Float32Array | Float64Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) asIs.add(a.buffer);
  return a;
}

/** A view of shared memory whose bytes its owner keeps as they are until the job it is passed to
 *  settles, in a buffer others use too (tfjs-wasm's heap): the view alone is passed as it is. */
export function lendView<T extends Float32Array | Float64Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) lentViews.add(a);
  return a;
}

/** a in shared memory: posted to every worker, it is shared, not copied per worker. A copy, even of
 *  shared memory (the wasm heap is shared, and a view of it changes under the job), unless
 *  readOnly(), lend() or lendView() passed it. */
export function shared<T extends Float64Array | Float32Array>(a: T): T {
  if (asIs.has(a.buffer as SharedArrayBuffer) || lentViews.has(a)) return a;
  const s = (a instanceof Float64Array ? new Float64Array(new SharedArrayBuffer(a.byteLength)) : new Float32Array(new SharedArrayBuffer(a.byteLength))) as T;
  s.set(a);
  return s;
}

/**
 * Shared buffers their last user handed back (recycle()), by byte length. V8 frees a buffer only
 * when a full collection finds it dead, and on the thread that runs the forward passes those come
 * seconds apart: a compression's layer Grams and Cholesky factors (15 MiB each at width 1376) stayed
 * resident for one or two layers after their last use (an allocation trace of bench/scaling at 4 ×
 * 512), and V8 counts them against a limit past which it collects. Held weakly: a collection frees
 * the ones not taken since.
 */
const spare = new Map<number, WeakRef<ArrayBufferLike>[]>();

/** A buffer of `bytes` in shared memory where there is any: one handed back if there is one (its
 *  old contents zeroed only if asked), else a new, zeroed one. */
export function reusedBuffer(bytes: number, zeroed: boolean): ArrayBufferLike {
  const list = spare.get(bytes);
  for (let r = list?.pop(); r; r = list?.pop()) {
    const b = r.deref();
    if (b) {
      if (zeroed) new Uint8Array(b).fill(0);
      return b;
    }
  }
  return sharedBuffer(bytes);
}

/** Hands b back for reusedBuffer(): no one reads or writes it after this, no job included (the
 *  caller has seen every job that had it settle). Not in shared memory: left to the collector. */
export function recycle(b: ArrayBufferLike): void {
  if (!(b instanceof SharedArrayBuffer)) return;
  asIs.delete(b);
  const list = spare.get(b.byteLength) ?? [];
  list.push(new WeakRef(b));
  spare.set(b.byteLength, list);
}
