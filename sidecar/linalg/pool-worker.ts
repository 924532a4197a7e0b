// The program of a linear-algebra pool worker (pool.ts; import it for its types only: it serves on
// load). The build bundles it on its own and embeds the bundle in every other one as
// POOL_WORKER_SOURCE, so a worker loads the portable linear algebra only, not the engine and tfjs
// (a worker with a 256 × 688 SVD job held about 25 MiB of resident memory, measured).
// It waits on a shared counter (Atomics.wait) and takes jobs with receiveMessageOnPort: no event
// loop is needed, and an idle worker uses no CPU.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { resultBuffers, runOp, type Op, type OpResult } from './pool-ops';
import { neverParkLanes, serveHelper, type HelperData } from './lanes';

export interface Job { id: number; op: Op }
export type Reply = { ready: true } | { id: number; result: OpResult } | { id: number; error: string };
/** source: this program, for the helper lanes a large SVD starts (lanes.ts). */
export interface Channel { port: MessagePort; signal: Int32Array; source: string }

// A job's inputs, work arrays and results are large and short-lived, and V8 collects them late:
// with no collection of our own, bench/scaling's peak at width 256 was 57–66 MiB higher (two
// workers). But a full collection after every job cost more than itself: V8 then drops the
// optimized code that embedded the job's dead objects, and the worker recompiled its SVD kernels
// about once a job (TurboFan a sixth of a compression's CPU time, perf on bench/compress). So a
// worker collects once its ArrayBuffers (V8's external memory, most of it dead by then) pass
// GC_EXTERNAL_BYTES: every job for matrices above that size, every few jobs below it (bench/pool:
// 1.38 → 0.94 s for 56 SVDs on 2 workers; bench/scaling's peaks up to about 45 MiB above
// collecting after every job). Workers cannot be given --expose-gc; a new context made after
// setting the flag exposes gc().
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const GC_EXTERNAL_BYTES = 32 * 2 ** 20;

function serve({ port, signal }: Channel): never {
  // A job's helper lanes end with it: parked in both workers between the jobs of a layer, they
  // raised bench/scaling's peak at width 512 (4 and 16 layers) from 409 and 440 MiB above start
  // to 458 and 546 (one run each).
  neverParkLanes();
  port.postMessage({ ready: true } satisfies Reply);
  for (;;) {
    Atomics.wait(signal, 0, 0);
    Atomics.store(signal, 0, 0);
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      const job = m.message as Job;
      try {
        const result = runOp(job.op);
        port.postMessage({ id: job.id, result } satisfies Reply, resultBuffers(result));
      } catch (e) {
        port.postMessage({ id: job.id, error: (e as Error).message } satisfies Reply);
      }
      if (getHeapStatistics().external_memory > GC_EXTERNAL_BYTES) collect();
    }
  }
}

// The same program serves as a helper lane of one SVD (lanes.ts), started by whichever thread runs it.
if ((workerData as HelperData).mode === 'helper') serveHelper(workerData as HelperData);
else serve(workerData as Channel);
