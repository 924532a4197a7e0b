// The model run one decoder layer at a time (DESIGN.md "Checkpoints"): only the embedding, the head
// and the current layer's weights are resident, unless every layer fits in the cache budget, in
// which case layers stay loaded across batches (small models, repeated passes).
import * as tf from '@tensorflow/tfjs-core';
import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint';
import { resolveArch, type ResolvedArch } from '../arch/table';
import { disposeLayer, disposePassContext, layerForward, layerNorm, loadLayer, passContext, rmsNorm, type LayerHooks, type LayerWeights, type PassContext } from './layer';

/** Keep all layers loaded when their float32 weights total less than this. */
export const LAYER_CACHE_BYTES = 256 * 1024 ** 2;
/** Rows of logits materialised at once in nll(): bounds the [rows, vocab] matrix. */
const LOGIT_ROWS = 1024;

export class StreamingModel {
  private readonly cache = new Map<number, LayerWeights>();
  private readonly cacheAll: boolean;

  private constructor(
    readonly ckpt: Checkpoint,
    readonly arch: ResolvedArch,
    private readonly embedding: tf.Tensor2D,
    private readonly positions: tf.Tensor2D | undefined,
    private readonly norm: { w: tf.Tensor1D; b?: tf.Tensor1D },
    /** lm_head transposed, [hidden, vocab]. */
    private readonly head: tf.Tensor2D,
  ) {
    const layerBytes = [...ckpt.tensors.values()].filter((t) => t.name.startsWith(arch.layer(0).replace(/0\.$/, ''))).reduce((s, t) => s + 4 * t.shape.reduce((a, b) => a * b, 1), 0);
    this.cacheAll = layerBytes <= LAYER_CACHE_BYTES;
  }

  get layerCount(): number {
    return this.arch.dims.layers;
  }

  static async open(dir: string): Promise<StreamingModel> {
    const ckpt = await openCheckpoint(dir);
    try {
      return await StreamingModel.fromCheckpoint(ckpt);
    } catch (e) {
      await ckpt.close();
      throw e;
    }
  }

  static async fromCheckpoint(ckpt: Checkpoint): Promise<StreamingModel> {
    const arch = resolveArch(ckpt.config, ckpt.tensors.keys());
    const t2 = async (name: string) => {
      const e = ckpt.tensors.get(name)!;
      return tf.tensor2d(await ckpt.read(name), e.shape as [number, number]);
    };
    const embedding = await t2(`${arch.embed}.weight`);
    const positions = arch.positions ? await t2(`${arch.positions}.weight`) : undefined;
    const norm = {
      w: tf.tensor1d(await ckpt.read(`${arch.finalNorm}.weight`)),
      b: ckpt.has(`${arch.finalNorm}.bias`) ? tf.tensor1d(await ckpt.read(`${arch.finalNorm}.bias`)) : undefined,
    };
    // Held transposed [hidden, vocab]: see linear.ts for why.
    const headW = arch.tied ? embedding : await t2(`${arch.lmHead}.weight`);
    const head = tf.transpose(headW) as tf.Tensor2D;
    if (headW !== embedding) headW.dispose();
    return new StreamingModel(ckpt, arch, embedding, positions, norm, head);
  }

  /** ids [batch·seqLen] → hidden [batch·seqLen, hidden]. */
  embed(ids: Int32Array, batch: number, seqLen: number): tf.Tensor2D {
    if (ids.length !== batch * seqLen) throw new Error(`embed: ${ids.length} ids for ${batch}×${seqLen}`);
    return tf.tidy(() => {
      const e = tf.gather(this.embedding, tf.tensor1d(ids, 'int32')) as tf.Tensor2D;
      if (!this.positions) return e;
      const pos = tf.tensor1d(Array.from({ length: batch * seqLen }, (_, i) => i % seqLen), 'int32');
      return tf.add(e, tf.gather(this.positions, pos)) as tf.Tensor2D;
    });
  }

  context(batch: number, seqLen: number): PassContext {
    return passContext(this.arch, batch, seqLen);
  }

  /** Layer i's weights: cached when the whole stack fits the budget, else loaded for this call. */
  async weights(i: number): Promise<{ w: LayerWeights; release: () => void }> {
    const cached = this.cache.get(i);
    if (cached) return { w: cached, release: () => {} };
    const w = await loadLayer(this.ckpt, this.arch, i);
    if (this.cacheAll) {
      this.cache.set(i, w);
      return { w, release: () => {} };
    }
    return { w, release: () => disposeLayer(w) };
  }

  /** Runs layer i on h (disposing h) and returns the new hidden states. */
  async layer(i: number, h: tf.Tensor2D, ctx: PassContext, hooks?: LayerHooks): Promise<tf.Tensor2D> {
    const { w, release } = await this.weights(i);
    try {
      const out = layerForward(this.arch, w, h, ctx, hooks);
      h.dispose();
      return out;
    } finally {
      release();
    }
  }

  finalNorm(h: tf.Tensor2D): tf.Tensor2D {
    return this.norm.b ? layerNorm(h, this.norm.w, this.norm.b, this.arch.dims.eps) : rmsNorm(h, this.norm.w, this.arch.dims.eps);
  }

  /** Logits for final-normed rows x [n, hidden] → [n, vocab]. */
  logits(x: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(x, this.head);
  }

  /**
   * Sum of next-token negative log-likelihoods for hidden states h [batch·seqLen, hidden] (after the
   * last layer) and their ids: position t predicts ids[t+1] within each window, so seqLen − 1
   * predictions per window. Logits are materialised LOGIT_ROWS rows at a time.
   */
  async nll(h: tf.Tensor2D, ids: Int32Array, seqLen: number): Promise<{ sum: number; count: number }> {
    const n = ids.length;
    const rows: number[] = [];
    const targets: number[] = [];
    for (let t = 0; t < n; t++) {
      if (t % seqLen === seqLen - 1) continue;
      rows.push(t);
      targets.push(ids[t + 1]);
    }
    let sum = 0;
    for (let start = 0; start < rows.length; start += LOGIT_ROWS) {
      const r = rows.slice(start, start + LOGIT_ROWS);
      const y = targets.slice(start, start + LOGIT_ROWS);
      const part = tf.tidy(() => {
        const x = this.finalNorm(tf.gather(h, tf.tensor1d(r, 'int32')) as tf.Tensor2D);
        // −log p(y) = logsumexp(logits) − x·head_y: the target logit from a gathered head column.
        const target = tf.sum(tf.mul(x, tf.transpose(tf.gather(this.head, tf.tensor1d(y, 'int32'), 1))), -1);
        return tf.sum(tf.sub(tf.logSumExp(this.logits(x), -1), target));
      });
      sum += (await part.data())[0];
      part.dispose();
    }
    return { sum, count: rows.length };
  }

  async close(): Promise<void> {
    for (const w of this.cache.values()) disposeLayer(w);
    this.cache.clear();
    this.embedding.dispose();
    this.positions?.dispose();
    this.norm.w.dispose();
    this.norm.b?.dispose();
    this.head.dispose();
    await this.ckpt.close();
  }
}

export { disposePassContext };
