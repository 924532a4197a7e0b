// SVD-LLM (Wang et al., arXiv 2403.07378; AIoT-MLSys-Lab/SVD-LLM, SVDLLM.py), METHODS.md:
// truncation-aware whitening, then the layer-wise closed-form update of W_u, streamed one layer per
// call. Two paths through the calibration windows advance together:
// - original path (all calibration samples): the ORIGINAL model's inputs of layer i give each
//   projection's Gram G = X Xᵀ and S = chol(G) (profle_svdllm_low_resource);
// - compressed path (the first `updateSamples` windows): the outputs of the already compressed
//   layers 0..i−1. The still-original layer i runs on them to capture each projection's inputs X̂
//   (inside the layer, down_proj's X̂ comes from the original gate/up, as the authors' hooks see it),
//   W_u is refit so that W_u W_v X̂ ≈ W X̂, and then the compressed layer i advances the path
//   (whitening_local_update).
// Two passes of the authors' are skipped, as their results are known or never read: at layer 0
// with the update on every calibration window, X̂ is X (the capture pass would repeat the whitening
// pass), and after the last layer nothing reads the compressed path's states.
// Plan block `"svd-llm": { "update": true, "updateSamples": 16, "eps": 1e-6 }`; update false is
// SVD-LLM(W), whitening only. eps is the base of the Cholesky shift when a Gram is not positive
// definite (every shift is logged; larger models needed larger ones: SVD-LLM issues #6, #24).
// GQA: k_proj/v_proj are not square; every rank is per matrix (plan/ranks.ts), nothing assumes square.
import * as tf from '@tensorflow/tfjs-core';
import type { InputSite } from '../arch/table';
import { throwIfAborted } from '../errors';
import { getLinalg } from '../linalg';
import { matrix, toFloat32, type Matrix } from '../linalg/matrix';
import { recycle } from '../linalg/shared-memory';
import { disposeLayer, type LayerWeights } from '../model/layer';
import { StreamingModel } from '../model/model';
import { InputStats } from '../stats/input-stats';
import { calibrationWindows, HiddenStates, OriginalPath } from './calibration';
import { isBool, isPositive, isPositiveInt, readSettings } from './settings';
import { loadedProjection } from './weights';
import { updatedU, whitenedTruncation } from './whitened-svd';
import { factorizationBytes, mapConcurrently, projectionsInFlight } from './concurrently';
import type { CompressionMethod, Factorization, MethodContext } from './types';

export interface SvdLlmSettings { update: boolean; updateSamples: number; eps: number }

export function svdLlmSettings(ctx: Pick<MethodContext, 'plan'>): SvdLlmSettings {
  return readSettings<SvdLlmSettings>(ctx.plan, 'svd-llm', {
    update: { default: true, check: isBool, rule: 'true or false' },
    updateSamples: { default: 16, check: isPositiveInt, rule: 'a positive integer' },
    eps: { default: 1e-6, check: isPositive, rule: 'a positive number' },
  });
}

/** The projections of layer i that get a rank, with the input site each one reads. */
export function rankedProjections(ctx: MethodContext, i: number) {
  return ctx.arch.projections(i).flatMap(({ name, spec }) => {
    const rank = ctx.ranks.get(name)?.rank;
    return rank ? [{ name, spec, rank }] : [];
  });
}

/** A site's Gram, once every batch is in. */
const gramResult = async (stats: InputStats, site: InputSite): Promise<Matrix> => {
  const g = stats.gram(site);
  if (!g) throw new Error(`calibration: no inputs were seen at ${site}`);
  return matrix(g.dim, g.dim, await g.result());
};

/** A site's Gram, read-only from here on (Linalg.readOnly): its Cholesky factorization and every
 *  projection's refit that reads it take it without a copy. */
const gramMatrix = async (stats: InputStats, site: InputSite): Promise<Matrix> => getLinalg().readOnly(await gramResult(stats, site));

/** Swaps the dense projections of w for the factors (biases kept), so w runs as the compressed layer. */
export function installFactors(w: LayerWeights, factors: { key: string; f: Factorization }[]): void {
  for (const { key, f } of factors) {
    const old = w.linears.get(key);
    if (!old) throw new Error(`layer ${w.index}: projection ${key} not loaded`);
    const [m, n] = f.shape;
    w.linears.set(key, { kind: 'factored', u: tf.tensor2d(f.u, [m, f.rank]), v: tf.tensor2d(f.v, [f.rank, n]), b: old.b });
    if (old.kind === 'dense') old.w.dispose();
    else tf.dispose([old.u, old.v]);
  }
}

/** Layer i's original weights after the whitening path ran it, and the Cholesky factor of each
 *  input site's Gram, still being computed on the pool when the pass returns. The Grams themselves
 *  are released once factored, unless the update reads them too (`grams`, see sameInputs). */
interface Whitening { w: LayerWeights; chol: Map<InputSite, Promise<Matrix>>; grams?: Map<InputSite, Promise<Matrix>> }

