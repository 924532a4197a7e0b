// Perplexity as METHODS.md "Evaluation" defines it (the SVD-LLM evaluation code's protocol): the
// token stream cut into consecutive windows of exactly L tokens, tail dropped, L − 1 predictions per
// window, exp of the mean NLL. Windows go through the model in batches, each batch layer by layer.
import { throwIfAborted } from '../errors';
import { evaluationWindows } from '../data/text';
import { disposePassContext, type StreamingModel } from '../model/model';

export interface PerplexityResult { perplexity: number; windows: number; predictions: number; nll: number }

export async function perplexity(model: StreamingModel, ids: Int32Array, seqLen: number,
  opts: { batch?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {}): Promise<PerplexityResult> {
  const { windows, ids: used } = evaluationWindows(ids, seqLen);
  if (windows === 0) throw new Error(`evaluation text has ${ids.length} tokens, fewer than one window of ${seqLen}`);
  const batch = Math.max(1, Math.min(opts.batch ?? 8, windows));
  let sum = 0;
  let count = 0;
  for (let w0 = 0; w0 < windows; w0 += batch) {
    throwIfAborted(opts.signal);
    const b = Math.min(batch, windows - w0);
    const chunk = used.subarray(w0 * seqLen, (w0 + b) * seqLen);
    const ctx = model.context(b, seqLen);
    let h = model.embed(chunk, b, seqLen);
    try {
      for (let i = 0; i < model.layerCount; i++) h = await model.layer(i, h, ctx);
      const r = await model.nll(h, chunk, seqLen);
      sum += r.sum;
      count += r.count;
    } finally {
      h.dispose();
      disposePassContext(ctx);
    }
    opts.onProgress?.(w0 + b, windows);
  }
  return { perplexity: Math.exp(sum / count), windows, predictions: count, nll: sum / count };
}
