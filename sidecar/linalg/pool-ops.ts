// The operations the linear-algebra pool runs (pool.ts), as plain data in and out so that they
// cross threads: a worker (pool-worker.ts) and the calling thread (when no worker is left) run
// them through runOp alike, so a result never depends on where it was computed. No op writes its
// inputs, so one read-only matrix can serve several jobs at once (shared-memory.ts readOnly),
// except a Cholesky asked to factor in place, whose input the caller lends it (lend).
import { isLowerTriangular, matmul, matmulLower, matrix, type Matrix, type ReadMatrix } from './matrix';
import { svdPortable, type SvdParts } from './svd';
import { choleskyShifted, inPlaceKernels } from './cholesky';
import { solveTri, type TriOptions } from './triangular';
import { refitLeft } from './least-squares';
import { addGram, gramUpper } from './gram-kernel';

export type Op =
  | { op: 'svd'; a: Matrix; vectors: boolean; full: boolean; top?: number; threads?: number }
  /** inPlace: L is written into a's memory (the caller's to give up). */
  | { op: 'cholesky'; a: Matrix; eps?: number; maxAttempts?: number; inPlace?: boolean }
  | { op: 'solve'; t: Matrix; b: Matrix; o: TriOptions }
  | { op: 'svdOfProduct'; a: ReadMatrix; b: Matrix; top?: number; threads?: number }
  | { op: 'refitLeft'; w: ReadMatrix; b: Matrix; g: Matrix; eps?: number; maxAttempts?: number }
  /** XᵀX of x (rows × dim float32, row-major): its upper triangle and diagonal, as a new array, or
   *  added to `out` (dim² float64, shared memory the caller lent: not copied, no array made) in
   *  G's rows from..to (default all; several jobs may add disjoint rows of one `out` at once). */
  | { op: 'gram'; x: Float32Array; rows: number; dim: number; out?: Float64Array; from?: number; to?: number };

/** An input matrix rebuilt around new data of its own kind. */
export type MatrixMap = <T extends ReadMatrix>(a: T) => T;

/** a's shape around `data` (of a's kind), as matrix() builds a matrix: one hidden class for all. */
export const withData = <T extends ReadMatrix>(a: T, data: T['data']): T => ({ rows: a.rows, cols: a.cols, data }) as T;

/** o with each input matrix passed through m and a Gram's rows through x. */
export function mapInputs(o: Op, m: MatrixMap, x: (a: Float32Array) => Float32Array): Op {
  switch (o.op) {
    case 'svd': case 'cholesky': return { ...o, a: m(o.a) };
    case 'solve': return { ...o, t: m(o.t), b: m(o.b) };
    case 'svdOfProduct': return { ...o, a: m(o.a), b: m(o.b) };
    case 'refitLeft': return { ...o, w: m(o.w), b: m(o.b), g: m(o.g) };
    case 'gram': return { ...o, x: x(o.x) };
  }
}

/** logs: the Cholesky shifts' log lines, replayed by the caller. */
export interface CholeskyParts { l: Matrix; shift: number; attempts: number; logs: string[] }
export interface RefitParts { u: Matrix; logs: string[] }
export type OpResult = SvdParts | CholeskyParts | RefitParts | Matrix;

/** Flops-like work of an op, for scheduling the largest first and for keeping small ones local. */
export function opWork(o: Op): number {
  switch (o.op) {
    case 'svd': return o.a.rows * o.a.cols * Math.min(o.a.rows, o.a.cols);
    case 'cholesky': return o.a.rows ** 3 / 3;
    case 'solve': return o.t.rows * o.t.rows * (o.o.side === 'right' ? o.b.rows : o.b.cols);
    case 'svdOfProduct': return o.a.rows * o.a.cols * o.b.cols + o.a.rows * o.b.cols * Math.min(o.a.rows, o.b.cols);
    case 'refitLeft': return o.b.rows * o.g.rows * (o.g.rows + o.b.rows + o.w.rows);
    case 'gram': {
      const [from, to] = [o.from ?? 0, o.to ?? o.dim];
      return o.rows * (to - from) * (o.dim - (from + to) / 2);
    }
  }
}

export function runOp(o: Op): OpResult {
  switch (o.op) {
    case 'svd': return svdPortable(o.a, o.vectors, o.full, o.top, o.threads);
    case 'cholesky': {
      const logs: string[] = [];
      return { ...choleskyShifted(o.a, { eps: o.eps, maxAttempts: o.maxAttempts, log: (m) => logs.push(m) }, o.inPlace ? inPlaceKernels : undefined), logs };
    }
    case 'solve': return solveTri(o.t, o.b, o.o);
    case 'svdOfProduct': return svdPortable(isLowerTriangular(o.b) ? matmulLower(o.a, o.b) : matmul(o.a, o.b), true, false, o.top, o.threads);
    case 'refitLeft': {
      const logs: string[] = [];
      return { u: refitLeft(o.w, o.b, o.g, { eps: o.eps, maxAttempts: o.maxAttempts, log: (m) => logs.push(m) }), logs };
    }
    case 'gram': {
      if (!o.out) return matrix(o.dim, o.dim, gramUpper(o.x, o.rows, o.dim));
      addGram(o.x, o.rows, o.dim, o.out, o.from, o.to);
      return matrix(o.dim, o.dim, o.out);
    }
  }
}

/** The buffers of a result, transferred back rather than copied (shared ones are shared anyway). */
export function resultBuffers(r: OpResult): ArrayBuffer[] {
  const ms: (Matrix | undefined)[] = 'data' in r ? [r] : 's' in r ? [r.u, r.v] : 'l' in r ? [r.l] : [r.u];
  const out = ms.flatMap((m) => (m ? [m.data.buffer] : []));
  if ('s' in r) out.push(r.s.buffer);
  return out.filter((b): b is ArrayBuffer => !(b instanceof SharedArrayBuffer));
}
