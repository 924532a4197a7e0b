// The whole model resident for SoCo's training: every kept layer loaded once, each targeted
// projection replaced by its full SVD with a trainable score per component, and the original
// model's next-token distributions on the calibration windows reduced to what the KL needs.
import { setImmediate } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from '../errors';
import { getLinalg } from '../linalg';
import { fromFloat32, type Matrix } from '../linalg/matrix';
import { disposeLayer, layerForward, type LayerWeights } from '../model/layer';
import { LOGIT_ROWS, type StreamingModel } from '../model/model';
import { CALIBRATION_BATCH } from './calibration';
import { klSum, teacherTerms, type Costs } from './soco-losses';
import { readTensor } from '../model/read-tensor';

export interface Target { name: string; key: string; layer: number }

/** One trained projection: its SVD (float64, for folding) and its score variable. */
export interface ScoredMatrix {
  name: string;
  layer: number;
  shape: [number, number];
  svd: { s: Float64Array; u: Matrix; v: Matrix };
  score: tf.Variable<tf.Rank.R1>;
}

export class ResidentModel {
  readonly matrices: ScoredMatrix[] = [];
  private layers: LayerWeights[] = [];
  private embedded?: tf.Tensor3D; // [windows, T, hidden]
  private teacherG?: tf.Tensor3D; // [windows, T, hidden]: p_t·headᵀ per position
  private teacherC?: tf.Tensor2D; // [windows, T]: Σ_v p_t log p_t per position
  private count = 0;
  private head?: tf.Tensor2D; // [hidden, vocab]

  private constructor(private readonly model: StreamingModel, readonly seqLen: number) {}

  /**
   * ids: windows × seqLen. Layers in `removed` take part in the teacher (the original model) only.
   * Tensors are owned from the moment they exist, so dispose() after a failure releases them all.
   */
  static async build(model: StreamingModel, ids: Int32Array, seqLen: number, removed: number[], targets: Target[],
    signal?: AbortSignal): Promise<ResidentModel> {
    const r = new ResidentModel(model, seqLen);
    try {
      await r.load(ids, removed, targets, signal);
      return r;
    } catch (e) {
      r.dispose();
      throw e;
    }
  }

  get windows(): number {
    return this.count;
  }

  /** Σ of KL(original ‖ current) over every position of these windows; differentiable in the scores. */
  klSum(windows: number[]): tf.Scalar {
    const { embedded, teacherG, teacherC, head } = this;
    if (!embedded || !teacherG || !teacherC || !head) throw new Error('soco: model used after dispose');
    return tf.tidy(() => {
      const idx = tf.tensor1d(windows, 'int32');
      let h = tf.gather(embedded, idx) as tf.Tensor3D;
      for (const w of this.layers) h = layerForward(this.model.arch, w, h);
      const [B, T, H] = h.shape;
      const x = this.model.finalNorm(tf.reshape(h, [B * T, H]) as tf.Tensor2D);
      const g = tf.reshape(tf.gather(teacherG, idx), [B * T, H]) as tf.Tensor2D;
      const c = tf.reshape(tf.gather(teacherC, idx), [B * T]) as tf.Tensor1D;
      return klSum(x, head, { g, c }, LOGIT_ROWS);
    });
  }

  /** Component costs and the budget the plan's ranks give (Σ r_j (m_j + n_j)). */
  costs(ranks: number[]): Costs {
    const perComponent = this.matrices.map((m) => m.shape[0] + m.shape[1]);
    return {
      perComponent,
      budget: perComponent.reduce((a, c, j) => a + c * ranks[j], 0),
      unit: perComponent.reduce((a, c) => a + c, 0) / Math.max(1, perComponent.length),
    };
  }

  /** Σ m_j n_j over the trained projections (the dense parameters the ratio refers to). */
  denseParams(): number {
    return this.matrices.reduce((a, m) => a + m.shape[0] * m.shape[1], 0);
  }

  dispose(): void {
    this.layers.forEach(disposeLayer);
    this.layers = [];
    for (const m of this.matrices) m.score.dispose();
    this.matrices.length = 0;
    for (const t of [this.embedded, this.teacherG, this.teacherC, this.head]) t?.dispose();
    this.embedded = this.teacherG = this.teacherC = this.head = undefined;
  }

