// Splitting a truncated SVD into the two stored factors, Σ^½ on each side (METHODS.md "Plain SVD"),
// so both factors have the same scale and BF16 rounding hurts neither more than the other.
import type { Matrix } from '../linalg/matrix';
import type { SvdResult } from '../linalg';

export function keptEnergy(s: Float64Array, kept: number[]): number {
  let all = 0;
  let part = 0;
  for (const x of s) all += x * x;
  for (const i of kept) part += s[i] * s[i];
  return all > 0 ? part / all : 1;
}

export function topIndices(r: number): number[] {
  return Array.from({ length: r }, (_, i) => i);
}

/** u = U_K Σ_K^½ [m, k]; vt = Σ_K^½ V_Kᵀ [k, n] (still to be multiplied by S⁻¹ by whitening methods). */
export function splitFactors(svd: SvdResult, kept: number[]): { u: Matrix; vt: Matrix } {
  const U = svd.u!;
  const V = svd.v!;
  const m = U.rows;
  const n = V.rows;
  const k = kept.length;
  const u = { rows: m, cols: k, data: new Float64Array(m * k) };
  const vt = { rows: k, cols: n, data: new Float64Array(k * n) };
  kept.forEach((idx, j) => {
    const root = Math.sqrt(svd.s[idx]);
    for (let i = 0; i < m; i++) u.data[i * k + j] = U.data[i * U.cols + idx] * root;
    for (let i = 0; i < n; i++) vt.data[j * n + i] = V.data[i * V.cols + idx] * root;
  });
  return { u, vt };
}
