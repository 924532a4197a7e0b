// Worker threads for the portable linear algebra, so that independent operations (a layer's
// projections, factorized concurrently) use the machine's cores: the wasm backend and the float64
// JavaScript kernels otherwise run on one thread. A worker runs pool-worker.ts, which the build
// embeds as source text (POOL_WORKER_SOURCE): no worker script has to be found on disk next to
// whichever bundle is running. A worker that fails or never reports ready is dropped, and with no
// workers left jobs run on the calling thread, so the pool is never less available than the
// kernels themselves.
// Jobs are posted to every worker and taken by claiming them in shared memory (pool-claims.ts), so
// a worker goes from one job to the next on its own. Handed out from this thread's event loop
// instead, a job waited for the forward pass running here to yield: on bench/compress the workers
// sat 5.0 s idle between jobs that way (the two together) over a 5 s compression, the replies
// handled 14 ms late on average and the Gram batches' 52 ms.
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { mapInputs, opWork, runOp, withData, type Op, type OpResult } from './pool-ops';
import { CLAIM_SLOTS, CONTROL_WORDS, LIVE, POSTED, TAKEN_HERE, claim, open, taker } from './pool-claims';
import type { Channel, Job, Reply } from './pool-worker';
import { CAN_SHARE, shared } from './shared-memory';

/** The bundled pool-worker.ts (scripts/build.mjs). */
declare const POOL_WORKER_SOURCE: string;

/** Workers in the process's pool: one per core, at most 4. */
export const POOL_SIZE = Math.min(4, availableParallelism());
/** How long a new worker may take to load and report ready. */
const READY_MS = 10_000;

interface Pending { job: Job; resolve: (r: OpResult) => void; reject: (e: Error) => void }

class PoolWorker {
  ready = false;
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly index: number, ctrl: Int32Array, warm: boolean, readyMs: number, onReply: (w: PoolWorker, r: Reply) => void, onFail: (w: PoolWorker, e: Error) => void) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const channel: Channel = { port: port2, ctrl, index, source: POOL_WORKER_SOURCE, warm };
    this.worker = new Worker(POOL_WORKER_SOURCE, { eval: true, workerData: channel, transferList: [port2] });
    this.worker.unref();
    const fail = (e: Error) => onFail(this, e);
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`linear-algebra worker exited with code ${code}`)));
    this.port.on('message', (r: Reply) => onReply(this, r));
    // Unref'd: until ready the port keeps the process alive, and the timer must not outlive it. When
    // this thread was busy past the deadline, the worker's ready message may be waiting behind the
    // timer (timers run before messages in an event-loop turn): it is looked at first, after the
    // messages (setImmediate).
    this.timer = setTimeout(() => setImmediate(() => {
      if (!this.ready) fail(new Error(`linear-algebra worker not ready after ${readyMs} ms`));
    }), readyMs).unref();
  }

  started(): void {
    this.ready = true;
    clearTimeout(this.timer);
  }

  post(job: Job): void {
    this.port.postMessage(job);
  }

  /** While jobs are pending the port keeps the process alive for their replies, and before ready
   *  for that; otherwise an idle worker does not. */
  hold(pending: boolean): void {
    if (pending || !this.ready) this.port.ref();
    else this.port.unref();
  }

  close(): Promise<number> {
    clearTimeout(this.timer);
    this.port.close();
    return this.worker.terminate();
  }
}

/** op with its input arrays in shared memory. */
const sharedOp = (o: Op): Op => mapInputs(o, (m) => withData(m, shared(m.data)), shared);

export class LinalgPool {
  private workers: PoolWorker[] = [];
  /** Shared with the workers; where there is no shared memory there are none, and this is local. */
  private readonly ctrl = new Int32Array(CAN_SHARE ? new SharedArrayBuffer(4 * CONTROL_WORDS) : new ArrayBuffer(4 * CONTROL_WORDS));
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Jobs answered, by a worker or on the calling thread. */
  jobsDone = 0;

  /** Workers not dropped (started, or still starting). */
  get workerCount(): number {
    return this.workers.length;
  }

  /** Whether the workers run the warm-up (pool-warmup.ts) until the first job is posted. */
  readonly warm: boolean;

