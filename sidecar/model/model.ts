// The model run one decoder layer at a time (DESIGN.md "Checkpoints"): the final norm stays
// resident, the embedding table and the head from their first use (the calibration methods read
// only their windows' rows of the embedding and never load the head); a decoder layer's weights are
// read from the checkpoint when it runs and released after, so peak memory is one layer plus the
// activations whatever the depth.
import * as tf from '@tensorflow/tfjs-core';
import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint';
import { resolveArch, type InputSite, type ResolvedArch } from '../arch/table';
import { throwIfAborted } from '../errors';
import { disposeLayer, layerForward, loadLayer, type LayerHooks, type LayerWeights } from './layer';
import { hostNllSum } from './lse';
import { applyLinear } from './linear';
import { hostLinearAvailable } from './linear-host';
import { layerNorm, rmsNorm } from './norm';

/** Rows of logits materialised at once by nll(): bounds the [rows, vocab] matrix (128 MB at 32k vocab). */
export const LOGIT_ROWS = 1024;

export interface ForwardOptions {
  /** First layer to run (default 0) and the layer after the last (default layerCount). */
  from?: number;
  to?: number;
  onInput?: (layer: number, site: InputSite, x: tf.Tensor2D) => void;
  /** Hidden states before and after a layer; both are disposed after the call (tf.keep or clone to retain). */
  onLayer?: (layer: number, hIn: tf.Tensor3D, hOut: tf.Tensor3D) => void;
  signal?: AbortSignal;
}

export class StreamingModel {
  readonly vocabSize: number;
  /** The whole token embedding [vocab, hidden] on the host, read on the first embed() that is not
   *  given rows of its own (embeddingRows): embed() uploads only the rows it looks up, so the table
   *  never enters the tensor backend's memory (the wasm heap keeps its high-water mark for the
   *  process). */
  private table?: Promise<Float32Array>;
  private released = false;
  readonly hidden: number;
  private positions?: tf.Tensor2D;
  /** lm_head, read on first use (loadHead); for a tied head a second copy. */
  private head?: Promise<Head>;

