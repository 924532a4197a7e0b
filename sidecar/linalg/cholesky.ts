// Cholesky with the SVD-LLM fallback (SVDLLM.py, profle_svdllm): when G is not positive definite
// (float32 Gram matrices of rank-deficient activations often are not), add (−λ_min(G) + ε)·I and
// retry; if that still fails, grow ε tenfold. Every shift is reported through `log`.
import { matrix, type Matrix } from './matrix';
import { jacobiEigen } from './jacobi-eigen';

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

export function choleskyShifted(a: Matrix, opts: CholeskyOptions = {}): { l: Matrix; shift: number; attempts: number } {
  if (a.rows !== a.cols) throw new Error(`cholesky: ${a.rows}×${a.cols} is not square`);
  const direct = choleskyOnce(a);
  if (direct) return { l: direct, shift: 0, attempts: 1 };
  const lambdaMin = jacobiEigen(a, false).values[0];
  let eps = opts.eps ?? 1e-6;
  const maxAttempts = opts.maxAttempts ?? 8;
  for (let attempt = 2; attempt <= maxAttempts; attempt++, eps *= 10) {
    const shift = Math.max(0, -lambdaMin) + eps;
    opts.log?.(`cholesky: matrix ${a.rows}×${a.rows} not positive definite (λ_min = ${lambdaMin.toExponential(3)}); retrying with diagonal shift ${shift.toExponential(3)}`);
    const l = choleskyOnce(a, shift);
    if (l) return { l, shift, attempts: attempt };
  }
  throw new Error(`cholesky: still not positive definite after ${maxAttempts} attempts (λ_min = ${lambdaMin.toExponential(3)})`);
}