const release = (r: Whitening | undefined) => {
  if (r) disposeLayer(r.w);
};

export class SvdLlmMethod implements CompressionMethod {
  private settings?: SvdLlmSettings;
  private model?: StreamingModel;
  private original?: OriginalPath;
  private compressed?: HiddenStates;
  /** The next layer's whitening pass, started while this layer's projections are factorized. */
  private ahead?: { layer: number; done: Promise<Whitening> };

  async prepare(ctx: MethodContext): Promise<void> {
    this.settings = svdLlmSettings(ctx);
    this.model = await StreamingModel.open(ctx.plan.model);
    const ids = await calibrationWindows(ctx.plan, this.model.arch.dims.context, ctx.job.signal);
    const T = ctx.plan.calibration.seqLen;
    // One read of the embedding's rows serves both paths (the update's ids are among these).
    const rows = await this.model.embeddingRows(ids);
    this.original = new OriginalPath(this.model, await HiddenStates.embed(this.model, ids, T, rows));
    if (this.settings.update) {
      // The update's windows: the first updateSamples of the calibration sample (the authors draw a
      // second loader of 16 samples from the same corpus).
      const n = Math.min(this.settings.updateSamples, ctx.plan.calibration.samples);
      this.compressed = await HiddenStates.embed(this.model, ids.subarray(0, n * T), T, rows);
    }
    // Both paths are embedded; from here on only layers run.
    this.model.releaseEmbedding();
    ctx.job.log('info', `svd-llm: whitening on ${ctx.plan.calibration.samples} × ${T} tokens` +
      (this.settings.update ? `, update on ${Math.min(this.settings.updateSamples, ctx.plan.calibration.samples)} × ${T}` : ', no update (SVD-LLM(W))'));
  }

  async layer(ctx: MethodContext, i: number): Promise<Factorization[]> {
    const { settings, original, model } = this;
    if (!settings || !original || !model) throw new Error('svd-llm: layer() before prepare()');
    const signal = ctx.job.signal;
    const targets = rankedProjections(ctx, i);
    const sites = [...new Set(targets.map((t) => t.spec.input))];
    const upd = new InputStats({ gram: 'float64', sites });
    const { w, chol, grams: whiteningGrams } = await this.whitening(ctx, i);
    let projections: Promise<unknown> | undefined;
    try {
      const log = (m: string) => ctx.job.log('warn', `layer ${i}: ${m}`);
      // Each projection's whitened SVD and update run as jobs on the worker pool, all of the layer's
      // at once (up to a memory budget), while this thread runs the update path's capture pass
      // (whose Grams only the updates need) and then the next layer's whitening pass: the
      // original path does not depend on this layer's factors. The capture pass settles `updateGrams`
      // with one float64 copy of each site's Gram, shared by the projections that read it.
      let gate!: { resolve: (g: Map<InputSite, Matrix>) => void; reject: (e: unknown) => void };
      const updateGrams = new Promise<Map<InputSite, Matrix>>((resolve, reject) => { gate = { resolve, reject }; });
      updateGrams.catch(() => {}); // a projection that failed earlier never awaits it
      const bytes = Math.max(0, ...targets.map((t) => {
        const [m, n] = ctx.ckpt.tensors.get(`${t.name}.weight`)!.shape;
        return factorizationBytes(m, n);
      }));
      const factored = mapConcurrently(targets, async ({ name, spec, rank }) => {
        throwIfAborted(signal);
        // Read by its SVD job and its refit where it lies, not copied for each.
        const W = loadedProjection(w, spec.key);
        try {
          const t = await whitenedTruncation(W.m, await chol.get(spec.input)!, rank);
          const grams = await updateGrams;
          const u = this.compressed ? await updatedU(W.m, t.v, grams.get(spec.input)!, { eps: settings.eps, log: (m) => log(`${name} update: ${m}`) }) : t.u;
          const f: Factorization = { name, shape: [W.m.rows, W.m.cols], rank, u: toFloat32(u), v: toFloat32(t.v), keptEnergy: t.keptEnergy, kept: t.kept };
          return { key: spec.key, f };
        } finally {
          W.done(); // its jobs have settled
        }
      }, projectionsInFlight(bytes));
      projections = factored;
      factored.catch(() => {}); // awaited below, unless the capture pass fails first
      const capture = (async () => {
        if (!this.compressed || !targets.length) return new Map<InputSite, Matrix>();
        let grams = whiteningGrams;
        if (!grams) {
          await this.compressed.capture(model.arch, w, upd.onInput, signal);
          grams = new Map(sites.map((site) => [site, gramMatrix(upd, site)] as const));
        }
        return new Map(await Promise.all([...grams].map(async ([site, g]) => [site, await g] as const)));
      })();
      capture.then(gate.resolve, gate.reject);
      await capture;
      this.whiteningAhead(ctx, i + 1);
      const out = await factored;
      // Every job that read the layer's Cholesky factors and update Grams has settled: their
      // buffers go to the next layers' Grams instead of waiting for a collection.
      const used = [...await Promise.all(chol.values()), ...(await updateGrams).values()];
      new Set(used.map((m) => m.data.buffer)).forEach(recycle);
      if (this.compressed && !this.isLast(ctx, i)) {
        installFactors(w, out);
        await this.compressed.run(model.arch, w, { signal });
      }
      return out.map((o) => o.f);
    } finally {
      // The projections' jobs read the layer's weights where tfjs holds them (loadedProjection):
      // after a failure too, the weights are freed only once the running ones have settled.
      await projections?.catch(() => {});
      disposeLayer(w);
      upd.dispose();
    }
  }

