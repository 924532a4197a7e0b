// The least-squares refit of a left factor (SVD-LLM's closed-form update, METHODS.md): with the
// right factor B fixed, the U minimising ‖(W − U B) X‖_F over inputs X, from their Gram G = X Xᵀ
// alone: U = W G Bᵀ (B G Bᵀ)⁻¹, G symmetric. B G Bᵀ is r × r and factored by Cholesky (with the logged SVD-LLM
// shift when G is rank-deficient). One function, so that a pool worker runs it as one job.
import { matmul, type Matrix, type ReadMatrix } from './matrix';
import { choleskyShifted, type CholeskyOptions } from './cholesky';
import { solveTri } from './triangular';

export function refitLeft(w: ReadMatrix, b: Matrix, g: Matrix, o: CholeskyOptions = {}): Matrix {
  // B G as B Gᵀ: G is symmetric (a Gram, mirrored exactly), and matmul would otherwise transpose it.
  const bg = matmul(b, g, { transB: true }); // r × n
  const a = matmul(bg, b, { transB: true }); // r × r
  const wgb = matmul(w, bg, { transB: true }); // m × r: W G Bᵀ
  const { l } = choleskyShifted(a, o);
  // U = W G Bᵀ (L Lᵀ)⁻¹ as two right solves, U L = Y and Y Lᵀ = W G Bᵀ: their bulk runs as products
  // on the WebAssembly kernel (triangular.ts). As left solves on (W G Bᵀ)ᵀ, by substitution in
  // JavaScript, they took 0.2 CPU-s of a compression of the reference model (perf).
  const y = solveTri(l, wgb, { lower: true, transpose: true, side: 'right' });
  return solveTri(l, y, { lower: true, side: 'right' });
}
