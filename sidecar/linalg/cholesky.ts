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
 *  undefined when a pivot is not positive. inPlace: L is written into A's own memory, and A is as
 *  it was again when undefined is returned (the shift's retries and λ_min read it). */
export function choleskyOnce(a: Matrix, shift = 0, inPlace = false): Matrix | undefined {
  const n = a.rows;
  // Factored in place, in A or a copy: the lower triangle becomes L (its upper is cleared at the end).
  const L = inPlace ? a : matrix(n, n, Float64Array.from(a.data));
  const l = L.data;
  const saved = inPlace ? diagonalBlocks(l, n) : undefined;
  for (let i = 0; i < n; i++) l[i * n + i] += shift;
  for (let k0 = 0; k0 < n; k0 += NB) {
    const k1 = Math.min(n, k0 + NB);
    // Columns k0..k1−1 of L (the earlier blocks' terms are already subtracted by their trailing
    // updates): the diagonal block, then each row below it by substitution, a row at a time.
    for (let j = k0; j < k1; j++) {
      const rj = j * n;
      let d = l[rj + j];
      for (let k = k0; k < j; k++) d -= l[rj + k] * l[rj + k];
      if (!(d > 0)) {
        if (saved) restore(l, n, saved);
        return undefined;
      }
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

/** Copies of A's NB × NB diagonal blocks: all that factoring writes of A outside its strict lower
 *  triangle before the upper is cleared (the trailing updates cover whole diagonal blocks). */
function diagonalBlocks(l: Float64Array, n: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let b0 = 0; b0 < n; b0 += NB) {
    const b1 = Math.min(n, b0 + NB);
    const block = new Float64Array((b1 - b0) * (b1 - b0));
    for (let i = b0; i < b1; i++) block.set(l.subarray(i * n + b0, i * n + b1), (i - b0) * (b1 - b0));
    out.push(block);
  }
  return out;
}

/** A again after a failed factorization in place: its diagonal blocks from their copies, and the
 *  strict lower triangle outside them from the strict upper one (A is symmetric). */
function restore(l: Float64Array, n: number, blocks: Float64Array[]): void {
  for (let i = 0; i < n; i++) {
    const b0 = i - (i % NB);
    for (let j = 0; j < b0; j++) l[i * n + j] = l[j * n + i];
  }
  blocks.forEach((block, b) => {
    const b0 = b * NB;
    const w = Math.min(n, b0 + NB) - b0;
    for (let i = 0; i < w; i++) l.set(block.subarray(i * w, (i + 1) * w), (b0 + i) * n + b0);
  });
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

const lambdaMin = (a: Matrix) => eighPortable(a, false).values[0];
const portableKernels: CholeskyKernels = { factor: (a, shift) => choleskyOnce(a, shift), lambdaMin };
/** L written into A's memory, for an A its owner gives up (a layer's whitening Gram): one n² float64
 *  array for both instead of A, a working copy and L. */
export const inPlaceKernels: CholeskyKernels = { factor: (a, shift) => choleskyOnce(a, shift, true), lambdaMin };

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
