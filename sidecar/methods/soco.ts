// SoCo (Li et al., arXiv 2502.15092, "Optimizing Singular Spectrum for Large Language Model
// Compression"), METHODS.md "SoCo". No public code exists and the paper's full text was not
// available while writing this (only its abstract, the OpenReview summary, openreview.net/forum?
// id=SNVu84wBhH, and third-party summaries such as sciencestack.ai/paper/2502.15092); what those
// give is marked [paper], everything else is [choice]. No loss formula, threshold, weight, learning
// rate or stage length could be taken from them.
//
// Model. [paper] Every targeted projection W = U diag(σ) Vᵀ runs as U diag(σ ⊙ s) Vᵀ with a
// learnable score vector s initialised to 1. [choice] Plain (not whitened) SVD of W, full thin rank;
// σ stays fixed and s is the variable: the layer holds u = U diag(σ), v = Vᵀ and s between them
// (linear.ts's factored Linear with s), so Adam's steps are relative to each component's own scale.
// The whole model is resident and the gradient flows through every layer (soco-model.ts).
//
// Losses, per step on `batchSize` calibration windows (order: seeded by calibration.seed):
// - L_inc [paper]: KL(original ‖ compressed) of the next-token distributions, [choice] averaged
//   over every position of the batch. The teacher runs once, before training, and is reduced to
//   p·headᵀ per position (soco-losses.ts teacherTerms), exact and without [tokens, vocab] tensors.
// - L_dec [paper: drives the current parameter ratio, counted from the components with s above a
//   small threshold, toward the target]. [choice] The target is the budget B = Σ r_j (m_j + n_j) of
//   the plan's ranks (ratio rule and overrides), so SoCo stores no more than plain SVD at the same
//   plan; R = B / Σ m_j n_j ≈ 1 − ratio. L_dec = max(0, P − B) / unit with P the hard count
//   Σ (m_j + n_j)·#{s > τ} and unit the parameters of an average component; its gradient is that
//   of the soft count Σ (m_j + n_j)·clip(s, 0, 1) (straight-through). One-sided: under budget it is
//   0, which is what "off while the ratio holds" needs. Its weight λ starts from a data-derived
//   scale (soco-train.ts probeScale) times decWeight and grows by decGrowth per stage-1 step.
// - Sparsity [paper: polarises s toward 0 or large values]. [choice] Once stage 3 fixes the
//   decisions, pruned scores get an L1 pull to 0 and kept ones a hinge up to ≥ 1 (undoing L_dec's
//   shrinkage), weight sparsityWeight·λ; scores are projected to ≥ 0 after every step.
// Stages [paper: (1) rapid/coarse compression until the ratio is reached, (2) alternating
// ("oscillation") refinement, (3) sparsification, in one continuous run]: (1) L_inc + λ L_dec with growing λ until P ≤ B, at most
// coarseSteps (the rest goes to stage 2); (2) L_dec on only while P > B, so over-pruned components
// can come back; (3) sparsifySteps with the decisions fixed. soco-schedule.ts.
//
// Pruning [paper: by the learned scores, not σ]. [choice] At the start of stage 3: components by
// score s (largest first, ties by σ) under the exact budget, every matrix keeping at least one
// (soco-select.ts); a matrix whose count k gives k(m+n) ≥ m·n is written dense (the original W, its
// scores frozen at 1 in stage 3). Kept scores are folded in: W_u = U_K diag(σ_K s_K)^½,
// W_v = diag(σ_K s_K)^½ V_Kᵀ. keptEnergy reports Σ_K σ² / Σ σ² of W.
// Layers in plan.removeLayers are in the teacher only. Defaults [choice, the paper's were not
// available]: Adam, lr 0.05, 2 windows per step, stages of 60/60/30 steps, τ = 0.05, decWeight 1,
// decGrowth 1.1, sparsityWeight 1: 438 s end to end for rankwise-brown-14m at ratio 0.2 (16 × 256
// calibration tokens, 2 wasm threads shared with another job, ~2.6 s a step), perplexity
// 292.38 → 292.17 on 24 Brown validation windows. Two gradient fixes make the step that fast: tensor/gradients.ts (4 windows: 20–30 s
// to 9–13 s) and the softmax gradient of logsumexp in soco-losses.ts (then 6.5 s).
// Plan block `"soco": { "optimizer", "learningRate", "batchSize", "coarseSteps", "refineSteps",
// "sparsifySteps", "threshold", "decWeight", "decGrowth", "sparsityWeight" }`.
import { throwIfAborted } from '../errors';
import { toFloat32 } from '../linalg/matrix';
import { StreamingModel } from '../model/model';
import { calibrationWindows } from './calibration';
import { keptEnergy } from './factors';
import { ResidentModel, type Target } from './soco-model';
import { foldScores } from './soco-select';
import { socoSettings, trainScores } from './soco-train';
import { rankedProjections } from './svdllm';
import type { CompressionMethod, Factorization, MethodContext } from './types';

