// The least-squares refit of a left factor (SVD-LLM's closed-form update, METHODS.md): with the
// right factor B fixed, the U minimising ‖(W − U B) X‖_F over inputs X, from their Gram G = X Xᵀ
// alone: U = W G Bᵀ (B G Bᵀ)⁻¹. B G Bᵀ is r × r and factored by Cholesky (with the logged SVD-LLM
// shift when G is rank-deficient). One function, so that a pool worker runs it as one job.
import { matmul, transpose, type Matrix } from './matrix';
import { choleskyShifted, type CholeskyOptions } from './cholesky';
import { solveTri } from './triangular';

export function refitLeft(w: Matrix, b: Matrix, g: Matrix, o: CholeskyOptions = {}): Matrix {
  const bg = matmul(b, g); // r × n
  const a = matmul(bg, b, { transB: true }); // r × r
  const rhs = matmul(bg, w, { transB: true }); // r × m
  const { l } = choleskyShifted(a, o);
  const y = solveTri(l, rhs, { lower: true });
  return transpose(solveTri(l, y, { lower: true, transpose: true }));
}
