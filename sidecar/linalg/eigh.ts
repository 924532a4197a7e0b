// Symmetric eigendecomposition through the SVD of a shifted copy: with c ≥ ρ(A), A + cI is positive
// semi-definite, so its singular values are λᵢ + c and its left singular vectors are eigenvectors of
// A ((A + cI)u = σu follows from (A + cI)²u = σ²u for a PSD square root). Errors are those of the SVD,
// about ε·(‖A‖ + c) ≤ 2ε·‖A‖_F absolute, the same order as LAPACK's syevd.
import { matrix, type Matrix } from './matrix';
import { svdPortable } from './svd';

export function eighPortable(a: Matrix, vectors: boolean): { values: Float64Array; vectors?: Matrix } {
  const n = a.rows;
  if (n !== a.cols) throw new Error(`eigh: ${a.rows}×${a.cols} is not square`);
  const x = new Float64Array(n * n);
  // Symmetrise (Gram matrices accumulated in floating point are slightly asymmetric) and bound ρ(A)
  // by the largest absolute row sum.
  let c = 0;
  for (let i = 0; i < n; i++) {
    let rowSum = 0;
    for (let j = 0; j < n; j++) {
      const v = (a.data[i * n + j] + a.data[j * n + i]) / 2;
      x[i * n + j] = v;
      rowSum += Math.abs(v);
    }
    c = Math.max(c, rowSum);
  }
  for (let i = 0; i < n; i++) x[i * n + i] += c;
  const { s, u } = svdPortable(matrix(n, n, x), vectors, false);
  // Singular values descend; eigenvalues are returned ascending.
  const values = Float64Array.from(s, (_, i) => s[n - 1 - i] - c);
  if (!u) return { values };
  const out = matrix(n, n);
  for (let r = 0; r < n; r++) for (let j = 0; j < n; j++) out.data[r * n + j] = u.data[r * n + (n - 1 - j)];
  return { values, vectors: out };
}
