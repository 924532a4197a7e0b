// Triangular solves by substitution, float64: SVD-LLM needs V_rᵀ S⁻¹ without forming a general inverse.
// op(T) is first copied row-major, so every inner loop runs along rows (of op(T), of X, of B): with
// the transposed or strided reads of a textbook substitution these solves took 17% of an SVD-LLM
// run on the reference model (bench/compress.ts profile), more than the Cholesky factorizations.
import { gemmStrided, matrix, transposeData, type Matrix } from './matrix';

export interface TriOptions { lower: boolean; side?: 'left' | 'right'; transpose?: boolean }

/** left: op(T) X = B; right: X op(T) = B. */
export function solveTri(t: Matrix, b: Matrix, o: TriOptions): Matrix {
  const n = t.rows;
  if (t.cols !== n) throw new Error(`solveTriangular: ${t.rows}×${t.cols} is not square`);
  const M = o.transpose ? transposeData(t.data, n, n) : t.data;
  const lower = o.transpose ? !o.lower : o.lower; // of op(T)
  if ((o.side ?? 'left') === 'right') {
    if (b.cols !== n) throw new Error(`solveTriangular: B is ${b.rows}×${b.cols}, T is ${n}×${n}`);
    const x = matrix(b.rows, n, Float64Array.from(b.data));
    solveRightBlocked(M, n, x.data, b.rows, lower);
    return x;
  }
  if (b.rows !== n) throw new Error(`solveTriangular: B is ${b.rows}×${b.cols}, T is ${n}×${n}`);
  const x = matrix(n, b.cols, Float64Array.from(b.data));
  solveLeft(M, n, x.data, b.cols, lower);
  return x;
}

/**
 * M X = B in place (X holds B on entry; n×cols row-major): row i of X is row i of B minus a
 * combination of the rows already solved, divided by M_ii. The rows are combined four at a time
 * so each pass over row i loads it once for four updates.
 */
function solveLeft(M: Float64Array, n: number, X: Float64Array, cols: number, lower: boolean): void {
  for (let s = 0; s < n; s++) {
    const i = lower ? s : n - 1 - s;
    const xi = i * cols;
    const mi = i * n;
    // Solved rows: 0..i−1 (lower) or i+1..n−1 (upper).
    const k0 = lower ? 0 : i + 1;
    const k1 = lower ? i : n;
    let k = k0;
    for (; k + 3 < k1; k += 4) {
      const a0 = M[mi + k], a1 = M[mi + k + 1], a2 = M[mi + k + 2], a3 = M[mi + k + 3];
      const x0 = k * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
      for (let c = 0; c < cols; c++) X[xi + c] -= a0 * X[x0 + c] + a1 * X[x1 + c] + a2 * X[x2 + c] + a3 * X[x3 + c];
    }
    for (; k < k1; k++) {
      const a = M[mi + k];
      const xk = k * cols;
      for (let c = 0; c < cols; c++) X[xi + c] -= a * X[xk + c];
    }
    const d = 1 / M[mi + i];
    for (let c = 0; c < cols; c++) X[xi + c] *= d;
  }
}

/** Columns of X per block of the right solve. */
const NB = 32;

/**
 * X M = B in place, by blocks of NB columns taken in the order substitution needs
 * them (down for lower M, up for upper): a block is solved by solveRight against M's diagonal
 * block, then its contribution leaves the columns still unsolved as one product on the WebAssembly
 * kernel, X(:, rest) −= X(:, block) M(block, rest). 149 × 688 (SVD-LLM's V_rᵀ S⁻¹ for down_proj):
 * 24 ms by substitution alone (a throwaway probe, one thread).
 */
function solveRightBlocked(M: Float64Array, n: number, X: Float64Array, rows: number, lower: boolean): void {
  for (let b = 0; b < n; b += NB) {
    const j0 = lower ? Math.max(0, n - b - NB) : b;
    const j1 = lower ? n - b : Math.min(n, b + NB);
    const kb = j1 - j0;
    solveRight(M, n, X, rows, lower, j0, j1);
    // The unsolved columns: 0..j0−1 (lower) or j1..n−1 (upper).
    const [c0, c1] = lower ? [0, j0] : [j1, n];
    if (c1 === c0) continue;
    // Bᵀ(c, k) = M(j0 + k, c0 + c), packed from M's rows (kMajor); the solved block's columns are
    // not the ones updated.
    gemmStrided({ data: X, at: j0, ld: n }, { data: M, at: j0 * n + c0, ld: n, kMajor: true }, rows, kb, c1 - c0, { data: X, at: c0, ld: n }, true);
  }
}

/**
 * X(:, j0:j1) M(j0:j1, j0:j1) = X(:, j0:j1) in place (X is rows×n row-major). Row by row, x M = b is solved column by
 * column: once x_j is known, x_j·M[j, ·] is subtracted from the columns still unsolved (row j of M,
 * contiguous). Four rows of X share each pass over a row of M, so M streams through cache a quarter
 * as often.
 */
function solveRight(M: Float64Array, n: number, X: Float64Array, rows: number, lower: boolean, j0: number, j1: number): void {
  const w = j1 - j0;
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const o0 = r * n, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
    for (let s = 0; s < w; s++) {
      // Lower M: b_j depends on x_j..x_{n−1}, so j runs down and updates columns below j; upper: up.
      const j = lower ? j1 - 1 - s : j0 + s;
      const mj = j * n;
      const d = 1 / M[mj + j];
      const x0 = (X[o0 + j] *= d), x1 = (X[o1 + j] *= d), x2 = (X[o2 + j] *= d), x3 = (X[o3 + j] *= d);
      const c0 = lower ? j0 : j + 1;
      const c1 = lower ? j : j1;
      for (let c = c0; c < c1; c++) {
        const m = M[mj + c];
        X[o0 + c] -= x0 * m;
        X[o1 + c] -= x1 * m;
        X[o2 + c] -= x2 * m;
        X[o3 + c] -= x3 * m;
      }
    }
  }
  for (; r < rows; r++) {
    const o = r * n;
    for (let s = 0; s < w; s++) {
      const j = lower ? j1 - 1 - s : j0 + s;
      const mj = j * n;
      const x = (X[o + j] *= 1 / M[mj + j]);
      const c0 = lower ? j0 : j + 1;
      const c1 = lower ? j : j1;
      for (let c = c0; c < c1; c++) X[o + c] -= x * M[mj + c];
    }
  }
}
