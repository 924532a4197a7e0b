// Worker threads for the portable linear algebra, so that independent operations (a layer's
// projections, factorized concurrently) use the machine's cores: the wasm backend and the float64
// JavaScript kernels otherwise run on one thread. A worker runs pool-worker.ts, which the build
// embeds as source text (POOL_WORKER_SOURCE): no worker script has to be found on disk next to
// whichever bundle is running. A worker that fails or never reports ready is dropped, and with no
// workers left jobs run on the calling thread, so the pool is never less available than the
// kernels themselves.
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { opWork, runOp, type Op, type OpResult } from './pool-ops';
import type { Channel, Job, Reply } from './pool-worker';

/** The bundled pool-worker.ts (scripts/build.mjs). */
declare const POOL_WORKER_SOURCE: string;

/** Workers in the process's pool: one per core, at most 4. */
export const POOL_SIZE = Math.min(4, availableParallelism());
/** How long a new worker may take to load and report ready. */
const READY_MS = 10_000;

interface Pending { job: Job; work: number; resolve: (r: OpResult) => void; reject: (e: Error) => void }

class PoolWorker {
  ready = false;
  current?: Pending;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private readonly timer: NodeJS.Timeout;

  constructor(onReply: (w: PoolWorker, r: Reply) => void, onFail: (w: PoolWorker, e: Error) => void) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const channel: Channel = { port: port2, signal: this.signal, source: POOL_WORKER_SOURCE };
    this.worker = new Worker(POOL_WORKER_SOURCE, { eval: true, workerData: channel, transferList: [port2] });
    this.worker.unref();
    const fail = (e: Error) => onFail(this, e);
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`linear-algebra worker exited with code ${code}`)));
    this.port.on('message', (r: Reply) => onReply(this, r));
    // Unref'd: until ready the port keeps the process alive, and the timer must not outlive it.
    this.timer = setTimeout(() => fail(new Error(`linear-algebra worker not ready after ${READY_MS} ms`)), READY_MS).unref();
  }

  started(): void {
    this.ready = true;
    clearTimeout(this.timer);
    this.port.unref();
  }

  run(p: Pending): void {
    this.current = p;
    // Keeps the process alive until the reply arrives; an idle worker does not.
    this.port.ref();
    // The inputs are copied (the caller keeps its matrices); results come back transferred.
    this.port.postMessage(p.job);
    Atomics.add(this.signal, 0, 1);
    Atomics.notify(this.signal, 0);
  }

  finish(): Pending | undefined {
    const p = this.current;
    this.current = undefined;
    this.port.unref();
    return p;
  }

  close(): Promise<number> {
    clearTimeout(this.timer);
    this.port.close();
    return this.worker.terminate();
  }
}

export class LinalgPool {
  private workers: PoolWorker[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  /** Jobs answered, by a worker or on the calling thread. */
  jobsDone = 0;

  /** size workers (default: one per core, at most 4), started now. */
  constructor(readonly size = POOL_SIZE) {
    for (let i = 0; i < size; i++) {
      try {
        this.workers.push(new PoolWorker((w, r) => this.reply(w, r), (w, e) => this.failed(w, e)));
      } catch {
        // A worker that cannot even be created (no threads here) leaves its jobs to the others, or
        // to the calling thread.
      }
    }
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.close()));
    this.dispatch();
  }

  /** runOp(op), on a worker. */
  run(op: Op): Promise<OpResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, op }, work: opWork(op), resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (!this.workers.length) {
      // No worker could start (or all failed): compute here rather than never.
      for (let p = this.queue.shift(); p; p = this.queue.shift()) {
        this.jobsDone++;
        try {
          p.resolve(runOp(p.job.op));
        } catch (e) {
          p.reject(e as Error);
        }
      }
      return;
    }
    for (const w of this.workers) {
      if (!this.queue.length) return;
      if (w.ready && !w.current) w.run(this.grant(this.takeLargest()));
    }
  }

  /** The last job queued may use the idle workers' share of the cores: an SVD then splits its
   *  stages over that many threads (lanes.ts), e.g. the one Llama-size matrix a budget lets run. */
  private grant(p: Pending): Pending {
    const op = p.job.op;
    if ((op.op === 'svd' || op.op === 'svdOfProduct') && !this.queue.length) {
      op.threads = this.workers.filter((w) => w.ready && !w.current).length;
    }
    return p;
  }

  /** Largest job first: a layer's few big MLP matrices then do not end up queued behind its small
   *  attention ones on the same worker while another sits idle. */
  private takeLargest(): Pending {
    let best = 0;
    for (let i = 1; i < this.queue.length; i++) if (this.queue[i].work > this.queue[best].work) best = i;
    return this.queue.splice(best, 1)[0];
  }

  private reply(w: PoolWorker, r: Reply): void {
    if ('ready' in r) w.started();
    else {
      this.jobsDone++;
      const p = w.finish();
      if ('error' in r) p?.reject(new Error(r.error));
      else p?.resolve(r.result);
    }
    this.dispatch();
  }

  private failed(w: PoolWorker, e: Error): void {
    if (!this.workers.includes(w)) return;
    this.workers = this.workers.filter((x) => x !== w);
    void w.close();
    // The job it held fails with it; queued jobs go elsewhere.
    w.finish()?.reject(e);
    this.dispatch();
  }
}

let shared: LinalgPool | undefined;

/** The process's pool, started on first use. */
export function linalgPool(): LinalgPool {
  return (shared ??= new LinalgPool());
}

/** Below this much work an operation runs on the calling thread: shipping it would cost more. */
export const POOL_MIN_WORK = 64 ** 3;

/** Whether op is worth a worker. */
export const pooled = (o: Op): boolean => opWork(o) >= POOL_MIN_WORK;