  /** Runs original layer i over the whitening windows and starts factoring the Gram of each of its
   *  targets' input sites (one Cholesky factor per site, shared by the projections that read it):
   *  the capture pass, which needs the weights only, need not wait for them. */
  private async whiteningPass(ctx: MethodContext, i: number): Promise<Whitening> {
    const sites = [...new Set(rankedProjections(ctx, i).map((t) => t.spec.input))];
    const stats = new InputStats({ gram: 'float64', sites });
    try {
      const w = await this.original!.through(i, { onInput: stats.onInput, signal: ctx.job.signal });
      const la = getLinalg();
      // A Gram the update reads as well (sameInputs) stays as it is and is shared read-only;
      // otherwise the factor is written into the Gram's own memory, which nothing reads after (one
      // n² float64 array a site instead of the Gram, a working copy and the factor). The factor is
      // read-only, so the site's projections' SVD and solve jobs share it.
      const keep = this.sameInputs(i);
      const grams = new Map(sites.map((site) => [site, keep ? gramMatrix(stats, site) : gramResult(stats, site)] as const));
      const chol = new Map(sites.map((site) => {
        const l = grams.get(site)!.then(async (g) => la.readOnly((await la.cholesky(g, {
          eps: this.settings!.eps, overwrite: !keep, log: (m) => ctx.job.log('warn', `layer ${i}: ${site} Gram: ${m}`),
        })).l));
        l.catch(() => {}); // reported where a projection awaits it; none may if the layer fails first
        return [site, l] as const;
      }));
      grams.forEach((g) => g.catch(() => {}));
      return { w, chol, grams: keep ? grams : undefined };
    } finally {
      stats.dispose();
    }
  }

  /**
   * Whether the update path's inputs of layer i are the whitening path's: at the first layer, when
   * the update windows are all the calibration windows (the default, 16 of 16), both paths hold the
   * same embeddings in the same batches, so the capture pass would repeat the whitening pass and its
   * Grams would be the same to the bit (shares are summed in batch order). Later layers differ (the
   * update path runs the compressed layers), and so does a first layer after removed ones (the
   * original path ran those).
   */
  private sameInputs(i: number): boolean {
    return i === 0 && this.compressed !== undefined && this.compressed.windows === this.original!.states.windows;
  }

  /** The model's last layer: the update path's states after it are never read. */
  private isLast(ctx: MethodContext, i: number): boolean {
    return i === ctx.arch.dims.layers - 1;
  }

  /** Starts layer i's whitening pass now. Its weights are then resident beside the current layer's
   *  until that one finishes: two layers' weights at the peak instead of one, for the overlap. */
  private whiteningAhead(ctx: MethodContext, i: number): void {
    if (i >= ctx.arch.dims.layers) return;
    const done = this.whiteningPass(ctx, i);
    // Its failure is reported where it is awaited (a cancel reaches both this pass and the layer).
    done.catch(() => {});
    this.ahead = { layer: i, done };
  }

  /** Layer i's whitening pass: the one started ahead, or run now. */
  private async whitening(ctx: MethodContext, i: number): Promise<Whitening> {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead?.layer === i) return ahead.done;
    // A pass ahead for a layer that is not asked for (the plan removes it): this layer's pass
    // queues behind it on the original path.
    void ahead?.done.then(release, () => {});
    return this.whiteningPass(ctx, i);
  }

  /**
   * Resume: layer i's update inputs come from the compressed layers before it, so a stored layer is
   * not skipped but run: the original path advances past it, and the compressed path runs it with
   * its stored factors installed, exactly as layer() leaves both paths.
   */
  async restore(ctx: MethodContext, i: number, factors: Factorization[]): Promise<void> {
    const { original, model } = this;
    if (!original || !model) throw new Error('svd-llm: restore() before prepare()');
    const w = await original.through(i, { signal: ctx.job.signal });
    try {
      if (this.compressed && !this.isLast(ctx, i)) {
        const keys = new Map(ctx.arch.projections(i).map((p) => [p.name, p.spec.key]));
        installFactors(w, factors.map((f) => ({ key: keys.get(f.name)!, f })));
        await this.compressed.run(model.arch, w, { signal: ctx.job.signal });
      }
    } finally {
      disposeLayer(w);
    }
  }

  dispose(): void {
    void this.ahead?.done.then(release, () => {});
    this.ahead = undefined;
    this.original?.dispose();
    this.compressed?.dispose();
    void this.model?.close();
  }
}
