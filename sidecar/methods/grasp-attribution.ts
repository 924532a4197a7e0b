// GRASP's attribution pass (METHODS.md "GRASP / Taco-SVD" step 3) on the streaming engine: the
// gradient of the whole model's summed next-token NLL over the calibration windows with respect to
// tensors that the resident layers use (GRASP: the σ of the projections being replaced), summed
// over batches. The layers below `from` (the lowest replaced layer) never see a replacement, so they
// run once and only their output states are kept; layers from..L−1 stay resident, because every
// pass runs them forward and back. The owner (the method) swaps projections in and out of them.
import { setImmediate } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import { withPlainMatMulGrad } from '../tensor/gradients';
import { throwIfAborted } from '../errors';
import { disposeLayer, layerForward, type LayerWeights } from '../model/layer';
import { LOGIT_ROWS, predictionRows, type StreamingModel } from '../model/model';
import { readTensor } from '../model/read-tensor';

/**
 * Windows per gradient pass. The tape holds the activations of every resident layer and the logits
 * of the batch until the backward pass; the summed NLL is additive over windows, so the batch size
 * does not change the result.
 */
export const GRADIENT_BATCH = 4;

export interface GradientResult {
  /** Per x, Σ over batches of ∂L/∂x (float64 sums of float32 batch gradients). */
  grads: Float64Array[];
  /** L: the summed NLL over all windows with the current weights. */
  loss: number;
  /** Predictions L sums over: windows × (seqLen − 1). */
  predictions: number;
}

export interface GradientOptions {
  signal?: AbortSignal;
  /** After each batch, with the number of batches done. */
  onBatch?: (done: number) => void;
}

export class Attribution {
  private constructor(
    private readonly model: StreamingModel,
    readonly from: number,
    private readonly resident: LayerWeights[],
    private readonly head: Head,
    private states: tf.Tensor3D[],
    private readonly ids: Int32Array[],
    private readonly predictions: number,
  ) {}

  get batches(): number {
    return this.states.length;
  }

  /** Embeds the windows (ids: windows × seqLen), runs layers 0..from−1 once, loads from..L−1. */
  static async create(model: StreamingModel, ids: Int32Array, seqLen: number, from: number, signal?: AbortSignal): Promise<Attribution> {
    const windows = ids.length / seqLen;
    if (!Number.isInteger(windows) || windows < 1) throw new Error(`attribution: ${ids.length} ids are not whole windows of ${seqLen}`);
    if (!(from >= 0 && from < model.layerCount)) throw new Error(`attribution: layer ${from} out of range`);
    const states: tf.Tensor3D[] = [];
    const batchIds: Int32Array[] = [];
    const resident: LayerWeights[] = [];
    let head: Head | undefined;
    try {
      for (let w = 0; w < windows; w += GRADIENT_BATCH) {
        const b = Math.min(GRADIENT_BATCH, windows - w);
        const part = ids.subarray(w * seqLen, (w + b) * seqLen);
        states.push(await model.embed(part, b, seqLen));
        batchIds.push(part);
      }
      for (let i = 0; i < from; i++) {
        const w = await model.loadLayer(i);
        try {
          for (let k = 0; k < states.length; k++) {
            throwIfAborted(signal);
            const next = layerForward(model.arch, w, states[k]);
            states[k].dispose();
            states[k] = next;
          }
        } finally {
          disposeLayer(w);
        }
      }
      for (let i = from; i < model.layerCount; i++) resident.push(await model.loadLayer(i));
      head = await loadHead(model);
      return new Attribution(model, from, resident, head, states, batchIds, windows * (seqLen - 1));
    } catch (e) {
      if (head) tf.dispose([head.t, head.rows]);
      tf.dispose(states);
      resident.forEach(disposeLayer);
      throw e;
    }
  }

  /** Resident weights of layer i (from ≤ i < L). */
  weights(i: number): LayerWeights {
    const w = this.resident[i - this.from];
    if (!w) throw new Error(`attribution: layer ${i} is not resident (from ${this.from})`);
    return w;
  }

