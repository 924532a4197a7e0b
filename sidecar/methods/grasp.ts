// GRASP / Taco-SVD (Liu et al., arXiv 2501.00339; LyoAI/GRASP), METHODS.md: the layers that layer
// removal would drop are kept, but each of their projections is replaced by the singular directions
// that gradient attribution marks as critical, not by the largest ones. Facts taken from the
// authors' code (grasp.py, modeling_grasp.py at LyoAI/GRASP HEAD):
// - Layers: Block Influence on the original model, the n lowest (compute_bi); or given indices
//   (--layers_id; ours: "removeLayers" indices). Processed in descending layer order (grasp.py:73),
//   per layer the MLP block first, then attention (grasp.py:78-124).
// - Per block: every projection of the block becomes U diag(σ) Vᵀ from a plain SVD of W, U and Vᵀ
//   frozen, σ trainable (GRASPLayer, modeling_grasp.py:63-80); one gradient pass over the whole
//   calibration set with the block's σ attributed together (get_svdlayer_gradients, :318-357:
//   ∂L/∂σ summed over batches); selection per matrix (:359-408); then the block is compiled to its
//   truncated factors BEFORE the next block is attributed (:410-456). So the attribution is
//   sequential, block by block, with the earlier (higher) replacements in place; we do the same.
// - Importance |σ ⊙ ∂L/∂σ| ("taylor", the default) or |∂L/∂σ| ("gradient") (:379-384); keep the
//   top k = int(m n (1 − c)/(m + n)) by importance (compute_preserve_rank, :298-304), or with a
//   threshold the most important until they sum to t of the total (adaptive_rank_selection,
//   tools/utils_func.py:45-58). Factors √σ on each side (SVDLinear, sigma_fuse "UV", :47-49).
// Where ours differs, on purpose:
// - The authors' GRASPLayer.forward drops the bias during attribution (:76-80); ours keeps it (no
//   bias on Llama, where this makes no difference; GPT-2's biases stay in the forward pass).
// - Their loader pre-shifts the labels (dataset/loader.py, TrainDataset) and the HF causal-LM loss
//   shifts again, so their loss scores the token two ahead; ours is the next-token loss of the paper.
//   Their loss is a mean per batch, ours the summed NLL: a constant factor for equal-length
//   windows, which leaves the ranking unchanged.
// - With both a compression ratio and a threshold theirs silently uses the ratio (:389); ours
//   rejects the plan. c defaults to 0.7, as their run script (scripts/params_script.sh).
// - Kept indices are stored ascending (descending σ), theirs in importance order: the same product.
// - "removeLayers": "auto" picks the layers layer removal would remove at plan.ratio (the paper
//   compares with ShortGPT on the same layers); the model then shrinks by about c of that.
// GRASP removes no layer and leaves the layers it does not choose untouched; plan.ranks is not used.
import * as tf from '@tensorflow/tfjs-core';
import type { ProjectionSpec } from '../arch/table';
import { PlanError } from '../errors';
import { getLinalg, type SvdResult } from '../linalg';
import { fromFloat32, toFloat32, transpose } from '../linalg/matrix';
import type { LayerWeights } from '../model/layer';
import { StreamingModel } from '../model/model';
import { globToRegExp } from '../plan/glob';
import { autoCount, byInfluence } from '../plan/removal';
import { rankForRatio, savesParameters } from '../plan/ranks';
import { calibrationWindows } from './calibration';
import { keptEnergy, splitFactors } from './factors';
import { Attribution } from './grasp-attribution';
import { measureInfluence, projectionParameters } from './layer-removal';
import { isPositiveInt, readSettings } from './settings';
import { installFactors } from './svdllm';
import type { CompressionMethod, Factorization, MethodContext } from './types';

export type Importance = 'taylor' | 'gradient';

export interface GraspSettings {
  layers: number | undefined;
  importance: Importance;
  compression: number | undefined;
  threshold: number | undefined;
}

/** How many directions each replaced matrix keeps. */
export type KeepRule = { compression: number } | { threshold: number };

export const DEFAULT_COMPRESSION = 0.7;

export function graspSettings(ctx: Pick<MethodContext, 'plan'>): GraspSettings & { keep: KeepRule } {
  const s = readSettings<GraspSettings>(ctx.plan, 'grasp', {
    layers: { default: undefined, check: (v): v is number | undefined => isPositiveInt(v), rule: 'a positive integer' },
    importance: { default: 'taylor', check: (v): v is Importance => v === 'taylor' || v === 'gradient', rule: '"taylor" or "gradient"' },
    compression: {
      default: undefined, check: (v): v is number | undefined => typeof v === 'number' && v > 0 && v < 1,
      rule: "a number in (0, 1): the fraction of each replaced matrix's parameters removed",
    },
    threshold: {
      default: undefined, check: (v): v is number | undefined => typeof v === 'number' && v > 0 && v <= 1,
      rule: 'a number in (0, 1]: the fraction of the total importance kept',
    },
  });
  if (s.compression !== undefined && s.threshold !== undefined) throw new PlanError('plan: give either "grasp.compression" or "grasp.threshold", not both');
  return { ...s, keep: s.threshold !== undefined ? { threshold: s.threshold } : { compression: s.compression ?? DEFAULT_COMPRESSION } };
}

