// The one linear-algebra interface of the engine (DESIGN.md "Tensor engine"). The portable
// implementation is float64 JavaScript and is what runs on the wasm and cpu backends.
// Native TensorFlow kernels (Svd, Cholesky, ...) through tfjs-node are not wired in yet: the native
// packages cannot be installed or tested on our CI machines, so every backend uses this path.
import type { Matrix } from './matrix';
import { jacobiSvd } from './jacobi-svd';
import { choleskyShifted, type CholeskyOptions } from './cholesky';
import { jacobiEigen } from './jacobi-eigen';
import { solveTri, type TriOptions } from './triangular';
import { identity } from './matrix';

export interface SvdResult { s: Float64Array; u?: Matrix; v?: Matrix }
export interface CholeskyResult { l: Matrix; shift: number; attempts: number }

export interface Linalg {
  readonly name: 'native' | 'portable';
  svd(a: Matrix, opts?: { vectors?: boolean }): Promise<SvdResult>;
  cholesky(a: Matrix, opts?: CholeskyOptions): Promise<CholeskyResult>;
  solveTriangular(t: Matrix, b: Matrix, opts: TriOptions): Promise<Matrix>;
  invTriangular(t: Matrix, lower: boolean): Promise<Matrix>;
  eigh(a: Matrix, opts?: { vectors?: boolean }): Promise<{ values: Float64Array; vectors?: Matrix }>;
}

const portable: Linalg = {
  name: 'portable',
  async svd(a, opts = {}) {
    const { s, u, v } = jacobiSvd(a, opts.vectors ?? true);
    return { s, u, v };
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
    return jacobiEigen(a, opts.vectors ?? true);
  },
};

export function portableLinalg(): Linalg {
  return portable;
}

export function getLinalg(): Linalg {
  return portable;
}
