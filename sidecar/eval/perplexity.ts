// Perplexity as METHODS.md "Evaluation" defines it (the SVD-LLM evaluation code's protocol): the
// token stream cut into consecutive windows of exactly L tokens, tail dropped, L − 1 predictions per
// window, exp of the mean NLL over all predictions.
//
// Streaming choice: windows are taken in groups whose hidden states fit ACTIVATION_BYTES, and each
// group runs layer-outer (every batch through layer 0, then layer 1, ...; model/layerwise.ts). Each
// layer is then read from the checkpoint once per group instead of once per batch, which matters
// when reading and decoding a layer costs more than running a batch through it, while memory stays
// bounded by the budget plus one layer. On the reference model the whole valid set is one group.
import { throwIfAborted } from '../errors';
import { evaluationWindows } from '../data/text';
import type { StreamingModel } from '../model/model';
import { LayerwiseRun } from '../model/layerwise';

/** Hidden states held per group of windows (float32). */
export const ACTIVATION_BYTES = 256 * 1024 ** 2;

export interface PerplexityResult { perplexity: number; windows: number; predictions: number; nll: number }

export interface PerplexityOptions {
  /** Windows per batch through a layer (default 8). */
  batch?: number;
  /** Reports windows done after each group, and layer progress within it as fractions of windows. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  activationBytes?: number;
}

export async function perplexity(model: StreamingModel, ids: Int32Array, seqLen: number, opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  if (!(Number.isInteger(seqLen) && seqLen >= 2)) throw new Error(`evaluation seqLen must be an integer ≥ 2, got ${seqLen}`);
  const { windows, ids: used } = evaluationWindows(ids, seqLen);
  if (windows === 0) throw new Error(`evaluation text has ${ids.length} tokens, fewer than one window of ${seqLen}`);
  const batch = Math.max(1, Math.min(opts.batch ?? 8, windows));
  const perWindow = seqLen * model.arch.dims.hidden * 4;
  const group = Math.max(batch, Math.floor((opts.activationBytes ?? ACTIVATION_BYTES) / perWindow / batch) * batch);
  const L = model.layerCount;
  let sum = 0;
  let count = 0;
  for (let g0 = 0; g0 < windows; g0 += group) {
    throwIfAborted(opts.signal);
    const g = Math.min(group, windows - g0);
    const run = await LayerwiseRun.start(model, used.subarray(g0 * seqLen, (g0 + g) * seqLen), seqLen, batch, opts.signal);
    try {
      for (let i = 0; i < L; i++) {
        await run.step({ signal: opts.signal });
        opts.onProgress?.(g0 + Math.floor((g * (i + 1)) / (L + 1)), windows);
      }
      const r = await run.nll(opts.signal);
      sum += r.sum;
      count += r.count;
    } finally {
      run.dispose();
    }
    opts.onProgress?.(g0 + g, windows);
  }
  return { perplexity: Math.exp(sum / count), windows, predictions: count, nll: sum / count };
}
