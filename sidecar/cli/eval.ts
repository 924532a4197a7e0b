// `rankwise eval`: perplexity of an original or compressed checkpoint on a text (METHODS.md protocol).
import type { BackendChoice } from '../rpc/protocol';
import { initBackend } from '../tensor/backend';
import { loadTokenizer } from '../tokenizer/tokenizer';
import { readText } from '../data/text';
import { StreamingModel } from '../model/model';
import { perplexity } from '../eval/perplexity';

export interface EvalResult { perplexity: number; windows: number; predictions: number; seconds: number; backend: string; seqLen: number }

export async function runEval(o: { dir: string; data: string; seqLen?: number; backend?: BackendChoice; batch?: number;
  onProgress?: (done: number, total: number) => void; signal?: AbortSignal }): Promise<EvalResult> {
  const t0 = performance.now();
  const backend = await initBackend(o.backend ?? 'auto');
  const model = await StreamingModel.open(o.dir);
  try {
    const seqLen = o.seqLen ?? Math.min(256, model.arch.dims.context);
    if (seqLen > model.arch.dims.context) throw new Error(`--seq-len ${seqLen} exceeds the model's context of ${model.arch.dims.context}`);
    const tokenizer = await loadTokenizer(o.dir);
    const ids = tokenizer.encode(await readText(o.data));
    const r = await perplexity(model, ids, seqLen, { batch: o.batch, onProgress: o.onProgress, signal: o.signal });
    return { perplexity: r.perplexity, windows: r.windows, predictions: r.predictions, seconds: (performance.now() - t0) / 1000, backend: backend.name, seqLen };
  } finally {
    await model.close();
  }
}
