// The hidden states of a set of windows carried from layer to layer: every batch goes through layer
// i, then every batch through layer i + 1. Each layer's weights are read once per pass, not once per
// batch, and only the states (windows × seqLen × hidden floats) and one layer are resident. This is
// how calibration statistics are collected layer by layer (SVD-LLM, ASVD, Block Influence).
import { setImmediate } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import type { InputSite } from '../arch/table';
import { throwIfAborted } from '../errors';
import { disposeLayer, layerForward, type LayerWeights } from './layer';
import type { StreamingModel } from './model';

export interface StepOptions {
  /** Run these weights instead of the checkpoint's layer (e.g. a compressed replacement); not disposed. */
  weights?: LayerWeights;
  onInput?: (site: InputSite, x: tf.Tensor2D, batch: number) => void;
  /** States before and after the layer for one batch; both stay owned by the run. */
  onLayer?: (hIn: tf.Tensor3D, hOut: tf.Tensor3D, batch: number) => void;
  signal?: AbortSignal;
}

export class LayerwiseRun {
  private states: tf.Tensor3D[];
  private layer = 0;

  private constructor(readonly model: StreamingModel, readonly ids: Int32Array, readonly seqLen: number, readonly batchWindows: number, states: tf.Tensor3D[]) {
    this.states = states;
  }

  /** Embeds ids (whole windows of seqLen) in batches of `batch` windows. */
  static async start(model: StreamingModel, ids: Int32Array, seqLen: number, batch: number, signal?: AbortSignal): Promise<LayerwiseRun> {
    if (ids.length === 0 || ids.length % seqLen !== 0) throw new Error(`layerwise run: ${ids.length} ids are not whole windows of ${seqLen}`);
    const windows = ids.length / seqLen;
    const states: tf.Tensor3D[] = [];
    try {
      for (let w = 0; w < windows; w += batch) {
        throwIfAborted(signal);
        const b = Math.min(batch, windows - w);
        states.push(await model.embed(ids.subarray(w * seqLen, (w + b) * seqLen), b, seqLen));
      }
    } catch (e) {
      states.forEach((s) => s.dispose());
      throw e;
    }
    return new LayerwiseRun(model, ids, seqLen, batch, states);
  }

  /** Index of the layer the next step() runs. */
  get nextLayer(): number {
    return this.layer;
  }

  /** Current hidden states, one [b, seqLen, hidden] tensor per batch (owned by the run). */
  get hidden(): readonly tf.Tensor3D[] {
    return this.states;
  }

  /** The ids of batch k (for nll on its states). */
  batchIds(k: number): Int32Array {
    const n = this.batchWindows * this.seqLen;
    return this.ids.subarray(k * n, Math.min((k + 1) * n, this.ids.length));
  }

  /** Runs the next layer over every batch. */
  async step(o: StepOptions = {}): Promise<void> {
    if (this.layer >= this.model.layerCount) throw new Error('layerwise run: every layer has run');
    throwIfAborted(o.signal);
    const w = o.weights ?? (await this.model.loadLayer(this.layer));
    try {
      for (let k = 0; k < this.states.length; k++) {
        throwIfAborted(o.signal);
        const onInput = o.onInput;
        const next = layerForward(this.model.arch, w, this.states[k], onInput ? { onInput: (site, x) => onInput(site, x, k) } : undefined);
        try {
          o.onLayer?.(this.states[k], next, k);
        } catch (e) {
          next.dispose();
          throw e;
        }
        this.states[k].dispose();
        this.states[k] = next;
        // Let the event loop breathe between batches (progress, cancellation requests).
        await setImmediate();
      }
    } finally {
      if (!o.weights) disposeLayer(w);
    }
    this.layer++;
  }

  /** Summed next-token NLL over every batch (after the last layer). */
  async nll(signal?: AbortSignal): Promise<{ sum: number; count: number }> {
    let sum = 0;
    let count = 0;
    for (let k = 0; k < this.states.length; k++) {
      throwIfAborted(signal);
      const r = await this.model.nll(this.states[k], this.batchIds(k));
      sum += r.sum;
      count += r.count;
    }
    return { sum, count };
  }

  dispose(): void {
    this.states.forEach((s) => s.dispose());
    this.states = [];
  }
}
