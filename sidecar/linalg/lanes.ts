// Threads for ONE large SVD (the pool, pool.ts, runs independent operations side by side; a
// Llama-size matrix is one operation, and its memory budget lets few run at once). The stages split
// without changing any element's arithmetic, so results are bit-identical to one lane's (tests):
// - the bidiagonalisation's steps: each lane takes a stripe of columns and of rows (a panel's Y,
//   X and trailing product, or an unblocked step's updates), the caller computing the reflectors
//   between (two barriers per step; bidiagonal.ts reduce, bidiagonal-panel.ts);
// - a tall matrix's Householder QR (householder-qr.ts): each block's trailing update by columns;
// - the reflector blocks act on the rows of the bases independently: each lane takes a range of
//   rows, and so for the tall matrix's Q and for the products of divide and conquer's large merges
//   (bidiagonal-dc.ts).
// The caller is lane 0; helper lanes are worker threads (the pool's worker program in helper mode)
// that share the arrays through SharedArrayBuffers (the bidiagonalisation's through its shared
// WebAssembly memory, gemv-kernel.ts) and are driven through Atomics, so a caller
// without an event loop (a pool worker) can use them. A thread's helpers stay parked between its
// SVDs for PARK_MS, so that back-to-back SVDs neither start threads nor run uncompiled code.
import { MessageChannel, Worker, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { reduce, type Bidiagonal, type BidiagonalWork } from './bidiagonal';
import { stripe, type StepSync } from './stripe';
import { householderQr, updateColumns, type HouseholderQr } from './householder-qr';
import { applyBlocks, type ReflectJob, type ReflectorBlock } from './compact-wy';
import { runProducts, type MergeLanes, type Product } from './bidiagonal-dc';

/** The bundled pool-worker.ts, in the bundles that are not that worker (scripts/build.mjs). */
declare const POOL_WORKER_SOURCE: string | undefined;

/** Lanes pay off from this size (smaller SVDs take less time than starting a thread). */
export const LANES_MIN_N = 512;
/** How long an SVD's helpers stay parked for the next SVD of the thread that started them: a new
 *  team costs thread starts and code V8 has yet to compile (512² values only, two threads: 0.23 s
 *  with new helpers each time, 0.12 s with parked ones, measured). Pool workers do not park
 *  (pool-worker.ts), for memory. */
export const PARK_MS = 2000;
/** How long a helper may take to start before the SVD goes on without it. */
const READY_MS = 10_000;

/** Control words shared with the helpers. */
const READY = 0;
const DONE = 1;
const FAILED = 2;
const CLOSED = 3;
const SIGNALS = 4; // then one wake-up word per helper

/** One lane's share of a stage: reflector blocks on a range of rows of the bases, the tall QR's
 *  trailing update, the bidiagonalisation (all of it, in step with the caller), or stripes of
 *  divide and conquer's products. */
type Task =
  | { kind: 'reflect'; jobs: ReflectJob[] }
  | { kind: 'qrUpdate'; block: ReflectorBlock; m: number; xt: Float64Array; j0: number; j1: number }
  | { kind: 'bidiagonal'; work: BidiagonalWork; sync: Int32Array; lane: number; lanes: number }
  | { kind: 'products'; jobs: Product[] };

export interface HelperData { mode: 'helper'; ctrl: Int32Array; index: number; port: MessagePort }

/** The lanes of one SVD: arrays they share, and the stages they split. */
export interface Lanes extends MergeLanes {
  readonly count: number;
  /** A zeroed Float64Array the helpers can see. */
  array(length: number): Float64Array;
  /** Matrix products split by rows of C (arrays not from array() are copied to the helpers). */
  products(jobs: Product[]): void;
  /** Reflector blocks on the rows of bases (compact-wy.ts applyBlocks), the rows split over the lanes. */
  reflect(jobs: ReflectJob[]): void;
  /** bidiagonal.ts reduce on a bidiagonalWork, its steps' updates split over the lanes. */
  bidiagonalize(work: BidiagonalWork): Bidiagonal;
  /** householder-qr.ts householderQr on a tall xt from array(), each block's trailing update split over the lanes. */
  householderQr(xt: Float64Array, m: number, n: number, rt: Float64Array): HouseholderQr;
  /** Done with the lanes: helpers are parked for the next SVD (PARK_MS), or end after a failure
   *  or where the thread does not park (neverParkLanes). */
  close(): void;
}

/** One lane: plain arrays, the stage run here. */
export const solo: Lanes = {
  count: 1,
  array: (length) => new Float64Array(length),
  reflect: (jobs) => jobs.forEach(applyBlocks),
  bidiagonalize(work) {
    reduce(work);
    return work;
  },
  householderQr: (xt, m, n, rt) => householderQr(xt, m, n, rt),
  products: runProducts,
  close() {},
};

const workerSource = (): string | undefined =>
  typeof POOL_WORKER_SOURCE === 'string' ? POOL_WORKER_SOURCE : (workerData as { source?: string } | null)?.source;

/** Whether this thread parks teams, its parked team, if any, and the times a team was parked (so
 *  that an old timer does not end a team parked since). */
let parking = true;
let parked: Team | undefined;
let parkings = 0;

/** Stops this thread parking teams: a closed team's helpers end at once. A pool worker, which has
 *  no event loop for the timer that would end a parked team, calls it once. */
export function neverParkLanes(): void {
  parking = false;
  releaseParkedLanes();
}

/** Lanes for an n-wide SVD given `threads`: helpers only when worth it and possible; the parked
 *  team when it has as many. */
export function lanesFor(n: number, threads: number): Lanes {
  const source = workerSource();
  if (threads <= 1 || n < LANES_MIN_N || !source) return solo;
  if (parked?.count === threads) {
    const team = parked;
    parked = undefined;
    return team;
  }
  releaseParkedLanes();
  return Team.start(source, threads - 1) ?? solo;
}

/** Parks in this thread's slot until taken or PARK_MS pass. */
function park(team: Team): void {
  releaseParkedLanes();
  parked = team;
  const mine = ++parkings;
  setTimeout(() => parkings === mine && releaseParkedLanes(), PARK_MS).unref();
}

/** Ends this thread's parked helpers. */
export function releaseParkedLanes(): void {
  parked?.end();
  parked = undefined;
}

class Team implements Lanes {
  /** Tasks sent to helpers so far; DONE counts those finished. */
  private sent = 0;
  /** False once a stage failed: the helpers may be mid-task, so the team is not parked. */
  private clean = true;

  private constructor(private readonly ctrl: Int32Array, private readonly ports: MessagePort[]) {}

  get count(): number {
    return this.ports.length + 1;
  }

  /** Starts `helpers` threads and waits until they run; undefined (and nothing left running) if they do not. */
  static start(source: string, helpers: number): Team | undefined {
    const ctrl = new Int32Array(new SharedArrayBuffer(4 * (SIGNALS + helpers)));
    const ports: MessagePort[] = [];
    const workers: Worker[] = [];
    try {
      for (let index = 0; index < helpers; index++) {
        const { port1, port2 } = new MessageChannel();
        const data: HelperData = { mode: 'helper', ctrl, index, port: port2 };
        const w = new Worker(source, { eval: true, workerData: data, transferList: [port2] });
        w.unref();
        workers.push(w);
        ports.push(port1);
      }
    } catch {
      workers.forEach((w) => void w.terminate());
      return undefined;
    }
    const team = new Team(ctrl, ports);
    const deadline = Date.now() + READY_MS;
    while (Atomics.load(ctrl, READY) < helpers && Date.now() < deadline) Atomics.wait(ctrl, READY, Atomics.load(ctrl, READY), 50);
    if (Atomics.load(ctrl, READY) < helpers) {
      team.end();
      return undefined;
    }
    return team;
  }

  array(length: number): Float64Array {
    return new Float64Array(new SharedArrayBuffer(8 * length));
  }

  /** Each helper's task of a stage sent, the caller's run here; returns once all are done. */
  private split(task: (lane: number) => Task): void {
    try {
      this.ports.forEach((_, h) => this.send(h, task(h + 1)));
      runTask(task(0));
      this.waitFor(this.sent);
    } catch (e) {
      this.clean = false;
      throw e;
    }
  }

  reflect(jobs: ReflectJob[]): void {
    // The reflectors and bases are shared (from array()); the blocks' T are copied with the message.
    this.split((lane) => ({
      kind: 'reflect',
      jobs: jobs.map((j) => {
        const [r0, r1] = stripe(j.r0, j.r1, lane, this.count);
        return { ...j, r0, r1 };
      }),
    }));
  }

  bidiagonalize(work: BidiagonalWork): Bidiagonal {
    // The work's arrays are views of its shared memory, posted with it.
    const sync = new Int32Array(new SharedArrayBuffer(4 * SYNC_WORDS));
    this.ports.forEach((_, h) => this.send(h, { kind: 'bidiagonal', work, sync, lane: h + 1, lanes: this.count }));
    try {
      reduce(work, callerSync(sync, this.count));
    } catch (e) {
      this.clean = false;
      // Helpers waiting for the next phase give up (and count as failed: that is not the error).
      Atomics.store(sync, S_ABORT, 1);
      Atomics.notify(sync, S_GEN);
      try {
        this.waitFor(this.sent);
      } catch {
        // e says what went wrong.
      }
      throw e;
    }
    this.waitFor(this.sent);
    return work;
  }

  householderQr(xt: Float64Array, m: number, n: number, rt: Float64Array): HouseholderQr {
    // The reflectors stay in xt (from array()); each block's T is copied with the message.
    return householderQr(xt, m, n, rt, (block, j0, j1) => {
      this.split((lane) => {
        const [a, b] = stripe(j0, j1, lane, this.count);
        return { kind: 'qrUpdate', block, m, xt, j0: a, j1: b };
      });
    });
  }

  products(jobs: Product[]): void {
    this.split((lane) => ({ kind: 'products', jobs: jobs.map((p) => rowsOf(p, ...stripe(0, p.m, lane, this.count))) }));
  }

  private send(helper: number, task: Task): void {
    this.ports[helper].postMessage(task);
    this.sent++;
    Atomics.add(this.ctrl, SIGNALS + helper, 1);
    Atomics.notify(this.ctrl, SIGNALS + helper);
  }

  /** Returns once `count` tasks are done (throws if one failed). */
  private waitFor(count: number): void {
    for (let seen = Atomics.load(this.ctrl, DONE); seen < count; seen = Atomics.load(this.ctrl, DONE)) Atomics.wait(this.ctrl, DONE, seen);
    if (Atomics.load(this.ctrl, FAILED)) throw new Error('svd: a helper thread failed');
  }

  close(): void {
    if (!parking || !this.clean || Atomics.load(this.ctrl, FAILED)) return this.end();
    park(this);
  }

  end(): void {
    // Each helper ends its own thread when woken with CLOSED set (a caller without an event loop
    // cannot await terminate()). The ports stay open: closing one can drop what is still queued.
    Atomics.store(this.ctrl, CLOSED, 1);
    this.ports.forEach((_, h) => {
      Atomics.add(this.ctrl, SIGNALS + h, 1);
      Atomics.notify(this.ctrl, SIGNALS + h);
    });
  }
}

/** Words of a bidiagonalisation's barrier: phases released, helpers' arrivals, a helper failed, the caller gave up. */
const S_GEN = 0;
const S_ARRIVED = 1;
const S_FAILED = 2;
const S_ABORT = 3;
const SYNC_WORDS = 4;
/** Loads before sleeping at a barrier: a phase is often shorter than a wake-up. */
const SPIN = 20_000;

/** Returns once ok(), spinning first, then sleeping on `word` a millisecond at a time. */
function await_(sync: Int32Array, word: number, ok: () => boolean): void {
  for (let spin = 0; !ok(); spin++) if (spin >= SPIN) Atomics.wait(sync, word, Atomics.load(sync, word), 1);
}

function callerSync(sync: Int32Array, lanes: number): StepSync {
  let target = 0;
  return {
    lane: 0,
    lanes,
    phase() {
      Atomics.add(sync, S_GEN, 1);
      Atomics.notify(sync, S_GEN);
    },
    join() {
      target += lanes - 1;
      await_(sync, S_ARRIVED, () => Atomics.load(sync, S_ARRIVED) >= target || Atomics.load(sync, S_FAILED) !== 0);
      if (Atomics.load(sync, S_FAILED)) throw new Error('svd: a helper thread failed');
    },
  };
}

function helperSync(sync: Int32Array, lane: number, lanes: number): StepSync {
  let gen = 0;
  return {
    lane,
    lanes,
    phase() {
      gen++;
      await_(sync, S_GEN, () => Atomics.load(sync, S_GEN) >= gen || Atomics.load(sync, S_ABORT) !== 0);
      if (Atomics.load(sync, S_ABORT)) throw new Error('svd: bidiagonalisation abandoned by its caller');
    },
    join() {
      Atomics.add(sync, S_ARRIVED, 1);
      Atomics.notify(sync, S_ARRIVED);
    },
  };
}

/** Rows r0..r1−1 of a product (of A and C). */
function rowsOf(p: Product, r0: number, r1: number): Product {
  return { ...p, m: r1 - r0, a: { ...p.a, at: p.a.at + r0 * p.a.ld }, c: { ...p.c, at: p.c.at + r0 * p.c.ld } };
}

function runTask(t: Task): void {
  if (t.kind === 'products') return runProducts(t.jobs);
  if (t.kind === 'bidiagonal') {
    try {
      return reduce(t.work, helperSync(t.sync, t.lane, t.lanes));
    } catch (e) {
      Atomics.store(t.sync, S_FAILED, 1);
      Atomics.notify(t.sync, S_ARRIVED);
      throw e;
    }
  }
  if (t.kind === 'qrUpdate') return updateColumns(t.block, t.m, t.xt, t.j0, t.j1);
  t.jobs.forEach(applyBlocks);
}

/** A helper lane's loop (pool-worker.ts in helper mode): wait, run the tasks posted in order, count each done. */
export function serveHelper({ ctrl, index, port }: HelperData): void {
  const signal = SIGNALS + index;
  Atomics.add(ctrl, READY, 1);
  Atomics.notify(ctrl, READY);
  for (;;) {
    Atomics.wait(ctrl, signal, 0);
    if (Atomics.load(ctrl, CLOSED)) return;
    // The task is posted before the signal is raised; until it is seen the signal stays up, and
    // the lane looks again a millisecond later.
    const m = receiveMessageOnPort(port);
    if (!m) {
      Atomics.wait(ctrl, CLOSED, 0, 1);
      continue;
    }
    Atomics.sub(ctrl, signal, 1);
    try {
      runTask(m.message as Task);
    } catch {
      Atomics.store(ctrl, FAILED, 1);
    }
    Atomics.add(ctrl, DONE, 1);
    Atomics.notify(ctrl, DONE);
  }
}
