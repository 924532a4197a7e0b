// Resident memory of this process from /proc (Linux): the peak (VmHWM) can be reset to the current
// resident size, so a bench can measure one phase's peak after setup (tokenizing a corpus) that a
// user's run would not repeat. ru_maxrss cannot be reset.
import { readFileSync, writeFileSync } from 'node:fs';

function statusKiB(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`/proc/self/status has no ${field}`);
  return Number(m[1]);
}

export const rssMiB = (): number => statusKiB('VmRSS') / 1024;
export const peakRssMiB = (): number => statusKiB('VmHWM') / 1024;

/** Sets the peak to the current resident size ("5" to clear_refs, Linux ≥ 4.0). */
export function resetPeakRss(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}
