// The calibration batch of the methods that calibrate (ASVD, SVD-LLM, layer removal): windows
// sampled from plan.calibration.data, and their hidden states carried layer by layer. A method can
// run a layer over the states without advancing them (to read the inputs the layer sees) and skip
// layers (removed ones), which model/layerwise.ts's run-every-layer loop does not allow.
import { stat } from 'node:fs/promises';
import { setImmediate } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import type { InputSite, ResolvedArch } from '../arch/table';
import { PlanError, throwIfAborted } from '../errors';
import { readText, sampleWindows } from '../data/text';
import { loadTokenizer } from '../tokenizer/tokenizer';
import { disposeLayer, layerForward, layerInputs, type LayerWeights } from '../model/layer';
import type { EmbeddingRows, StreamingModel } from '../model/model';
import type { Calibration, Plan } from '../plan/plan';
import { pooledGramsSettled } from '../stats/gram';

/** Windows per forward call: bounds the attention scores ([B, heads, T, T]) held at once. */
export const CALIBRATION_BATCH = 8;

// Token streams by tokenizer, file and version: one process compressing several times (the bench,
// a sidecar session) tokenizes the 5 MB calibration corpus once, not per run (1.6–2.4 s each here, with the machine's load).
const streams = new Map<string, Int32Array>();

async function tokenStream(tokenizerDir: string, data: string, signal?: AbortSignal): Promise<Int32Array> {
  const info = await stat(data);
  const key = [tokenizerDir, data, info.size, info.mtimeMs].join('\0');
  let ids = streams.get(key);
  if (!ids) {
    ids = await (await loadTokenizer(tokenizerDir)).encodeLong(await readText(data), { signal });
    streams.set(key, ids);
  }
  return ids;
}

/** c.samples windows of c.seqLen ids of c.data, tokenized by the model folder's tokenizer, sampled with c.seed. */
export async function calibrationIds(modelDir: string, c: Calibration & { data: string }, context: number, signal?: AbortSignal): Promise<Int32Array> {
  if (c.seqLen > context) throw new PlanError(`plan: "calibration.seqLen" ${c.seqLen} exceeds the model's context of ${context}`);
  return sampleWindows(await tokenStream(modelDir, c.data, signal), c.samples, c.seqLen, c.seed);
}

/** plan.calibration.samples windows of seqLen ids (samples × seqLen), sampled with the plan's seed. */
export async function calibrationWindows(plan: Plan, context: number, signal?: AbortSignal): Promise<Int32Array> {
  const c = plan.calibration;
  if (!c.data) throw new PlanError(`plan: method ${plan.method} needs "calibration.data" (a text file or folder)`);
  return calibrationIds(plan.model, { ...c, data: c.data }, context, signal);
}

export interface RunOptions {
  onInput?: (site: InputSite, x: tf.Tensor2D) => void;
  /** States before and after the layer, per batch (owned by the caller of run). */
  onLayer?: (hIn: tf.Tensor3D, hOut: tf.Tensor3D) => void;
  signal?: AbortSignal;
}

/** Hidden states of the calibration windows, in batches of CALIBRATION_BATCH windows. */
export class HiddenStates {
  private constructor(private batches: tf.Tensor3D[], readonly windows: number) {}

  /** ids' windows embedded from `rows` (holding every id), by default only the rows they look up:
   *  the whole table is never read for them. */
  static async embed(model: StreamingModel, ids: Int32Array, seqLen: number, rows?: EmbeddingRows): Promise<HiddenStates> {
    const windows = ids.length / seqLen;
    if (!Number.isInteger(windows) || windows < 1) throw new Error(`calibration: ${ids.length} ids are not whole windows of ${seqLen}`);
    const batches: tf.Tensor3D[] = [];
    rows ??= await model.embeddingRows(ids);
    try {
      for (let w = 0; w < windows; w += CALIBRATION_BATCH) {
        const b = Math.min(CALIBRATION_BATCH, windows - w);
        batches.push(await model.embed(ids.subarray(w * seqLen, (w + b) * seqLen), b, seqLen, rows));
      }
    } catch (e) {
      tf.dispose(batches);
      throw e;
    }
    return new HiddenStates(batches, windows);
  }

  /** Runs one layer over every batch, replacing the states by its outputs. */
  async run(arch: ResolvedArch, w: LayerWeights, o: RunOptions = {}): Promise<void> {
    for (let k = 0; k < this.batches.length; k++) {
      throwIfAborted(o.signal);
      const out = layerForward(arch, w, this.batches[k], { onInput: o.onInput });
      try {
        o.onLayer?.(this.batches[k], out);
      } catch (e) {
        out.dispose();
        throw e;
      }
      this.batches[k].dispose();
      this.batches[k] = out;
      // Let the event loop serve progress and cancellation between batches, and the pool take in
      // this batch's Gram inputs before the next one's are made.
      await setImmediate();
      await pooledGramsSettled();
    }
  }

  /** Shows onInput each projection's input as the layer would see it, leaving the states as they are. */
  async capture(arch: ResolvedArch, w: LayerWeights, onInput: NonNullable<RunOptions['onInput']>, signal?: AbortSignal): Promise<void> {
    for (const batch of this.batches) {
      throwIfAborted(signal);
      layerInputs(arch, w, batch, onInput);
      await setImmediate();
      await pooledGramsSettled();
    }
  }

  dispose(): void {
    this.batches.forEach((b) => b.dispose());
    this.batches = [];
  }
}

/** The original model's path through the calibration windows, advanced on demand. */
export class OriginalPath {
  private next = 0;
  /** The last call's end: calls run one after another, whoever overlaps them (svdllm runs ahead). */
  private last: Promise<unknown> = Promise.resolve();

  constructor(readonly model: StreamingModel, readonly states: HiddenStates) {}

  /**
   * Runs original layer i over the states with these hooks and returns its weights (the caller
   * disposes them). Layers skipped since the last call (removed ones) run without hooks: statistics
   * always come from the original model. Calls go in increasing i; one made while another runs
   * starts when that one ends. The model's last layer leaves the states as they were unless onLayer
   * asks for its outputs: no call can follow it, so its down projection and residual are skipped.
   */
  through(i: number, o: RunOptions = {}): Promise<LayerWeights> {
    const run = this.last.then(() => this.advance(i, o));
    this.last = run.catch(() => {});
    return run;
  }

  private async advance(i: number, o: RunOptions): Promise<LayerWeights> {
    if (i < this.next) throw new Error(`calibration: layer ${i} requested after layer ${this.next - 1}`);
    const arch = this.model.arch;
    for (; this.next < i; this.next++) {
      const skipped = await this.model.loadLayer(this.next);
      try {
        await this.states.run(arch, skipped, { signal: o.signal });
      } finally {
        disposeLayer(skipped);
      }
    }
    const w = await this.model.loadLayer(i);
    try {
      // After the last layer no call can follow: its outputs are computed only for onLayer.
      const last = i === arch.dims.layers - 1;
      if (last && o.onInput && !o.onLayer) await this.states.capture(arch, w, o.onInput, o.signal);
      else await this.states.run(arch, w, o);
    } catch (e) {
      disposeLayer(w);
      throw e;
    }
    this.next = i + 1;
    return w;
  }

  dispose(): void {
    this.states.dispose();
  }
}
