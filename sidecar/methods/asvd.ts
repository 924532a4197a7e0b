// ASVD (Yuan et al. 2023; hahnyuan/ASVD4LLM, modules/svd_linear.py and act_aware_utils.py),
// METHODS.md: S = diag(s), s_j = (mean |x_j|)^α + 1e-6 with the 1e-6 added after the power, as the
// authors' SVDLinear.from_linear does; SVD of W S, W_u = U_r Σ_r^½, W_v = Σ_r^½ V_rᵀ S⁻¹.
// Statistics come from the ORIGINAL model's activations (calib_input_distribution hooks a plain
// forward pass), collected layer by layer here, which gives the same inputs.
// Difference from the authors' code, by design: they sum each calibration sample's per-token mean
// (a sum over samples, not a mean); all our windows have the same length, so that is `samples` times
// our mean. A constant factor on S cancels in W_v = Σ^½ V_rᵀ S⁻¹ and leaves U, V and the kept
// directions unchanged; only the 1e-6 floor moves relative to s. Their per-layer rank search by
// perplexity sensitivity is the optional extra METHODS.md leaves out; ranks come from the plan.
// Plan block `"asvd": { "alpha": 0.5 }`.
import { throwIfAborted } from '../errors';
import { fromFloat32, toFloat32 } from '../linalg/matrix';
import { disposeLayer } from '../model/layer';
import { StreamingModel } from '../model/model';
import { InputStats } from '../stats/input-stats';
import { calibrationWindows, HiddenStates, OriginalPath } from './calibration';
import { isPositive, readSettings } from './settings';
import { rankedProjections } from './svdllm';
import { mapConcurrently } from './concurrently';
import { readProjection } from './weights';
import { scaledTruncation } from './whitened-svd';
import type { CompressionMethod, Factorization, MethodContext } from './types';

/** Added to every scale after the power (the authors' "avoid zero division"). */
export const ASVD_EPS = 1e-6;

export function asvdScale(meanAbs: Float64Array, alpha: number): Float64Array {
  return meanAbs.map((m) => m ** alpha + ASVD_EPS);
}

export class AsvdMethod implements CompressionMethod {
  private alpha = 0.5;
  private model?: StreamingModel;
  private original?: OriginalPath;

  async prepare(ctx: MethodContext): Promise<void> {
    this.alpha = readSettings<{ alpha: number }>(ctx.plan, 'asvd', {
      alpha: { default: 0.5, check: isPositive, rule: 'a positive number' },
    }).alpha;
    this.model = await StreamingModel.open(ctx.plan.model);
    const ids = await calibrationWindows(ctx.plan, this.model.arch.dims.context, ctx.job.signal);
    this.original = new OriginalPath(this.model, await HiddenStates.embed(this.model, ids, ctx.plan.calibration.seqLen));
    this.model.releaseEmbedding(); // from here on only layers run
  }

  async layer(ctx: MethodContext, i: number): Promise<Factorization[]> {
    if (!this.original) throw new Error('asvd: layer() before prepare()');
    const targets = rankedProjections(ctx, i);
    const stats = new InputStats({ gram: false, meanAbs: true, sites: [...new Set(targets.map((t) => t.spec.input))] });
    disposeLayer(await this.original.through(i, { onInput: stats.onInput, signal: ctx.job.signal }));
    return mapConcurrently(targets, async ({ name, spec, rank }): Promise<Factorization> => {
      throwIfAborted(ctx.job.signal);
      const mean = stats.meanAbs(spec.input);
      if (!mean) throw new Error(`calibration: no inputs were seen at ${spec.input}`);
      const wd = await readProjection(ctx.ckpt, name, spec.transposed);
      const t = await scaledTruncation(fromFloat32(wd.rows, wd.cols, wd.data), asvdScale(mean.result(), this.alpha), rank);
      return { name, shape: [wd.rows, wd.cols], rank, u: toFloat32(t.u), v: toFloat32(t.v), keptEnergy: t.keptEnergy, kept: t.kept };
    });
  }

  /** Resume: the original path advances past layer i as layer() would have (statistics always come from it). */
  async restore(ctx: MethodContext, i: number): Promise<void> {
    if (!this.original) throw new Error('asvd: restore() before prepare()');
    disposeLayer(await this.original.through(i, { signal: ctx.job.signal }));
  }

  dispose(): void {
    this.original?.dispose();
    void this.model?.close();
  }
}
