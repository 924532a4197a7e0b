// Progress for terminal use: one line per phase change and at most one update a second.
import type { Job } from '../compress/job';

export function stderrJob(signal: AbortSignal, quiet: boolean): Job {
  let lastPhase = '';
  let lastAt = 0;
  return {
    signal,
    progress(phase, done, total, message) {
      if (quiet) return;
      const now = Date.now();
      if (phase === lastPhase && now - lastAt < 1000 && done < total) return;
      lastPhase = phase;
      lastAt = now;
      process.stderr.write(`[${phase}] ${done}/${total}${message ? ` ${message}` : ''}\n`);
    },
    log(level, message) {
      if (quiet && level !== 'error' && level !== 'warn') return;
      process.stderr.write(`${level}: ${message}\n`);
    },
  };
}
