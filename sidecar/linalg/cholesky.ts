// Cholesky with the SVD-LLM fallback (SVDLLM.py, profle_svdllm): when G is not positive definite
// (float32 Gram matrices of rank-deficient activations often are not), add (−λ_min(G) + ε)·I and
// retry; if that still fails, grow ε tenfold. Every shift is reported through `log`.
import { gemmStrided, matrix, type Matrix } from './matrix';
import { eighPortable } from './eigh';

/** Columns per block: each block's columns by substitution, then the trailing lower triangle's update
 *  as products on the WebAssembly kernel (gemmStrided). 688²: 64 ms unblocked, 14 ms blocked (a
 *  throwaway probe, one thread; 64 columns a block took 18 ms). */
const NB = 32;

/** Lower-triangular L with L Lᵀ = A + shift·I (LAPACK's potrf, right-looking and blocked), or
 *  undefined when a pivot is not positive. */
export function choleskyOnce(a: Matrix, shift = 0): Matrix | undefined {
  const n = a.rows;
  // Factored in place in a copy of A: the lower triangle becomes L (its upper is cleared at the end).
  const L = matrix(n, n, Float64Array.from(a.data));
  const l = L.data;
  for (let i = 0; i < n; i++) l[i * n + i] += shift;
  for (let k0 = 0; k0 < n; k0 += NB) {
    const k1 = Math.min(n, k0 + NB);
    // Columns k0..k1−1 of L (the earlier blocks' terms are already subtracted by their trailing
    // updates): the diagonal block, then each row below it by substitution, a row at a time.
    for (let j = k0; j < k1; j++) {
      const rj = j * n;
      let d = l[rj + j];
      for (let k = k0; k < j; k++) d -= l[rj + k] * l[rj + k];
      if (!(d > 0)) return undefined;
      l[rj + j] = Math.sqrt(d);
      for (let i = j + 1; i < k1; i++) substitute(l, n, i, j, k0);
    }
    for (let i = k1; i < n; i++) for (let j = k0; j < k1; j++) substitute(l, n, i, j, k0);
    if (k1 === n) break;
    // A(k1:, k1:) −= L21 L21ᵀ on and below the diagonal, a block row at a time (L21's columns are
    // not the ones updated).
    const kb = k1 - k0;
    for (let r0 = k1; r0 < n; r0 += NB) {
      const r1 = Math.min(n, r0 + NB);
      gemmStrided({ data: l, at: r0 * n + k0, ld: n }, { data: l, at: k1 * n + k0, ld: n }, r1 - r0, kb, r1 - k1, { data: l, at: r0 * n + k1, ld: n }, true);
    }
  }
  for (let i = 0; i < n; i++) l.fill(0, i * n + i + 1, (i + 1) * n);
  return L;
}

/** L(i, j) = (A(i, j) − Σ_{k0 ≤ k < j} L(i, k) L(j, k)) / L(j, j), in place. */
function substitute(l: Float64Array, n: number, i: number, j: number, k0: number): void {
  const ri = i * n;
  const rj = j * n;
  let s = l[ri + j];
  for (let k = k0; k < j; k++) s -= l[ri + k] * l[rj + k];
  l[ri + j] = s / l[rj + j];
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