  /** size workers (default: one per core, at most 4), started now; each is dropped if it has not
   *  reported ready after readyMs. */
  constructor(readonly size = POOL_SIZE, o: { warm?: boolean; readyMs?: number } = {}) {
    this.warm = o.warm ?? false;
    for (let i = 0; i < size && CAN_SHARE; i++) {
      try {
        this.workers.push(new PoolWorker(i, this.ctrl, this.warm, o.readyMs ?? READY_MS, (w, r) => this.reply(w, r), (w, e) => this.failed(w, e)));
      } catch {
        // A worker that cannot even be created (no threads here) leaves its jobs to the others, or
        // to the calling thread.
      }
    }
  }

  /** Stops the workers. Every pending job settles: an open one runs on the calling thread, one that
   *  a worker was running fails. */
  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.close()));
    this.failTaken(() => true, new Error('linear-algebra pool closed while a worker ran the job'));
    this.runHere();
  }

  /** runOp(op), on a worker; op's input arrays are copied (the caller keeps them). */
  run(op: Op): Promise<OpResult> {
    const id = this.nextId++;
    if (this.pending.has(id - CLAIM_SLOTS)) return Promise.reject(new Error(`linear-algebra pool: more than ${CLAIM_SLOTS} jobs in flight`));
    const job: Job = { id, op: this.workers.length ? sharedOp(op) : op, work: opWork(op) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { job, resolve, reject });
      open(this.ctrl, id);
      if (!this.workers.length) return this.runHere();
      for (const w of this.workers) {
        w.post(job);
        w.hold(true);
      }
      Atomics.add(this.ctrl, POSTED, 1);
      Atomics.notify(this.ctrl, POSTED);
    });
  }

  /** Runs the open jobs on this thread: no worker could start, or all failed. */
  private runHere(): void {
    for (const [id, p] of this.pending) {
      if (!claim(this.ctrl, p.job, TAKEN_HERE)) continue;
      try {
        this.settle(id, runOp(p.job.op));
      } catch (e) {
        this.settle(id, undefined, e as Error);
      }
    }
  }

  private settle(id: number, result?: OpResult, error?: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.jobsDone++;
    if (!this.pending.size) this.workers.forEach((w) => w.hold(false));
    if (error) p.reject(error);
    else p.resolve(result!);
  }

  private reply(w: PoolWorker, r: Reply): void {
    if ('ready' in r) {
      w.started();
      w.hold(this.pending.size > 0);
      Atomics.add(this.ctrl, LIVE, 1);
    } else if ('error' in r) this.settle(r.id, undefined, new Error(r.error));
    else this.settle(r.id, r.result);
  }

  private failed(w: PoolWorker, e: Error): void {
    if (!this.workers.includes(w)) return;
    this.workers = this.workers.filter((x) => x !== w);
    if (w.ready) Atomics.sub(this.ctrl, LIVE, 1);
    void w.close();
    // The job it held fails with it; open jobs stay with the other workers, or come here.
    this.failTaken((index) => index === w.index, e);
    if (!this.workers.length) this.runHere();
  }

  /** Fails the pending jobs taken by a worker that `gone` names: their replies will never come. */
  private failTaken(gone: (index: number) => boolean, e: Error): void {
    for (const id of [...this.pending.keys()]) {
      const index = taker(this.ctrl, id);
      if (index >= 0 && gone(index)) this.settle(id, undefined, e);
    }
  }
}

let processPool: LinalgPool | undefined;

/** The process's pool, started on first use (cold: its workers compile the kernels on their first
 *  jobs), unless warmLinalgPool() started it. */
export function linalgPool(): LinalgPool {
  return (processPool ??= new LinalgPool(POOL_SIZE));
}

/** Starts the process's pool now, its workers warming up (pool-warmup.ts) until the first job: for
 *  a process about to compress, so that they warm up while the model is read and the calibration
 *  text tokenized rather than during the first layer's factorizations. Nothing if it runs already. */
export function warmLinalgPool(): void {
  processPool ??= new LinalgPool(POOL_SIZE, { warm: true });
}

/** Below this much work an operation runs on the calling thread: shipping it would cost more. */
export const POOL_MIN_WORK = 64 ** 3;

/** Whether op is worth a worker. */
export const pooled = (o: Op): boolean => opWork(o) >= POOL_MIN_WORK;