/** I = |σ ⊙ g| (taylor) or |g| (gradient). */
export function importance(sigma: Float64Array, grad: Float64Array, metric: Importance): Float64Array {
  return grad.map((g, i) => Math.abs(metric === 'taylor' ? sigma[i] * g : g));
}

/** Kept indices, ascending: the `rank` most important (ties: the larger σ), or the fewest reaching `threshold` of the total. */
export function selectDirections(imp: Float64Array, rule: { rank: number } | { threshold: number }): number[] {
  if (imp.some((x) => !Number.isFinite(x))) throw new Error('grasp: non-finite importance (the calibration loss or its gradient overflowed)');
  const order = Array.from(imp, (_, i) => i).sort((a, b) => imp[b] - imp[a] || a - b);
  let n = 0;
  if ('rank' in rule) n = rule.rank;
  else {
    const target = rule.threshold * imp.reduce((a, b) => a + b, 0);
    for (let sum = 0; n < order.length;) {
      sum += imp[order[n++]];
      if (sum >= target) break;
    }
  }
  return order.slice(0, n).sort((a, b) => a - b);
}

type Group = ProjectionSpec['group'];
export interface Target { name: string; spec: ProjectionSpec }
/** A projection installed as U diag(σ) Vᵀ with σ the tensor being attributed. */
export interface Spectrum extends Target { shape: [number, number]; svd: SvdResult; sigma: tf.Tensor1D }

/** Replaces the dense projection by its full SVD with σ as a separate tensor (the caller disposes σ). */
export async function installSpectrum(w: LayerWeights, t: Target): Promise<Spectrum> {
  const old = w.linears.get(t.spec.key);
  if (old?.kind !== 'dense') throw new Error(`grasp: ${t.name} is not a dense projection`);
  const [m, n] = old.w.shape;
  const svd = await getLinalg().svd(fromFloat32(m, n, (await old.w.data()) as Float32Array));
  const r = svd.s.length;
  const sigma = tf.tensor1d(Float32Array.from(svd.s));
  w.linears.set(t.spec.key, {
    kind: 'factored', u: tf.tensor2d(toFloat32(svd.u!), [m, r]), v: tf.tensor2d(toFloat32(transpose(svd.v!)), [r, n]), s: sigma, b: old.b,
  });
  old.w.dispose();
  return { ...t, shape: [m, n], svd, sigma };
}

export class GraspMethod implements CompressionMethod {
  private prepared = false;
  private readonly factors = new Map<number, Factorization[]>();

  async prepare(ctx: MethodContext): Promise<void> {
    const settings = graspSettings(ctx);
    if (ctx.plan.overrides.length) throw new PlanError('plan: "overrides" do not apply to grasp: its ranks come from "grasp.compression" or "grasp.threshold"');
    const chosen = await chooseLayers(ctx, settings.layers);
    const targeted = targetsOf(ctx);
    // The authors' order: descending layers, MLP block before attention (grasp.py:73-124).
    const blocks = [...chosen].reverse().flatMap((i) => (['mlp', 'attention'] as Group[]).map((group) => ({ i, group, targets: targeted(i, group) })))
      .filter((b) => b.targets.length);
    if (!blocks.length) throw new PlanError(`plan: "targets" match no dense projection of layers ${chosen.join(', ')}`);
    // Shapes alone decide k: a compression that leaves rank 0 fails before any gradient pass.
    for (const { name, spec } of blocks.flatMap((b) => b.targets)) {
      const [a, b] = ctx.ckpt.tensors.get(`${name}.weight`)!.shape;
      selectionRule(settings.keep, name, ...(spec.transposed ? [b, a] as const : [a, b] as const));
    }
    ctx.job.log('info', `grasp: importance ${settings.importance}, ` + ('threshold' in settings.keep
      ? `keeping the most important directions up to ${settings.keep.threshold} of each matrix's total`
      : `keeping k = ⌊m·n·(1 − ${settings.keep.compression})/(m + n)⌋ directions per matrix`));

    const model = await StreamingModel.open(ctx.plan.model);
    let att: Attribution | undefined;
    try {
      const ids = await calibrationWindows(ctx.plan, model.arch.dims.context, ctx.job.signal);
      att = await Attribution.create(model, ids, ctx.plan.calibration.seqLen, chosen[0], ctx.job.signal);
      const batches = att.batches;
      for (const [j, { i, group, targets }] of blocks.entries()) {
        const progress = (done: number) => ctx.job.progress('calibrate', j * batches + done, blocks.length * batches, `GRASP gradients, layer ${i} ${group}`);
        progress(0);
        const out = await replaceBlock(ctx, att, i, targets, settings, progress);
        this.factors.set(i, [...(this.factors.get(i) ?? []), ...out]);
      }
    } finally {
      att?.dispose();
      await model.close();
    }
    this.prepared = true;
  }

  async removedLayers(): Promise<number[]> {
    return [];
  }