  private constructor(
    readonly ckpt: Checkpoint,
    readonly arch: ResolvedArch,
    embedding: { rows: number; cols: number },
    positions: tf.Tensor2D | undefined,
    private readonly norm: { w: tf.Tensor1D; b?: tf.Tensor1D },
  ) {
    this.positions = positions;
    this.vocabSize = embedding.rows;
    this.hidden = embedding.cols;
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

  /** Takes ownership of ckpt: close() closes it. */
  static async fromCheckpoint(ckpt: Checkpoint): Promise<StreamingModel> {
    const arch = resolveArch(ckpt.config, ckpt.tensors.keys());
    const held: tf.Tensor[] = [];
    const t2 = async (name: string) => {
      const { data, rows, cols } = await readMatrix(ckpt, name);
      const t = tf.tensor2d(data, [rows, cols]);
      held.push(t);
      return t;
    };
    const t1 = async (name: string) => {
      const t = tf.tensor1d(await ckpt.read(name));
      held.push(t);
      return t;
    };
    try {
      const embedding = matrixShape(ckpt, `${arch.embed}.weight`);
      const positions = arch.positions ? await t2(`${arch.positions}.weight`) : undefined;
      const norm = { w: await t1(`${arch.finalNorm}.weight`), b: ckpt.has(`${arch.finalNorm}.bias`) ? await t1(`${arch.finalNorm}.bias`) : undefined };
      return new StreamingModel(ckpt, arch, embedding, positions, norm);
    } catch (e) {
      held.forEach((t) => t.dispose());
      throw e;
    }
  }

  /**
   * ids [batch·seqLen] (batch windows of seqLen, row-major) → hidden states [batch, seqLen, hidden],
   * looked up in `rows` (from embeddingRows, holding every id here) or else in the whole table.
   */
  async embed(ids: Int32Array, batch: number, seqLen: number, rows?: EmbeddingRows): Promise<tf.Tensor3D> {
    const { positions } = this;
    if (this.released) throw new Error('embed: the embedding was released');
    if (ids.length !== batch * seqLen) throw new Error(`embed: ${ids.length} ids for ${batch}×${seqLen}`);
    this.checkIds(ids);
    if (positions && seqLen > positions.shape[0]) throw new Error(`embed: sequence length ${seqLen} exceeds the ${positions.shape[0]} learned positions`);
    const H = this.hidden;
    let row: (id: number) => Float32Array;
    if (rows) {
      row = (id) => {
        const k = rows.index.get(id);
        if (k === undefined) throw new Error(`embed: token id ${id} is not among the rows given`);
        return rows.data.subarray(k * H, k * H + H);
      };
    } else {
      this.table ??= this.ckpt.read(`${this.arch.embed}.weight`);
      const table = await this.table;
      row = (id) => table.subarray(id * H, id * H + H);
    }
    const x = new Float32Array(ids.length * H);
    ids.forEach((id, k) => x.set(row(id), k * H));
    return tf.tidy(() => {
      const e = tf.tensor3d(x, [batch, seqLen, H]);
      return (positions ? tf.add(e, tf.slice(positions, [0, 0], [seqLen, -1])) : e) as tf.Tensor3D;
    });
  }

  /**
   * The embedding's rows of the distinct ids among `ids`, read from the checkpoint without the rest
   * of the table, for a caller that embeds a fixed set of windows once (calibration): at width 512
   * the whole table is 63 MiB of host memory, which stayed resident until the main thread's
   * collector found it, past the first layers' peak.
   */
  async embeddingRows(ids: Int32Array): Promise<EmbeddingRows> {
    if (this.released) throw new Error('embed: the embedding was released');
    this.checkIds(ids);
    const distinct = Int32Array.from(new Set(ids)).sort();
    const data = this.table
      ? gatherRows(await this.table, distinct, this.hidden)
      : await this.ckpt.readRows(`${this.arch.embed}.weight`, distinct);
    return { index: new Map(Array.from(distinct, (id, k) => [id, k])), data };
  }

  private checkIds(ids: Int32Array): void {
    const V = this.vocabSize;
    for (const id of ids) if (!(id >= 0 && id < V)) throw new Error(`embed: token id ${id} outside the vocabulary of ${V}`);
  }

  /**
   * Frees the token (and position) embedding, for a caller that has embedded all it will and then
   * only runs layers: its memory goes to the layers' activations instead. embed() throws after.
   */
  releaseEmbedding(): void {
    this.positions?.dispose();
    this.positions = this.table = undefined;
    this.released = true;
  }

  /** Layer i's weights, read now; the caller releases them with disposeLayer. */
  loadLayer(i: number): Promise<LayerWeights> {
    if (!(i >= 0 && i < this.layerCount)) throw new Error(`layer ${i} out of range 0..${this.layerCount - 1}`);
    return loadLayer(this.ckpt, this.arch, i);
  }

  /** Runs layer i on h (left to the caller) with its weights loaded for this call only. */
  async runLayer(i: number, h: tf.Tensor3D, hooks?: LayerHooks): Promise<tf.Tensor3D> {
    const w = await this.loadLayer(i);
    try {
      return layerForward(this.arch, w, h, hooks);
    } finally {
      disposeLayer(w);
    }
  }

  /** Runs layers [from, to) on h (left to the caller); intermediate states are disposed. */
  async forward(h: tf.Tensor3D, o: ForwardOptions = {}): Promise<tf.Tensor3D> {
    const from = o.from ?? 0;
    const to = o.to ?? this.layerCount;
    let cur = h;
    for (let i = from; i < to; i++) {
      throwIfAborted(o.signal);
      const onInput = o.onInput;
      const next = await this.runLayer(i, cur, onInput ? { onInput: (site, x) => onInput(i, site, x) } : undefined);
      o.onLayer?.(i, cur, next);
      if (cur !== h) cur.dispose();
      cur = next;
    }
    return cur === h ? tf.clone(h) : cur;
  }

  /** Final norm of rows x [n, hidden]. */
  finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    const eps = this.arch.dims.eps;
    return this.norm.b ? layerNorm(x, this.norm.w, this.norm.b, eps) : rmsNorm(x, this.norm.w, eps);
  }

  /** Final norm + lm_head: [B, T, hidden] → logits [B, T, vocab]. Materialises all of them: for short inputs. */
  async logits(h: tf.Tensor3D): Promise<tf.Tensor3D> {
    const [B, T, H] = h.shape;
    const head = await this.loadHead();
    return tf.tidy(() => tf.reshape(headProduct(this.finalNorm(tf.reshape(h, [B * T, H]) as tf.Tensor2D), head), [B, T, this.vocabSize]) as tf.Tensor3D);
  }

  /** Summed next-token NLL and prediction count, never holding more than LOGIT_ROWS rows of logits. */
  async nll(h: tf.Tensor3D, ids: Int32Array): Promise<{ sum: number; count: number }> {
    const { rows, targets } = predictionRows(h.shape[0], h.shape[1], ids);
    const head = await this.loadHead();
    const flat = tf.reshape(h, [h.shape[0] * h.shape[1], h.shape[2]]) as tf.Tensor2D;
    let sum = 0;
    try {
      for (let s = 0; s < rows.length; s += LOGIT_ROWS) {
        sum += await this.chunkNll(head, flat, rows.subarray(s, s + LOGIT_ROWS), targets.subarray(s, s + LOGIT_ROWS));
      }
    } finally {
      flat.dispose();
    }
    return { sum, count: rows.length };
  }

