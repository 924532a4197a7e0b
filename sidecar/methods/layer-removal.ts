// Layer removal by Block Influence (ShortGPT, Men et al. 2024; METHODS.md): BI_i = 1 − mean over
// calibration tokens of cos(h_i, h_{i+1}) from the ORIGINAL model's hidden states; the layers with
// the lowest BI go. The pipeline drops them and renumbers the rest (removedLayers()), so the output
// is a standard checkpoint with fewer layers; no projection is factorized.
// How many: `"removeLayers": [i, ...]` removes exactly those (no calibration); `"layer-removal":
// { "layers": n }` the n lowest; `"removeLayers": "auto"` (or no list and a ratio > 0) the fewest
// lowest-BI layers whose projection parameters reach plan.ratio of all decoder projections'
// parameters (removed ≥ target: the ratio is a floor, as a size budget is).
import { PlanError } from '../errors';
import type { Checkpoint } from '../checkpoint/checkpoint';
import type { ResolvedArch } from '../arch/table';
import { factorNames } from '../inspect/summary';
import { disposeLayer } from '../model/layer';
import { StreamingModel } from '../model/model';
import { BlockInfluence } from '../stats/block-influence';
import { calibrationWindows, HiddenStates } from './calibration';
import { autoCount, byInfluence } from '../plan/removal';
import { isPositiveInt, readSettings } from './settings';
import type { CompressionMethod, Factorization, MethodContext } from './types';

/** Parameters of layer i's decoder projections (dense or already factored). */
export function projectionParameters(ckpt: Checkpoint, arch: ResolvedArch, i: number): number {
  let n = 0;
  for (const { name } of arch.projections(i)) {
    for (const t of [`${name}.weight`, factorNames(name).u, factorNames(name).v]) {
      const e = ckpt.tensors.get(t);
      if (e) n += e.shape.reduce((a, b) => a * b, 1);
    }
  }
  return n;
}

export class LayerRemovalMethod implements CompressionMethod {
  private removed: number[] = [];
  /** Block Influence per original layer, once prepare() measured it. */
  influence: number[] = [];

  async prepare(ctx: MethodContext): Promise<void> {
    const { plan, ckpt, arch } = ctx;
    const { layers } = readSettings<{ layers: number | undefined }>(plan, 'layer-removal', {
      layers: { default: undefined, check: (v): v is number | undefined => isPositiveInt(v), rule: 'a positive integer' },
    });
    const L = arch.dims.layers;
    if (Array.isArray(plan.removeLayers) && plan.removeLayers.length) {
      if (layers !== undefined) throw new PlanError('plan: give either "removeLayers" indices or "layer-removal.layers", not both');
      this.removed = plan.removeLayers;
      return;
    }
    const auto = plan.removeLayers === 'auto' || layers === undefined;
    if (auto && layers !== undefined) throw new PlanError('plan: "removeLayers": "auto" and "layer-removal.layers" both choose how many layers go; give one');
    if (auto && !(plan.ratio > 0)) throw new PlanError('plan: layer-removal needs "removeLayers" (indices or "auto" with a "ratio" > 0) or "layer-removal.layers"');
    this.influence = await measureInfluence(ctx);
    ctx.job.log('info', `layer-removal: Block Influence ${this.influence.map((b, i) => `${i}:${b.toFixed(4)}`).join(' ')}`);
    const order = byInfluence(this.influence);
    const params = [...Array(L).keys()].map((i) => projectionParameters(ckpt, arch, i));
    const n = layers ?? autoCount(order, params, plan.ratio);
    if (n >= L) throw new PlanError(`plan: removing ${n} of ${L} layers would leave none`);
    this.removed = order.slice(0, n).sort((a, b) => a - b);
    ctx.job.log('info', `layer-removal: removing layers ${this.removed.join(', ') || '(none)'}`);
  }

  async removedLayers(): Promise<number[]> {
    return this.removed;
  }

  async layer(): Promise<Factorization[]> {
    return [];
  }
}

/** BI of every layer from one original-model pass over the calibration windows. */
export async function measureInfluence(ctx: MethodContext): Promise<number[]> {
  const model = await StreamingModel.open(ctx.plan.model);
  let states: HiddenStates | undefined;
  try {
    states = await HiddenStates.embed(model, await calibrationWindows(ctx.plan, model.arch.dims.context, ctx.job.signal), ctx.plan.calibration.seqLen);
    model.releaseEmbedding(); // from here on only layers run
    const out: number[] = [];
    for (let i = 0; i < model.layerCount; i++) {
      ctx.job.progress('calibrate', i, model.layerCount, `Block Influence, layer ${i}`);
      const bi = new BlockInfluence();
      const w = await model.loadLayer(i);
      try {
        await states.run(model.arch, w, { onLayer: (a, b) => bi.add(a, b), signal: ctx.job.signal });
      } finally {
        disposeLayer(w);
      }
      out.push(bi.value());
    }
    return out;
  } finally {
    states?.dispose();
    await model.close();
  }
}
