// A second thread for a host kernel's windows: the attention's (attention-host.ts) and the
// projections' (linear-host.ts), one helper each. The attention kernel ran on the
// forward passes' thread alone, and that thread is a compression's critical path: the attention was
// about a tenth of bench/compress's time (0.41 of 3.8 s), while during a layer's whitening and
// compressed passes only 1.6–1.7 of the two cores were busy (perf, 50 ms bins). The helper
// instantiates the kernel on its shared memory, and the two threads claim the batch's windows from
// a shared counter, so a helper that is busy, descheduled or not yet started leaves its windows to
// the caller: the caller never waits for it to begin, only for a window it has begun. A window's
// arithmetic does not depend on the thread that runs it, so the result is the same to the bit.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Control words: the claim word (generation << 10 | next window), windows done, a failure flag,
 *  the window count, the windows the helper ran (all calls), then the kernel's arguments for it. */
const NEXT = 0;
const DONE = 1;
const FAILED = 2;
const COUNT = 3;
const HELPED = 4;
const ARGS = 5;
const MAX_ARGS = 16;
/** Windows per call the claim word can count. */
export const MAX_WINDOWS = 1 << 10;

// The helper: waits for a new generation, then claims windows until none is left or a newer
// generation began (whose arguments it has not read). A failed window is flagged, and the caller
// runs the batch again alone.
const SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctrl } = workerData;
const run = new WebAssembly.Instance(module, { env: { memory } }).exports.window;
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, ${NEXT}, seen);
  let v = Atomics.load(ctrl, ${NEXT});
  const gen = v >>> 10;
  const count = Atomics.load(ctrl, ${COUNT});
  const args = [];
  for (let i = 0; i < ${MAX_ARGS}; i++) args.push(Atomics.load(ctrl, ${ARGS} + i));
  for (;;) {
    v = Atomics.load(ctrl, ${NEXT});
    if (v >>> 10 !== gen || (v & ${MAX_WINDOWS - 1}) >= count) break;
    if (Atomics.compareExchange(ctrl, ${NEXT}, v, v + 1) !== v) continue;
    try { run(v & ${MAX_WINDOWS - 1}, ...args); } catch { Atomics.store(ctrl, ${FAILED}, 1); }
    Atomics.add(ctrl, ${HELPED}, 1);
    Atomics.add(ctrl, ${DONE}, 1);
    Atomics.notify(ctrl, ${DONE});
  }
  seen = v >>> 10 === gen ? v : -1;
}
`;

type Window = (b: number, ...args: number[]) => void;

class Helper {
  readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * (ARGS + MAX_ARGS)));
  private gen = 0;
  private failed = false;

  constructor(module: WebAssembly.Module, readonly memory: WebAssembly.Memory) {
    const worker = new Worker(SOURCE, { eval: true, workerData: { module, memory, ctrl: this.ctrl } });
    worker.unref();
    // A helper that cannot start or dies leaves every window to the caller.
    const gone = () => { this.failed = true; };
    worker.on('error', gone);
    worker.on('exit', gone);
  }

  /** run(b, ...here) for b < count, the helper taking windows with `there` (its scratch). */
  windows(count: number, run: Window, here: number[], there: number[]): void {
    const c = this.ctrl;
    there.forEach((a, i) => Atomics.store(c, ARGS + i, a));
    Atomics.store(c, COUNT, count);
    Atomics.store(c, DONE, 0);
    Atomics.store(c, FAILED, 0);
    this.gen = (this.gen + 1) & 0xfffff;
    Atomics.store(c, NEXT, this.gen << 10);
    Atomics.notify(c, NEXT);
    for (;;) {
      const v = Atomics.load(c, NEXT);
      if ((v & (MAX_WINDOWS - 1)) >= count) break;
      if (Atomics.compareExchange(c, NEXT, v, v + 1) !== v) continue;
      run(v & (MAX_WINDOWS - 1), ...here);
      Atomics.add(c, DONE, 1);
    }
    // Only windows the helper has begun are waited for.
    for (let d = Atomics.load(c, DONE); d < count; d = Atomics.load(c, DONE)) Atomics.wait(c, DONE, d);
    if (Atomics.load(c, FAILED)) {
      this.failed = true;
      for (let b = 0; b < count; b++) run(b, ...here);
    }
  }

  get usable(): boolean {
    return !this.failed;
  }

  get helped(): number {
    return Atomics.load(this.ctrl, HELPED);
  }
}

/** Each kernel's helper (the attention's, the projections'), started on first use; null where none
 *  can run. A helper waits on its control word while its kernel is not running: no CPU. */
const helpers = new Map<WebAssembly.Module, Helper | null>();

/**
 * run(b, ...here) for every window b < count: on this thread and a helper thread sharing the
 * kernel's memory (`module` instantiated on `memory`, exporting `window`), or on this thread alone
 * where there is one core, no shared memory, or the helper failed. `there` are the helper's
 * arguments (its own scratch in the same memory), at most MAX_ARGS of them.
 */
export function eachWindow(count: number, module: WebAssembly.Module, memory: WebAssembly.Memory, run: Window, here: number[], there: number[]): void {
  let helper = helpers.get(module);
  if (helper === undefined) {
    helper = availableParallelism() > 1 && memory.buffer instanceof SharedArrayBuffer ? new Helper(module, memory) : null;
    helpers.set(module, helper);
  }
  if (helper?.memory === memory && helper.usable && count > 1 && count <= MAX_WINDOWS && there.length <= MAX_ARGS) {
    helper.windows(count, run, here, there);
    return;
  }
  for (let b = 0; b < count; b++) run(b, ...here);
}

/** Windows the helper threads have run in this process, all kernels'. */
export const helperWindows = (): number => [...helpers.values()].reduce((n, h) => n + (h?.helped ?? 0), 0);