  private async load(ids: Int32Array, removed: number[], targets: Target[], signal?: AbortSignal): Promise<void> {
    const model = this.model;
    const all: LayerWeights[] = [];
    try {
      for (let i = 0; i < model.layerCount; i++) {
        throwIfAborted(signal);
        all.push(await model.loadLayer(i));
      }
      this.head = await readHead(model);
      await this.teacherPass(ids, all, signal);
    } catch (e) {
      all.forEach(disposeLayer);
      throw e;
    }
    all.forEach((w, i) => (removed.includes(i) ? disposeLayer(w) : this.layers.push(w)));
    for (const t of targets) {
      throwIfAborted(signal);
      const w = this.layers.find((l) => l.index === t.layer);
      const old = w?.linears.get(t.key);
      if (!w || old?.kind !== 'dense') throw new Error(`soco: ${t.name} is not a dense projection of a kept layer`);
      const [m, n] = old.w.shape;
      const svd = await getLinalg().svd(fromFloat32(m, n, (await old.w.data()) as Float32Array));
      const U = svd.u!;
      const V = svd.v!;
      const q = svd.s.length;
      // u = U diag(σ) and v = Vᵀ are fixed; the score variable sits between them (linear.ts's s).
      const us = new Float32Array(m * q);
      for (let i = 0; i < m; i++) for (let k = 0; k < q; k++) us[i * q + k] = U.data[i * q + k] * svd.s[k];
      const vt = new Float32Array(q * n);
      for (let k = 0; k < q; k++) for (let c = 0; c < n; c++) vt[k * n + c] = V.data[c * q + k];
      const ones = tf.ones([q]) as tf.Tensor1D;
      const score = tf.variable(ones, true);
      ones.dispose();
      this.matrices.push({ name: t.name, layer: t.layer, shape: [m, n], svd: { s: svd.s, u: U, v: V }, score });
      w.linears.set(t.key, { kind: 'factored', u: tf.tensor2d(us, [m, q]), v: tf.tensor2d(vt, [q, n]), s: score, b: old.b });
      old.w.dispose();
    }
  }

  /** Original model over all windows: embeddings kept for the student, teacher terms per window. */
  private async teacherPass(ids: Int32Array, layers: LayerWeights[], signal?: AbortSignal): Promise<void> {
    const { model, seqLen: T } = this;
    const windows = ids.length / T;
    const embedded: tf.Tensor3D[] = [];
    const g: tf.Tensor2D[] = [];
    const c: tf.Tensor1D[] = [];
    try {
      for (let w0 = 0; w0 < windows; w0 += CALIBRATION_BATCH) {
        const b = Math.min(CALIBRATION_BATCH, windows - w0);
        const e = await model.embed(ids.subarray(w0 * T, (w0 + b) * T), b, T);
        embedded.push(e);
        let h = e;
        let x: tf.Tensor2D;
        try {
          for (const w of layers) {
            throwIfAborted(signal);
            const next = layerForward(model.arch, w, h);
            if (h !== e) h.dispose();
            h = next;
            await setImmediate();
          }
          x = tf.tidy(() => model.finalNorm(tf.reshape(h, [b * T, -1]) as tf.Tensor2D));
        } finally {
          if (h !== e) h.dispose();
        }
        try {
          const t = teacherTerms(x, this.head!, LOGIT_ROWS);
          g.push(t.g);
          c.push(t.c);
        } finally {
          x.dispose();
        }
      }
      this.embedded = tf.concat(embedded, 0);
      this.teacherG = tf.tidy(() => tf.reshape(tf.concat(g, 0), [windows, T, -1]) as tf.Tensor3D);
      this.teacherC = tf.tidy(() => tf.reshape(tf.concat(c, 0), [windows, T]) as tf.Tensor2D);
      this.count = windows;
    } finally {
      tf.dispose([...embedded, ...g, ...c]);
    }
  }
}

/** lm_head as [hidden, vocab] (the embedding for a tied head): the model keeps its own copy private. */
async function readHead(model: StreamingModel): Promise<tf.Tensor2D> {
  const name = `${model.arch.tied ? model.arch.embed : model.arch.lmHead}.weight`;
  const e = model.ckpt.tensors.get(name);
  if (!e || e.shape.length !== 2) throw new Error(`${model.ckpt.dir}: ${name} missing or not 2-D`);
  const w = await readTensor<tf.Rank.R2>(model.ckpt, name);
  const t = tf.transpose(w) as tf.Tensor2D;
  w.dispose();
  return t;
}
