import type { BackendChoice } from '../rpc/protocol';
import type { Job } from '../compress/job';
import { runEval } from './eval';

export async function evalCommand(o: { dir: string; data: string; seqLen?: number; batch?: number; backend?: BackendChoice; job: Job }): Promise<{ json: unknown; text: string }> {
  const r = await runEval({
    dir: o.dir, data: o.data, seqLen: o.seqLen, batch: o.batch, backend: o.backend, signal: o.job.signal,
    onProgress: (done: number, total: number) => o.job.progress('evaluate', done, total),
  });
  const json = { perplexity: r.perplexity, windows: r.windows, predictions: r.predictions, seconds: r.seconds, backend: r.backend, seq_len: r.seqLen };
  const text = `perplexity ${r.perplexity.toFixed(3)} (${r.windows} windows of ${r.seqLen} tokens, ${r.predictions} predictions) in ${r.seconds.toFixed(1)} s on ${r.backend}\n`;
  return { json, text };
}
