// The one linear-algebra interface of the engine (DESIGN.md "Tensor engine"). The portable
// implementation is float64 JavaScript and is what runs on the wasm and cpu backends: its SVDs run
// on a pool of worker threads (pool.ts), so concurrent calls use the machine's cores; on tfjs-node
// the same calls go to TensorFlow's own kernels (native.ts).
import type { Matrix } from './matrix';
import { identity } from './matrix';
import { svdPortable } from './svd';
import { choleskyShifted, type CholeskyOptions } from './cholesky';
import { eighPortable } from './eigh';
import { solveTri, type TriOptions } from './triangular';
import { nativeLinalg } from './native';
import { svdPool } from './pool';

/** Below this much work (m·n·min(m, n)) an SVD runs on the calling thread: shipping it costs more. */
const POOL_MIN_WORK = 64 ** 3;

export interface SvdResult { s: Float64Array /* descending */; u?: Matrix /* m×k */; v?: Matrix /* n×k, NOT Vᵀ */ }
export interface CholeskyResult { l: Matrix /* lower */; shift: number /* 0 if none was needed */; attempts: number }
export interface SvdOptions {
  vectors?: boolean; // default true
  full?: boolean; // default false: thin, k = min(m, n); true: U is m×m and V is n×n
}

export interface Linalg {
  readonly name: 'native' | 'portable';
  svd(a: Matrix, opts?: SvdOptions): Promise<SvdResult>;
  cholesky(a: Matrix, opts?: CholeskyOptions): Promise<CholeskyResult>;
  /** left: solves op(T) X = B; right: solves X op(T) = B. */
  solveTriangular(t: Matrix, b: Matrix, opts: TriOptions): Promise<Matrix>;
  invTriangular(t: Matrix, lower: boolean): Promise<Matrix>;
  /** Eigenvalues ascending; eigenvectors as columns. */
  eigh(a: Matrix, opts?: { vectors?: boolean }): Promise<{ values: Float64Array; vectors?: Matrix }>;
}

const portable: Linalg = {
  name: 'portable',
  async svd(a, opts = {}) {
    const vectors = opts.vectors ?? true;
    const full = opts.full ?? false;
    if (a.rows * a.cols * Math.min(a.rows, a.cols) >= POOL_MIN_WORK) return svdPool().svd(a, { vectors, full });
    return svdPortable(a, vectors, full);
  },
  async cholesky(a, opts) {
    return choleskyShifted(a, opts);
  },
  async solveTriangular(t, b, opts) {
    return solveTri(t, b, opts);
  },
  async invTriangular(t, lower) {
    return solveTri(t, identity(t.rows), { lower });
  },
  async eigh(a, opts = {}) {
    return eighPortable(a, opts.vectors ?? true);
  },
};

export function portableLinalg(): Linalg {
  return portable;
}

/** Native when the active tfjs backend is tfjs-node's ('tensorflow'), else portable. */
export function getLinalg(): Linalg {
  return nativeLinalg() ?? portable;
}
