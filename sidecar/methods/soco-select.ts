// SoCo's pruning decision: which components survive, by learned score, under one global parameter
// budget; and folding the surviving scores into the two stored factors.
import type { SvdResult } from '../linalg';
import type { Matrix } from '../linalg/matrix';
import { splitFactors } from './factors';

export interface Selection {
  /** Kept component indices per matrix, ascending (= descending σ). All of them when dense. */
  kept: number[][];
  /** Matrices whose kept count would store ≥ m·n parameters: written dense (original weight). */
  dense: boolean[];
  /** Parameters the selection stores: Σ min(k_j (m_j + n_j), m_j n_j). */
  params: number;
}

/**
 * Greedy by score, largest first (ties: larger σ, then earlier matrix): a component is kept when its
 * parameters still fit the budget, so the total lands within one component of the smallest
 * remaining matrix under it. Every matrix keeps its best component first (a factorization needs rank
 * ≥ 1; the plan's ranks, which set the budget, are all ≥ 1). Once k(m+n) ≥ m·n a matrix is dense: it
 * costs m·n and its other components come free.
 */
export function selectComponents(mats: { shape: [number, number]; score: ArrayLike<number> }[], budget: number): Selection {
  const kept = mats.map(() => [] as number[]);
  const dense = mats.map(() => false);
  const cost = (j: number, k: number) => Math.min(k * (mats[j].shape[0] + mats[j].shape[1]), mats[j].shape[0] * mats[j].shape[1]);
  let params = 0;
  const add = (j: number, i: number): void => {
    const extra = cost(j, kept[j].length + 1) - cost(j, kept[j].length);
    if (dense[j] || params + extra > budget) return;
    params += extra;
    kept[j].push(i);
    const [m, n] = mats[j].shape;
    if (kept[j].length * (m + n) >= m * n) {
      dense[j] = true;
      kept[j] = Array.from({ length: mats[j].score.length }, (_, x) => x);
    }
  };
  const order: { j: number; i: number; s: number }[] = [];
  mats.forEach((mat, j) => {
    let best = 0;
    for (let i = 0; i < mat.score.length; i++) {
      if (mat.score[i] > mat.score[best]) best = i;
    }
    add(j, best);
    for (let i = 0; i < mat.score.length; i++) if (i !== best) order.push({ j, i, s: mat.score[i] });
  });
  order.sort((a, b) => b.s - a.s || a.i - b.i || a.j - b.j);
  for (const { j, i } of order) add(j, i);
  kept.forEach((k) => k.sort((a, b) => a - b));
  return { kept, dense, params };
}

/** W_u = U_K diag(σ_K s_K)^½ [m, k], W_v = diag(σ_K s_K)^½ V_Kᵀ [k, n]; s ≥ 0. */
export function foldScores(svd: { s: Float64Array; u: Matrix; v: Matrix }, score: ArrayLike<number>, kept: number[]): { u: Matrix; vt: Matrix } {
  const scaled: SvdResult = { s: svd.s.map((x, i) => x * score[i]), u: svd.u, v: svd.v };
  return splitFactors(scaled, kept);
}