  /** The summed NLL of one chunk of rows: its log-sum-exp by lse.ts where that applies, else by tfjs's ops. */
  private async chunkNll(head: Head, flat: tf.Tensor2D, rows: Int32Array, targets: Int32Array): Promise<number> {
    const x = tf.tidy(() => this.finalNorm(tf.gather(flat, tf.tensor1d(rows, 'int32')) as tf.Tensor2D));
    const logits = headProduct(x, head);
    try {
      const host = hostNllSum(logits, targets);
      if (host !== undefined) return host;
      const part = tf.tidy(() => {
        const ids = tf.tensor1d(targets, 'int32');
        const target = tf.sum(tf.mul(x, head.rows ? tf.gather(head.w, ids) : tf.transpose(tf.gather(head.w, ids, 1))), -1);
        return tf.sum(tf.sub(tf.logSumExp(logits, -1), target));
      });
      const [value] = await part.data();
      part.dispose();
      return value;
    } finally {
      tf.dispose([x, logits]);
    }
  }

  /**
   * The head, read on first use: as the checkpoint holds it where our product kernel runs
   * (linear-host.ts), else transposed on the host for tfjs's plain matMul, also when tied to the
   * embedding (on the device it would be held twice, and the wasm heap keeps its high-water mark).
   */
  private loadHead(): Promise<Head> {
    const name = `${this.arch.tied ? this.arch.embed : this.arch.lmHead}.weight`;
    this.head ??= hostLinearAvailable()
      ? readMatrix(this.ckpt, name).then(({ data, rows, cols }) => ({ w: tf.tensor2d(data, [rows, cols]), rows: true }))
      : headTransposed(this.ckpt, name).then((w) => ({ w, rows: false }));
    return this.head;
  }

  async close(): Promise<void> {
    this.releaseEmbedding();
    this.norm.w.dispose();
    this.norm.b?.dispose();
    (await this.head?.catch(() => undefined))?.w.dispose();
    await this.ckpt.close();
  }
}

/** Rows of the token embedding: row k of data [ids, hidden] is that of the id that index maps to k. */
export interface EmbeddingRows { index: ReadonlyMap<number, number>; data: Float32Array }

function gatherRows(table: Float32Array, rows: Int32Array, H: number): Float32Array {
  const out = new Float32Array(rows.length * H);
  rows.forEach((r, k) => out.set(table.subarray(r * H, r * H + H), k * H));
  return out;
}

/** lm_head as [vocab, hidden] (`rows`, the checkpoint's layout) or as [hidden, vocab]. */
interface Head { w: tf.Tensor2D; rows: boolean }

/** x [n, hidden] times the head: logits [n, vocab]. In the checkpoint's layout x Wᵀ, as a
 *  projection's (our kernel, or tfjs's product where it does not apply: a gradient tape). */
const headProduct = (x: tf.Tensor2D, head: Head): tf.Tensor2D =>
  head.rows ? applyLinear(x, { kind: 'dense', w: head.w }) : tf.matMul(x, head.w) as tf.Tensor2D;

/** lm_head [vocab, hidden] from the checkpoint as [hidden, vocab]. */
async function headTransposed(ckpt: Checkpoint, name: string): Promise<tf.Tensor2D> {
  const { data: w, rows, cols } = await readMatrix(ckpt, name);
  const t = new Float32Array(w.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = w[i * cols + j];
  return tf.tensor2d(t, [cols, rows]);
}

/** A 2-D tensor of the checkpoint, read to float32 on the host. */
async function readMatrix(ckpt: Checkpoint, name: string): Promise<{ data: Float32Array; rows: number; cols: number }> {
  return { data: await ckpt.read(name), ...matrixShape(ckpt, name) };
}

function matrixShape(ckpt: Checkpoint, name: string): { rows: number; cols: number } {
  const e = ckpt.tensors.get(name);
  if (!e || e.shape.length !== 2) throw new Error(`${ckpt.dir}: ${name} missing or not 2-D`);
  return { rows: e.shape[0], cols: e.shape[1] };
}

/** Flat row indices that make a prediction (all but each window's last) and the ids they predict. */
export function predictionRows(batch: number, seqLen: number, ids: Int32Array): { rows: Int32Array; targets: Int32Array } {
  if (ids.length !== batch * seqLen) throw new Error(`nll: ${ids.length} ids for hidden states of ${batch}×${seqLen}`);
  const n = batch * (seqLen - 1);
  const rows = new Int32Array(n);
  const targets = new Int32Array(n);
  let k = 0;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seqLen - 1; t++) {
      rows[k] = b * seqLen + t;
      targets[k++] = ids[b * seqLen + t + 1];
    }
  }
  return { rows, targets };
}
