// The program of a linear-algebra pool worker (pool.ts; import it for its types only: it serves on
// load). The build bundles it on its own and embeds the bundle in every other one as
// POOL_WORKER_SOURCE, so a worker loads the portable linear algebra only, not the engine and tfjs
// (a worker with a 256 × 688 SVD job held about 25 MiB of resident memory, measured).
// Every job is posted to every worker, and a worker takes one by claiming it in shared memory: a
// worker that finishes a job starts the next at once, without waiting for the posting thread's
// event loop (which runs the forward passes in long synchronous stretches) to hand it one. It
// waits on the shared count of jobs posted (Atomics.wait) and reads them with
// receiveMessageOnPort: no event loop is needed, and an idle worker uses no CPU.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { mapInputs, resultBuffers, runOp, withData, type Op, type OpResult } from './pool-ops';
import { neverParkLanes, serveHelper, type HelperData } from './lanes';
import { BUSY, claim, isOpen, LIVE, POSTED } from './pool-claims';
import { warmUp } from './pool-warmup';
import { kernelMemoryBytes } from './gemv-kernel';

/** work: opWork(op), the largest open job is taken first. */
export interface Job { id: number; op: Op; work: number }
export type Reply = { ready: true } | { id: number; result: OpResult } | { id: number; error: string };
/** ctrl: the pool's shared control words (pool-claims.ts); index: this worker's; source: this program, for
 *  the helper lanes a large SVD starts (lanes.ts); warm: run pool-warmup.ts before the first job. */
export interface Channel { port: MessagePort; ctrl: Int32Array; index: number; source: string; warm: boolean }

// A job's inputs, work arrays and results are large and short-lived, and V8 collects them late:
// with no collection of our own, bench/scaling's peak at width 256 was 57–66 MiB higher (two
// workers). But a full collection after every job cost more than itself: V8 then drops the
// optimized code that embedded the job's dead objects, and the worker recompiles its kernels (a
// compression's child run of bench/compress 9.5–10.6 s against 7.0–7.9, four runs each). So a
// worker collects once its ArrayBuffers (V8's external memory, most of it dead by then) pass
// GC_EXTERNAL_BYTES: every job for matrices above that size, every few jobs below it. Before each
// SVD's reduction memory was reused (gemv-kernel.ts), every collection freed some of those
// memories and the code that had embedded them; reused, a lower threshold holds less for little
// time. A forced collection of a worker's 4 MiB heap takes 7–22 ms here, so their number is the
// cost: bench/scaling's child at 16 × 256, three runs each alternating, 122–136 MiB above start and
// 15.5 s mean at 32 MiB without the reuse, 109–119 MiB and 16.0 s at 16 MiB, 88–107 MiB and 17.8 s
// at 8 MiB (--trace-gc: 51 forced collections, 0.5 s, at 16 MiB; 162 at 8); bench/compress's
// child: 17 at 16 MiB, 77 (0.8 s) at 8. Workers cannot be given --expose-gc; a new context made
// after setting the flag exposes gc().
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const GC_EXTERNAL_BYTES = 16 * 2 ** 20;
/** kernelMemoryBytes at the last collection: the SVDs' WebAssembly memories made since then count
 *  towards GC_EXTERNAL_BYTES as well. Without them, once the Gram batches were read in place from
 *  tfjs's heap (no shared copy posted to a worker per batch), the workers collected so seldom that
 *  bench/scaling's peak grew with depth: 59 dead 1.4 MiB memories at 32 × 256 (each SVD had its
 *  own then; now only those past the reused memory's cap do). */
let madeAtCollection = 0;

function collectGarbage(): void {
  collect();
  madeAtCollection = kernelMemoryBytes;
}

/** job with its matrices rebuilt as matrix() builds them (a float32 one too): a message's objects
 *  have other hidden classes than the warm-up's, and the kernels' optimized code, specialised on
 *  those, was thrown away ("wrong map") and compiled again for the first real job. */
const revived = (job: Job): Job => ({ ...job, op: mapInputs(job.op, (a) => withData(a, a.data), (x) => x) });

/** The largest open job of those received, claimed; the ones others took are dropped. */
function next(held: Job[], ctrl: Int32Array, me: number): Job | undefined {
  for (;;) {
    let best = -1;
    for (let i = held.length - 1; i >= 0; i--) {
      if (!isOpen(ctrl, held[i].id)) held.splice(i, 1);
    }
    for (let i = 0; i < held.length; i++) if (best < 0 || held[i].work > held[best].work) best = i;
    if (best < 0) return undefined;
    const [job] = held.splice(best, 1);
    if (claim(ctrl, job, me)) return job;
  }
}

function serve({ port, ctrl, index, warm }: Channel): never {
  // A job's helper lanes end with it: parked in both workers between the jobs of a layer, they
  // raised bench/scaling's peak at width 512 (4 and 16 layers) from 409 and 440 MiB above start
  // to 458 and 546 (one run each).
  neverParkLanes();
  port.postMessage({ ready: true } satisfies Reply);
  if (warm) {
    warmUp(() => Atomics.load(ctrl, POSTED) > 0);
    collectGarbage(); // the warm-up's arrays
  }
  const held: Job[] = [];
  for (;;) {
    const posted = Atomics.load(ctrl, POSTED);
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) held.push(revived(m.message as Job));
    const job = next(held, ctrl, -(index + 1));
    if (!job) {
      Atomics.wait(ctrl, POSTED, posted);
      continue;
    }
    const busy = Atomics.add(ctrl, BUSY, 1) + 1;
    try {
      // The last open job may use the idle workers' share of the cores: an SVD then splits its
      // stages over that many threads (lanes.ts), e.g. the one Llama-size matrix a budget lets run.
      const op = job.op;
      if ((op.op === 'svd' || op.op === 'svdOfProduct') && !held.some((j) => isOpen(ctrl, j.id))) {
        op.threads = 1 + Math.max(0, Atomics.load(ctrl, LIVE) - busy);
      }
      const result = runOp(op);
      port.postMessage({ id: job.id, result } satisfies Reply, resultBuffers(result));
    } catch (e) {
      port.postMessage({ id: job.id, error: (e as Error).message } satisfies Reply);
    } finally {
      Atomics.sub(ctrl, BUSY, 1);
    }
    if (getHeapStatistics().external_memory + kernelMemoryBytes - madeAtCollection > GC_EXTERNAL_BYTES) collectGarbage();
  }
}

// The same program serves as a helper lane of one SVD (lanes.ts), started by whichever thread runs it.
if ((workerData as HelperData).mode === 'helper') serveHelper(workerData as HelperData);
else serve(workerData as Channel);
