// Worker threads for the portable SVD, so that independent SVDs (one layer's projections) use the
// machine's cores: the wasm backend and the portable linear algebra otherwise run on one thread.
// A worker runs svd-worker.ts, which the build embeds as source text (SVD_WORKER_SOURCE): no
// worker script has to be found on disk next to whichever bundle is running. A worker that fails
// or never reports ready is dropped, and with no workers left jobs run on the calling thread, so
// the pool is never less available than svdPortable.
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { matrix, type Matrix } from './matrix';
import { svdPortable, type SvdParts } from './svd';
import type { Channel, Job, Reply, WireMatrix } from './svd-worker';

/** The bundled svd-worker.ts (scripts/build.mjs). */
declare const SVD_WORKER_SOURCE: string;

/** Workers in the process's pool: one per core, at most 4. */
export const POOL_SIZE = Math.min(4, availableParallelism());
/** How long a new worker may take to load and report ready. */
const READY_MS = 10_000;

export interface PoolSvdOptions { vectors?: boolean; full?: boolean }

interface Pending { job: Job; resolve: (r: SvdParts) => void; reject: (e: Error) => void }

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
    const channel: Channel = { port: port2, signal: this.signal };
    this.worker = new Worker(SVD_WORKER_SOURCE, { eval: true, workerData: channel, transferList: [port2] });
    this.worker.unref();
    const fail = (e: Error) => onFail(this, e);
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`svd worker exited with code ${code}`)));
    this.port.on('message', (r: Reply) => onReply(this, r));
    // Unref'd: until ready the port keeps the process alive, and the timer must not outlive it.
    this.timer = setTimeout(() => fail(new Error(`svd worker not ready after ${READY_MS} ms`)), READY_MS).unref();
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
    this.port.postMessage(p.job, [p.job.data.buffer as ArrayBuffer]);
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

const wire = (m: WireMatrix | undefined): Matrix | undefined => m && matrix(m.rows, m.cols, m.data);

export class SvdPool {
  private workers: PoolWorker[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  /** Jobs answered, by a worker or on the calling thread. */
  jobsDone = 0;

  /** size workers (default: one per core, at most 4), started now. */
  constructor(readonly size = POOL_SIZE) {
    for (let i = 0; i < size; i++) this.workers.push(new PoolWorker((w, r) => this.reply(w, r), (w, e) => this.failed(w, e)));
  }

  /** The SVD of a as svdPortable computes it (thin unless full, with vectors unless told not). */
  svd(a: Matrix, o: PoolSvdOptions = {}): Promise<SvdParts> {
    const job: Job = { id: this.nextId++, rows: a.rows, cols: a.cols, data: Float64Array.from(a.data), vectors: o.vectors ?? true, full: o.full ?? false };
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.close()));
    this.dispatch();
  }

  private dispatch(): void {
    if (!this.workers.length) {
      // No worker could start (or all failed): compute here rather than never.
      for (let p = this.queue.shift(); p; p = this.queue.shift()) {
        this.jobsDone++;
        try {
          p.resolve(svdPortable(matrix(p.job.rows, p.job.cols, p.job.data), p.job.vectors, p.job.full));
        } catch (e) {
          p.reject(e as Error);
        }
      }
      return;
    }
    for (const w of this.workers) {
      if (!this.queue.length) return;
      if (w.ready && !w.current) w.run(this.takeLargest());
    }
  }

  /** Largest job first (work ~ m·n·min(m, n)): a layer's few big MLP matrices then do not end up
   *  queued behind its small attention ones on the same worker while another sits idle. */
  private takeLargest(): Pending {
    const work = (j: Job) => j.rows * j.cols * Math.min(j.rows, j.cols);
    let best = 0;
    for (let i = 1; i < this.queue.length; i++) if (work(this.queue[i].job) > work(this.queue[best].job)) best = i;
    return this.queue.splice(best, 1)[0];
  }

  private reply(w: PoolWorker, r: Reply): void {
    if ('ready' in r) w.started();
    else {
      this.jobsDone++;
      const p = w.finish();
      if ('error' in r) p?.reject(new Error(r.error));
      else p?.resolve({ s: r.s, u: wire(r.u), v: wire(r.v) });
    }
    this.dispatch();
  }

  private failed(w: PoolWorker, e: Error): void {
    if (!this.workers.includes(w)) return;
    this.workers = this.workers.filter((x) => x !== w);
    void w.close();
    // Its job's matrix was transferred to it, so that job fails with it; queued jobs go elsewhere.
    w.finish()?.reject(e);
    this.dispatch();
  }
}

let shared: SvdPool | undefined;

/** The process's pool, started on first use. */
export function svdPool(): SvdPool {
  return (shared ??= new SvdPool());
}
