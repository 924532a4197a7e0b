// Ratio to rank (METHODS.md "Ratio to rank", the SVD-LLM code's rule): keeping a fraction p of an
// m×n matrix as W_u W_v gives r = floor(p·m·n/(m+n)); when r(m+n) ≥ m·n factorizing saves
// nothing and the matrix stays dense.
import { PlanError } from '../errors';
import { globToRegExp } from './glob';
import type { Plan } from './plan';

export interface RankDecision {
  name: string;
  shape: [number, number];
  /** undefined: keep dense (not targeted, or factorizing would not save parameters). */
  rank?: number;
  /** Why it is dense, for the report. */
  reason?: string;
}

export function rankForRatio(m: number, n: number, ratio: number): number {
  return Math.floor(((1 - ratio) * m * n) / (m + n));
}

export function savesParameters(m: number, n: number, r: number): boolean {
  return r * (m + n) < m * n;
}

/** Decides each projection's rank from the plan: overrides (last match wins) beat the global ratio. */
export function decideRanks(plan: Pick<Plan, 'ratio' | 'overrides' | 'targets'>, matrices: { name: string; shape: [number, number] }[]): RankDecision[] {
  const targets = plan.targets.map(globToRegExp);
  const overrides = plan.overrides.map((o) => ({ ...o, re: globToRegExp(o.match) }));
  const used = new Set<number>();
  const out = matrices.map(({ name, shape }): RankDecision => {
    const [m, n] = shape;
    let k = -1;
    overrides.forEach((o, i) => { if (o.re.test(name)) k = i; });
    if (k < 0 && !targets.some((t) => t.test(name))) return { name, shape, reason: 'not targeted' };
    let rank: number;
    if (k >= 0) {
      used.add(k);
      const o = overrides[k];
      if (o.rank !== undefined && o.rank > Math.min(m, n)) {
        throw new PlanError(`plan: "overrides[${k}].rank" ${o.rank} exceeds min(${m}, ${n}) of ${name}`);
      }
      rank = o.rank ?? rankForRatio(m, n, o.ratio ?? 0);
    } else rank = rankForRatio(m, n, plan.ratio);
    if (rank < 1) throw new PlanError(`plan: the ratio for ${name} (${m}×${n}) leaves rank 0; lower "ratio" or give a "rank" override`);
    if (!savesParameters(m, n, rank)) return { name, shape, reason: `rank ${rank} saves no parameters` };
    return { name, shape, rank };
  });
  overrides.forEach((o, i) => {
    if (!used.has(i) && !matrices.some((mat) => o.re.test(mat.name))) {
      throw new PlanError(`plan: "overrides[${i}].match" "${o.match}" matches no projection of the model`);
    }
  });
  return out;
}
