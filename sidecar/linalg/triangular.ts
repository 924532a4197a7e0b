// Triangular solves by substitution, float64: SVD-LLM needs V_rᵀ S⁻¹ without forming a general inverse.
import { matrix, type Matrix } from './matrix';

export interface TriOptions { lower: boolean; side?: 'left' | 'right'; transpose?: boolean }

/** left: op(T) X = B; right: X op(T) = B (solved as op(T)ᵀ Xᵀ = Bᵀ). */
export function solveTri(t: Matrix, b: Matrix, o: TriOptions): Matrix {
  const n = t.rows;
  if (t.cols !== n) throw new Error(`solveTriangular: ${t.rows}×${t.cols} is not square`);
  const side = o.side ?? 'left';
  if (side === 'right') {
    if (b.cols !== n) throw new Error(`solveTriangular: B is ${b.rows}×${b.cols}, T is ${n}×${n}`);
    // X op(T) = B  ⇔  op(T)ᵀ Xᵀ = Bᵀ: row i of X solves op(T)ᵀ x = b_i.
    const x = matrix(b.rows, n);
    const effLower = o.transpose ? o.lower : !o.lower; // lower-ness of op(T)ᵀ
    const useT = !o.transpose; // op(T)ᵀ = Tᵀ when no transpose
    for (let r = 0; r < b.rows; r++) {
      const rhs = b.data.subarray(r * n, r * n + n);
      const out = x.data.subarray(r * n, r * n + n);
      substitute(t, rhs, out, effLower, useT);
    }
    return x;
  }
  if (b.rows !== n) throw new Error(`solveTriangular: B is ${b.rows}×${b.cols}, T is ${n}×${n}`);
  const cols = b.cols;
  const x = matrix(n, cols);
  const col = new Float64Array(n);
  const res = new Float64Array(n);
  const effLower = o.transpose ? !o.lower : o.lower;
  for (let c = 0; c < cols; c++) {
    for (let i = 0; i < n; i++) col[i] = b.data[i * cols + c];
    substitute(t, col, res, effLower, !!o.transpose);
    for (let i = 0; i < n; i++) x.data[i * cols + c] = res[i];
  }
  return x;
}

/** Solves M x = rhs with M = T or Tᵀ (transposed reads), M lower or upper triangular. */
function substitute(t: Matrix, rhs: ArrayLike<number>, x: Float64Array, lower: boolean, transposed: boolean): void {
  const n = t.rows;
  const T = t.data;
  const at = transposed ? (i: number, j: number) => T[j * n + i] : (i: number, j: number) => T[i * n + j];
  if (lower) {
    for (let i = 0; i < n; i++) {
      let s = rhs[i];
      for (let j = 0; j < i; j++) s -= at(i, j) * x[j];
      x[i] = s / at(i, i);
    }
  } else {
    for (let i = n - 1; i >= 0; i--) {
      let s = rhs[i];
      for (let j = i + 1; j < n; j++) s -= at(i, j) * x[j];
      x[i] = s / at(i, i);
    }
  }
}