  async layer(_ctx: MethodContext, i: number): Promise<Factorization[]> {
    if (!this.prepared) throw new Error('grasp: layer() before prepare()');
    const out = this.factors.get(i) ?? [];
    this.factors.delete(i);
    return out;
  }
}

/** k = ⌊m n (1 − c)/(m + n)⌋ (compute_preserve_rank, the same rule as plan ratios), or the threshold. */
function selectionRule(keep: KeepRule, name: string, m: number, n: number): { rank: number } | { threshold: number } {
  if (!('compression' in keep)) return keep;
  const rank = rankForRatio(m, n, keep.compression);
  if (rank < 1) throw new PlanError(`plan: "grasp.compression" ${keep.compression} leaves rank 0 for ${name} (${m}×${n}); lower it`);
  return { rank };
}

/** One block of layer i: its σ installed, attributed together, each matrix cut to its kept directions in place. */
async function replaceBlock(
  ctx: MethodContext, att: Attribution, i: number, targets: Target[], settings: GraspSettings & { keep: KeepRule }, onBatch: (done: number) => void,
): Promise<Factorization[]> {
  const w = att.weights(i);
  const spectra: Spectrum[] = [];
  try {
    for (const t of targets) spectra.push(await installSpectrum(w, t));
    const { grads, loss, predictions } = await att.gradients(i, spectra.map((s) => s.sigma), { signal: ctx.job.signal, onBatch });
    ctx.job.log('info', `grasp: layer ${i} ${targets[0].spec.group}: calibration NLL ${(loss / predictions).toFixed(4)} per token before this block is cut`);
    const out = spectra.map((sp, j) => truncate(ctx, sp, importance(sp.svd.s, grads[j], settings.importance), settings.keep));
    installFactors(w, out.map((f, j) => ({ key: spectra[j].spec.key, f })));
    return out;
  } finally {
    tf.dispose(spectra.map((s) => s.sigma));
  }
}

function truncate(ctx: MethodContext, sp: Spectrum, imp: Float64Array, keep: KeepRule): Factorization {
  const [m, n] = sp.shape;
  const kept = selectDirections(imp, selectionRule(keep, sp.name, m, n));
  const { u, vt } = splitFactors(sp.svd, kept);
  const outside = kept.filter((k) => k >= kept.length).length;
  ctx.job.log('info', `grasp: ${sp.name} keeps ${kept.length} of ${sp.svd.s.length} directions, ${outside} outside the top ${kept.length} by σ`);
  if (!savesParameters(m, n, kept.length)) ctx.job.log('warn', `grasp: ${sp.name}: rank ${kept.length} saves no parameters (threshold too high for this matrix)`);
  return { name: sp.name, shape: [m, n], rank: kept.length, u: toFloat32(u), v: toFloat32(vt), keptEnergy: keptEnergy(sp.svd.s, kept), kept };
}

/** The layers to replace, ascending: given indices, or the n lowest Block Influence (n given or "auto"). */
async function chooseLayers(ctx: MethodContext, layers: number | undefined): Promise<number[]> {
  const { plan, ckpt, arch } = ctx;
  const L = arch.dims.layers;
  if (Array.isArray(plan.removeLayers) && plan.removeLayers.length) {
    if (layers !== undefined) throw new PlanError('plan: give either "removeLayers" indices or "grasp.layers", not both');
    ctx.job.log('info', `grasp: replacing layers ${plan.removeLayers.join(', ')} (from "removeLayers")`);
    return plan.removeLayers;
  }
  const auto = plan.removeLayers === 'auto' || layers === undefined;
  if (auto && layers !== undefined) throw new PlanError('plan: "removeLayers": "auto" and "grasp.layers" both choose how many layers are replaced; give one');
  if (auto && !(plan.ratio > 0)) throw new PlanError('plan: grasp needs "grasp.layers", "removeLayers" indices, or "removeLayers": "auto" with a "ratio" > 0');
  if (layers !== undefined && layers > L) throw new PlanError(`plan: "grasp.layers" is ${layers}, but the model has ${L} layers`);
  const bi = await measureInfluence(ctx);
  ctx.job.log('info', `grasp: Block Influence ${bi.map((b, i) => `${i}:${b.toFixed(4)}`).join(' ')}`);
  const order = byInfluence(bi);
  const n = layers ?? autoCount(order, [...Array(L).keys()].map((i) => projectionParameters(ckpt, arch, i)), plan.ratio);
  const chosen = order.slice(0, n).sort((a, b) => a - b);
  ctx.job.log('info', `grasp: replacing layers ${chosen.join(', ')} (lowest Block Influence)`);
  return chosen;
}

/** Dense projections of layer i in a block that plan.targets selects (the authors' target layer types). */
function targetsOf(ctx: MethodContext): (i: number, group: Group) => Target[] {
  const globs = ctx.plan.targets.map(globToRegExp);
  return (i, group) => ctx.arch.projections(i).filter(({ name, spec }) =>
    spec.group === group && globs.some((g) => g.test(name)) && ctx.ckpt.has(`${name}.weight`));
}