/** What training decided for one projection (kept for tests and reports after the tensors are gone). */
export interface LearnedMatrix {
  name: string;
  shape: [number, number];
  sigma: Float64Array;
  /** Final scores, one per component of the thin SVD. */
  s: Float32Array;
  /** Kept component indices, ascending; all of them when dense. */
  kept: number[];
  dense: boolean;
}

export class SocoMethod implements CompressionMethod {
  private model?: StreamingModel;
  private resident?: ResidentModel;
  private readonly factors = new Map<number, Factorization[]>();
  learned: LearnedMatrix[] = [];

  async prepare(ctx: MethodContext): Promise<void> {
    const settings = socoSettings(ctx.plan);
    const signal = ctx.job.signal;
    this.model = await StreamingModel.open(ctx.plan.model);
    const ids = await calibrationWindows(ctx.plan, this.model.arch.dims.context, signal);
    const removed = ctx.plan.removeLayers === 'auto' ? [] : ctx.plan.removeLayers;
    const targets: (Target & { rank: number })[] = [];
    for (let i = 0; i < this.model.layerCount; i++) {
      if (!removed.includes(i)) for (const p of rankedProjections(ctx, i)) targets.push({ name: p.name, key: p.spec.key, layer: i, rank: p.rank });
    }
    if (!targets.length) return;
    throwIfAborted(signal);
    this.resident = await ResidentModel.build(this.model, ids, ctx.plan.calibration.seqLen, removed, targets, signal);
    const r = this.resident;
    const costs = r.costs(targets.map((t) => t.rank));
    const out = await trainScores(r, costs, r.denseParams(), settings, ctx.plan.calibration.seed, ctx.job);
    r.matrices.forEach((m, j) => {
      const kept = out.selection.kept[j];
      const dense = out.selection.dense[j];
      this.learned.push({ name: m.name, shape: m.shape, sigma: m.svd.s, s: out.scores[j], kept, dense });
      if (dense) return;
      const { u, vt } = foldScores(m.svd, out.scores[j], kept);
      const f: Factorization = { name: m.name, shape: m.shape, rank: kept.length, u: toFloat32(u), v: toFloat32(vt), keptEnergy: keptEnergy(m.svd.s, kept), kept };
      this.factors.set(m.layer, [...(this.factors.get(m.layer) ?? []), f]);
    });
    let residual = 0;
    this.learned.forEach((l) => {
      const keep = new Set(l.kept);
      l.s.forEach((v, i) => { if (!keep.has(i)) residual = Math.max(residual, v); });
    });
    ctx.job.log('info', `soco: kept ${out.selection.params} of ${r.denseParams()} parameters, last L_inc ${out.lastInc.toFixed(4)}, ` +
      `largest pruned score ${residual.toFixed(4)}`);
    this.resident.dispose();
    this.resident = undefined;
  }

  async layer(_ctx: MethodContext, i: number): Promise<Factorization[]> {
    const f = this.factors.get(i) ?? [];
    this.factors.delete(i);
    return f;
  }

  dispose(): void {
    this.resident?.dispose();
    this.resident = undefined;
    void this.model?.close();
    this.model = undefined;
  }
}
