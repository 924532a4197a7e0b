// The one linear-algebra interface of the engine (DESIGN.md "Tensor engine"). The portable
// implementation is float64 JavaScript and is what runs on the wasm and cpu backends: its SVDs,
// Cholesky factors, triangular solves and composite jobs above a small size run on a pool of worker
// threads (pool.ts), so concurrent calls use the machine's cores; on tfjs-node the same calls go
// to TensorFlow's own kernels (native.ts).
import type { Matrix, ReadMatrix } from './matrix';
import { identity } from './matrix';
import type { CholeskyOptions } from './cholesky';
import { eighPortable } from './eigh';
import type { TriOptions } from './triangular';
import { nativeLinalg } from './native';
import { linalgPool, pooled, warmLinalgPool } from './pool';
import { lend, readOnly } from './shared-memory';
import { runOp, type CholeskyParts, type Op, type OpResult, type RefitParts } from './pool-ops';

export interface SvdResult { s: Float64Array /* descending */; u?: Matrix /* m×k */; v?: Matrix /* n×k, NOT Vᵀ */ }
export interface CholeskyResult { l: Matrix /* lower */; shift: number /* 0 if none was needed */; attempts: number }
export interface SvdOptions {
  vectors?: boolean; // default true
  full?: boolean; // default false: thin, k = min(m, n); true: U is m×m and V is n×n
  /** Only the `top` leading columns of U and V (s still holds every value); not with full. */
  top?: number;
}

export interface Linalg {
  readonly name: 'native' | 'portable';
  svd(a: Matrix, opts?: SvdOptions): Promise<SvdResult>;
  /** overwrite: a is the caller's to give up, and its memory may hold L (the portable path factors
   *  in place, with a lent to the job; TensorFlow's kernel returns a new L). */
  cholesky(a: Matrix, opts?: CholeskyOptions & { overwrite?: boolean }): Promise<CholeskyResult>;
  /** left: solves op(T) X = B; right: solves X op(T) = B. */
  solveTriangular(t: Matrix, b: Matrix, opts: TriOptions): Promise<Matrix>;
  invTriangular(t: Matrix, lower: boolean): Promise<Matrix>;
  /** Eigenvalues ascending; eigenvectors as columns. */
  eigh(a: Matrix, opts?: { vectors?: boolean }): Promise<{ values: Float64Array; vectors?: Matrix }>;
  /** The thin SVD, with vectors, of A B (one pool job on the portable path); `top` as in SvdOptions. */
  svdOfProduct(a: ReadMatrix, b: Matrix, top?: number): Promise<SvdResult>;
  /** U = W G Bᵀ (B G Bᵀ)⁻¹ for a symmetric G (a Gram), least-squares.ts (one pool job on the portable path). */
  refitLeft(w: ReadMatrix, b: Matrix, g: Matrix, opts?: CholeskyOptions): Promise<Matrix>;
  /** a, for several later calls to read: never written again by anyone. The portable path then
   *  passes it to each pool job as it is rather than as a copy (shared-memory.ts readOnly). */
  readOnly(a: Matrix): Matrix;
}

/** An op on a pool worker when it is big enough to be worth shipping, else here. */
const run = async (o: Op): Promise<OpResult> => (pooled(o) ? linalgPool().run(o) : runOp(o));

const portable: Linalg = {
  name: 'portable',
  async svd(a, opts = {}) {
    return run({ op: 'svd', a, vectors: opts.vectors ?? true, full: opts.full ?? false, top: opts.top }) as Promise<SvdResult>;
  },
  async cholesky(a, opts = {}) {
    const inPlace = opts.overwrite ?? false;
    if (inPlace) lend(a.data);
    const { logs, ...r } = (await run({ op: 'cholesky', a, eps: opts.eps, maxAttempts: opts.maxAttempts, inPlace })) as CholeskyParts;
    logs.forEach((m) => opts.log?.(m));
    return r;
  },
  async solveTriangular(t, b, opts) {
    return run({ op: 'solve', t, b, o: opts }) as Promise<Matrix>;
  },
  async invTriangular(t, lower) {
    return run({ op: 'solve', t, b: identity(t.rows), o: { lower } }) as Promise<Matrix>;
  },
  async eigh(a, opts = {}) {
    return eighPortable(a, opts.vectors ?? true);
  },
  async svdOfProduct(a, b, top) {
    return run({ op: 'svdOfProduct', a, b, top }) as Promise<SvdResult>;
  },
  async refitLeft(w, b, g, opts = {}) {
    const { u, logs } = (await run({ op: 'refitLeft', w, b, g, eps: opts.eps, maxAttempts: opts.maxAttempts })) as RefitParts;
    logs.forEach((m) => opts.log?.(m));
    return u;
  },
  readOnly,
};

export function portableLinalg(): Linalg {
  return portable;
}

/** Native when the active tfjs backend is tfjs-node's ('tensorflow'), else portable. */
export function getLinalg(): Linalg {
  return nativeLinalg() ?? portable;
}

/** Before a compression: on the portable path, starts the worker pool warming up (pool.ts). */
export function prepareLinalg(): void {
  if (!nativeLinalg()) warmLinalgPool();
}
