// The program of an SVD pool worker (pool.ts; import it for its types only: it serves on load).
// The build bundles it on its own and embeds the bundle in every other one as SVD_WORKER_SOURCE,
// so a worker loads the portable SVD only, not the engine and tfjs (a worker with a 256 × 688 job
// held about 25 MiB of resident memory, measured).
// It waits on a shared counter (Atomics.wait) and takes jobs with receiveMessageOnPort: no event
// loop is needed, and an idle worker uses no CPU.
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { matrix } from './matrix';
import { svdPortable } from './svd';

export interface Job { id: number; rows: number; cols: number; data: Float64Array; vectors: boolean; full: boolean }
export type WireMatrix = { rows: number; cols: number; data: Float64Array };
export type Reply = { ready: true } | { id: number; s: Float64Array; u?: WireMatrix; v?: WireMatrix } | { id: number; error: string };
export interface Channel { port: MessagePort; signal: Int32Array }

function serve({ port, signal }: Channel): never {
  port.postMessage({ ready: true } satisfies Reply);
  for (;;) {
    Atomics.wait(signal, 0, 0);
    Atomics.store(signal, 0, 0);
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      const job = m.message as Job;
      try {
        const r = svdPortable(matrix(job.rows, job.cols, job.data), job.vectors, job.full);
        const transfer = [r.s.buffer, ...(r.u ? [r.u.data.buffer] : []), ...(r.v ? [r.v.data.buffer] : [])];
        port.postMessage({ id: job.id, s: r.s, u: r.u, v: r.v } satisfies Reply, transfer as ArrayBuffer[]);
      } catch (e) {
        port.postMessage({ id: job.id, error: (e as Error).message } satisfies Reply);
      }
    }
  }
}

serve(workerData as Channel);
