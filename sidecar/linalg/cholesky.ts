// Cholesky with the SVD-LLM fallback (SVDLLM.py, profle_svdllm): when G is not positive definite
// (float32 Gram matrices of rank-deficient activations often are not), add (−λ_min(G) + ε)·I and
// retry; if that still fails, grow ε tenfold. Every shift is reported through `log`.
import { matrix, type Matrix } from './matrix';
import { eighPortable } from './eigh';

/** Lower-triangular L with L Lᵀ = A, or undefined when a pivot is not positive. */
export function choleskyOnce(a: Matrix, shift = 0): Matrix | undefined {
  const n = a.rows;
  const L = matrix(n, n);
  const l = L.data;
  for (let j = 0; j < n; j++) {
    let d = a.data[j * n + j] + shift;
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0)) return undefined;
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a.data[i * n + j];
      const ri = i * n;
      const rj = j * n;
      for (let k = 0; k < j; k++) s -= l[ri + k] * l[rj + k];
      l[ri + j] = s / ljj;
    }
  }
  return L;
}

export interface CholeskyOptions { eps?: number; maxAttempts?: number; log?: (msg: string) => void }

/** The two kernels the rule needs; the native backend supplies TensorFlow's. */
export interface CholeskyKernels {
  factor(a: Matrix, shift: number): Matrix | undefined;
  lambdaMin(a: Matrix): number;
}

const portableKernels: CholeskyKernels = { factor: choleskyOnce, lambdaMin: (a) => eighPortable(a, false).values[0] };

/**
 * The shift is max(0, −λ_min) + ε rather than the authors' −λ_min + ε so that a matrix whose λ_min is
 * positive but tiny (factorisation failed through rounding) is not shifted downwards.
 */
export function choleskyShifted(a: Matrix, opts: CholeskyOptions = {}, kernels = portableKernels): { l: Matrix; shift: number; attempts: number } {
  if (a.rows !== a.cols) throw new Error(`cholesky: ${a.rows}×${a.cols} is not square`);
  const direct = kernels.factor(a, 0);
  if (direct) return { l: direct, shift: 0, attempts: 1 };
  const lambdaMin = kernels.lambdaMin(a);
  let eps = opts.eps ?? 1e-6;
  const maxAttempts = opts.maxAttempts ?? 8;
  for (let attempt = 2; attempt <= maxAttempts; attempt++, eps *= 10) {
    const shift = Math.max(0, -lambdaMin) + eps;
    opts.log?.(`cholesky: matrix ${a.rows}×${a.rows} not positive definite (λ_min = ${lambdaMin.toExponential(3)}); retrying with diagonal shift ${shift.toExponential(3)}`);
    const l = kernels.factor(a, shift);
    if (l) return { l, shift, attempts: attempt };
  }
  throw new Error(`cholesky: still not positive definite after ${maxAttempts} attempts (λ_min = ${lambdaMin.toExponential(3)})`);
}
