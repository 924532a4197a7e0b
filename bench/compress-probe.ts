// Finer phases of a compress() run than its report's (load, calibrate, factorize, write), without
// touching the method: the bench wraps the shared objects the method calls through (GramCollector,
// the calibration paths' prototypes) with timers, each phase getting its self time (a forward's
// time excludes its Gram hooks'). Approximate since SVD-LLM overlaps its work: the linear algebra,
// and most Gram products, run on the worker pool during the forward passes (so they are not
// wrapped: the Gram phase is this thread's share, copying batches for the pool and the products
// it keeps; the bench reports the rest of the factorize phase as time spent waiting on the pool),
// and the next layer's whitening pass interleaves with the update path's batches, so each of those
// two forward phases also counts some of the other's.
import { GramCollector } from '../sidecar/stats/gram';
import { HiddenStates, OriginalPath } from '../sidecar/methods/calibration';

export type ProbePhase = 'read layer weights' | 'forward (whitening path)' | 'forward (update path)' | 'statistics (Gram), this thread';

type Fn = (...args: unknown[]) => unknown;

export class PhaseProbe {
  private readonly seconds = new Map<ProbePhase, number>();
  /** Time spent in wrapped callees, per open frame. */
  private readonly stack: number[] = [];
  private readonly restore: (() => void)[] = [];
  private original = 0;

  constructor() {
    this.wrap(GramCollector.prototype, 'add', () => 'statistics (Gram), this thread');
    // through() reads the layer, then runs it with HiddenStates.run: that run is the whitening path.
    this.wrap(OriginalPath.prototype, 'through', () => 'read layer weights', true);
    this.wrap(HiddenStates.prototype, 'run', () => (this.original ? 'forward (whitening path)' : 'forward (update path)'));
  }

  phases(): { name: string; seconds: number }[] {
    return [...this.seconds].map(([name, seconds]) => ({ name, seconds }));
  }

  dispose(): void {
    this.restore.forEach((r) => r());
  }

  private wrap<T extends object>(obj: T, key: keyof T & string, phase: () => ProbePhase, original = false): void {
    const target = obj as unknown as Record<string, Fn>;
    const fn = target[key];
    const enter = () => {
      if (original) this.original++;
      this.stack.push(0);
      return { phase: phase(), t0: performance.now() };
    };
    const leave = (f: { phase: ProbePhase; t0: number }) => {
      if (original) this.original--;
      const total = (performance.now() - f.t0) / 1000;
      const inner = this.stack.pop()!;
      this.seconds.set(f.phase, (this.seconds.get(f.phase) ?? 0) + total - inner);
      if (this.stack.length) this.stack[this.stack.length - 1] += total;
    };
    target[key] = function (this: unknown, ...args: unknown[]) {
      const f = enter();
      let out: unknown;
      try {
        out = fn.apply(this, args);
      } catch (e) {
        leave(f);
        throw e;
      }
      if (out instanceof Promise) return out.finally(() => leave(f));
      leave(f);
      return out;
    };
    this.restore.push(() => { target[key] = fn; });
  }
}
