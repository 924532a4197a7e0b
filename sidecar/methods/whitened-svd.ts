// The algebra shared by the activation-aware methods (METHODS.md "ASVD", "SVD-LLM"): truncate the
// SVD of W S for an input transform S, fold S⁻¹ back into W_v, and SVD-LLM's closed-form refit of
// W_u. Float64 throughout; the caller converts the factors to float32 for the checkpoint.
import { getLinalg, type SvdResult } from '../linalg';
import { matrix, type Matrix, type ReadMatrix } from '../linalg/matrix';
import { keptEnergy, splitFactors, topIndices } from './factors';

export interface TruncatedFactors {
  /** W_u = U_r Σ_r^½, m × r. */
  u: Matrix;
  /** W_v = Σ_r^½ V_rᵀ S⁻¹, r × n. */
  v: Matrix;
  /** Every singular value of W S, descending. */
  sigma: Float64Array;
  kept: number[];
  keptEnergy: number;
}

function truncate(svd: SvdResult, rank: number): { u: Matrix; vt: Matrix; kept: number[]; energy: number } {
  if (!(rank >= 1 && rank <= svd.s.length)) throw new Error(`rank ${rank} outside 1..${svd.s.length}`);
  const kept = topIndices(rank);
  return { ...splitFactors(svd, kept), kept, energy: keptEnergy(svd.s, kept) };
}

/** SVD-LLM truncation-aware whitening with S lower triangular (the Cholesky factor of X Xᵀ). */
export async function whitenedTruncation(w: ReadMatrix, s: Matrix, rank: number): Promise<TruncatedFactors> {
  const la = getLinalg();
  const svd = await la.svdOfProduct(w, s, rank);
  const t = truncate(svd, rank);
  // Σ^½ V_rᵀ S⁻¹ as the solution of X S = Σ^½ V_rᵀ (METHODS.md: no general inverse; the authors'
  // code forms torch.linalg.inv(S)).
  const v = await la.solveTriangular(s, t.vt, { lower: true, side: 'right' });
  return { u: t.u, v, sigma: svd.s, kept: t.kept, keptEnergy: t.energy };
}

/** ASVD: S = diag(scale), so W S scales columns and S⁻¹ divides them back. */
export async function scaledTruncation(w: Matrix, scale: Float64Array, rank: number): Promise<TruncatedFactors> {
  const { rows: m, cols: n } = w;
  if (scale.length !== n) throw new Error(`scale of ${scale.length} for ${m}×${n}`);
  const ws = matrix(m, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) ws.data[i * n + j] = w.data[i * n + j] * scale[j];
  const svd = await getLinalg().svd(ws, { top: rank });
  const t = truncate(svd, rank);
  const r = t.vt.rows;
  for (let k = 0; k < r; k++) for (let j = 0; j < n; j++) t.vt.data[k * n + j] /= scale[j];
  return { u: t.u, v: t.vt, sigma: svd.s, kept: t.kept, keptEnergy: t.energy };
}

export interface UpdateOptions { eps?: number; log?: (msg: string) => void }

/**
 * SVD-LLM's closed-form update (SVDLLM.py, local_update): with W_v = B fixed, the W_u minimising
 * ‖W X̂ − W_u B X̂‖_F over the update inputs X̂, from their Gram Ĝ = X̂ X̂ᵀ alone:
 * W_u = W Ĝ Bᵀ (B Ĝ Bᵀ)⁻¹ (linalg/least-squares.ts). The authors solve the tall least-squares
 * problem x Uᵀ = Y with x = X̂ᵀ Bᵀ Σ^½ (torch.linalg.lstsq) and then multiply by Σ^½; both give
 * this W_u, and the normal equations need only the n × n Gram, not the tokens.
 */
export async function updatedU(w: ReadMatrix, b: Matrix, gHat: Matrix, o: UpdateOptions = {}): Promise<Matrix> {
  return getLinalg().refitLeft(w, b, gHat, o);
}
