// What a long-running engine call gets from its caller: cancellation, progress and logging.
// The CLI prints these; the sidecar turns them into JSON-RPC notifications.
export interface Job {
  signal?: AbortSignal;
  progress(phase: string, done: number, total: number, message?: string): void;
  log(level: 'error' | 'warn' | 'info' | 'debug', message: string): void;
}

export const silentJob: Job = { progress: () => {}, log: () => {} };

/** Wall-clock time per phase, in the order phases first ran. */
export class PhaseTimer {
  private readonly seconds = new Map<string, number>();

  async time<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.seconds.set(phase, (this.seconds.get(phase) ?? 0) + (performance.now() - t0) / 1000);
    }
  }

  phases(): { name: string; seconds: number }[] {
    return [...this.seconds].map(([name, seconds]) => ({ name, seconds }));
  }
}