  /**
   * L and Σ_batches ∂L/∂x for each x, where every x is used only by resident layers ≥ at: layers
   * from..at−1 run without a tape, since nothing below `at` depends on the xs.
   */
  async gradients(at: number, xs: tf.Tensor[], o: GradientOptions = {}): Promise<GradientResult> {
    this.weights(at);
    const grads = xs.map((x) => new Float64Array(x.size));
    let loss = 0;
    for (let k = 0; k < this.states.length; k++) {
      throwIfAborted(o.signal);
      const h = this.run(this.states[k], this.from, at);
      try {
        const ids = this.ids[k];
        // The xs are reached through the resident layers, not through f's arguments; tfjs's tape
        // matches them by tensor id, and throws if one does not lead to the loss.
        const r = withPlainMatMulGrad(() => tf.valueAndGrads(() => summedNll(this.model, this.head, this.run(h, at, this.model.layerCount), ids))(xs));
        try {
          loss += (await r.value.data())[0];
          for (let j = 0; j < xs.length; j++) {
            const g = await r.grads[j].data();
            for (let i = 0; i < g.length; i++) grads[j][i] += g[i];
          }
        } finally {
          tf.dispose([r.value, ...r.grads]);
        }
      } finally {
        h.dispose();
      }
      o.onBatch?.(k + 1);
      // Let the event loop deliver progress and cancellation between batches.
      await setImmediate();
    }
    return { grads, loss, predictions: this.predictions };
  }

  /** Resident layers a..b−1 on h (left to the caller); a new tensor even when a = b. */
  private run(h: tf.Tensor3D, a: number, b: number): tf.Tensor3D {
    let cur = tf.clone(h);
    for (let i = a; i < b; i++) {
      const next = layerForward(this.model.arch, this.weights(i), cur);
      cur.dispose();
      cur = next;
    }
    return cur;
  }

  /** Releases the states and the resident layers (a σ a linear still carries belongs to its installer). */
  dispose(): void {
    tf.dispose(this.states);
    this.states = [];
    this.resident.forEach(disposeLayer);
    this.resident.length = 0;
    tf.dispose([this.head.t, this.head.rows]);
  }
}

/** The output head in both layouts: [hidden, vocab] for the logits, [vocab, hidden] for the gradient. */
interface Head { t: tf.Tensor2D; rows: tf.Tensor2D }

/** lm_head.weight (or the tied embedding), [vocab, hidden], and its transpose: our own copy, StreamingModel's is private. */
async function loadHead(model: StreamingModel): Promise<Head> {
  const name = `${model.arch.tied ? model.arch.embed : model.arch.lmHead}.weight`;
  const e = model.ckpt.tensors.get(name);
  if (!e || e.shape.length !== 2) throw new Error(`${model.ckpt.dir}: ${name} missing or not 2-D`);
  const rows = await readTensor<tf.Rank.R2>(model.ckpt, name);
  return { rows, t: tf.transpose(rows) as tf.Tensor2D };
}

/**
 * The summed next-token NLL (position t predicts ids[t + 1], as StreamingModel.nll counts it), as one
 * differentiable scalar that wasm can differentiate quickly: the prediction rows are a slice (the
 * gradient of a gather needs UnsortedSegmentSum, which tfjs-backend-wasm lacks), and the head's
 * cross-entropy has its gradient in closed form (crossEntropy).
 */
function summedNll(model: StreamingModel, head: Head, h: tf.Tensor3D, ids: Int32Array): tf.Scalar {
  const [B, T, H] = h.shape;
  const { targets } = predictionRows(B, T, ids);
  return tf.tidy(() => {
    const x = tf.reshape(tf.slice(h, [0, 0, 0], [B, T - 1, H]), [B * (T - 1), H]) as tf.Tensor2D;
    let total = tf.scalar(0);
    for (let s = 0; s < targets.length; s += LOGIT_ROWS) {
      const n = Math.min(LOGIT_ROWS, targets.length - s);
      total = tf.add(total, crossEntropy(head, targets.subarray(s, s + n))(model.finalNorm(tf.slice(x, [s, 0], [n, H]))));
    }
    return total;
  });
}

/**
 * x [n, hidden] ↦ Σ_r logsumexp(x_r · head) − x_r · head_{y_r}, with ∂/∂x = softmax(x · head) · headᵀ − head_y.
 * tfjs's op-by-op backward of the same expression takes 4× longer (several [n, vocab] temporaries,
 * and matMul with transposeB, which is slow on wasm: see model/linear.ts); measured on 124 rows of
 * a 32000-token vocabulary.
 */
function crossEntropy(head: Head, targets: Int32Array): (x: tf.Tensor2D) => tf.Scalar {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const z = tf.matMul(x, head.t);
    const lse = tf.logSumExp(z, -1, true);
    const y = tf.gather(head.rows, tf.tensor1d(targets, 'int32')) as tf.Tensor2D;
    save([z, lse, y]);
    return {
      value: tf.sum(tf.sub(lse, tf.sum(tf.mul(x, y), -1, true))) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, [zs, ls, ys]: tf.Tensor[]) => tf.mul(dy, tf.sub(tf.matMul(tf.exp(tf.sub(zs, ls)) as tf.Tensor2D, head.rows), ys)),
    };
  }) as (x: tf.Tensor2D) => tf.Scalar;
}
