// Perplexity of a checkpoint folder on a plan's evaluation text, with the ids computed once and
// shared between the original and the compressed model.
import type { Evaluation } from '../plan/plan';
import type { Job } from '../compress/job';
import { loadTokenizer } from '../tokenizer/tokenizer';
import { readText } from '../data/text';
import { StreamingModel } from '../model/model';
import { perplexity, type PerplexityResult } from './perplexity';

export async function evaluationIds(tokenizerDir: string, e: Evaluation, signal?: AbortSignal): Promise<Int32Array> {
  const ids = await (await loadTokenizer(tokenizerDir)).encodeLong(await readText(e.data), { signal });
  return e.windows ? ids.subarray(0, e.windows * e.seqLen) : ids;
}

export async function evaluateFolder(dir: string, ids: Int32Array, e: Evaluation, job: Job, label: string): Promise<PerplexityResult> {
  const model = await StreamingModel.open(dir);
  try {
    if (e.seqLen > model.arch.dims.context) throw new Error(`evaluation.seqLen ${e.seqLen} exceeds the model's context of ${model.arch.dims.context}`);
    return await perplexity(model, ids, e.seqLen, { signal: job.signal, onProgress: (d, t) => job.progress('evaluate', d, t, label) });
  } finally {
    await model.close();
  }
}
