// Whether the fused kernels' products round once here (sidecar/linalg/wasm-kernel.ts): V8 compiles
// relaxed_madd to an FMA instruction where the CPU has one, and to a multiply and an add elsewhere.
import { existsSync, readFileSync } from 'node:fs';
import { fusedKernels } from '../../sidecar/linalg/wasm-kernel';

/** The CPU's fma flag, from /proc/cpuinfo; undefined where there is none to read (not Linux). */
function cpuHasFma(): boolean | undefined {
  if (!existsSync('/proc/cpuinfo')) return undefined;
  return /^flags\s*:.*\bfma\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
}

/** Whether this process's fused kernels round each multiply-add once: true or false where that is
 *  known, undefined where the CPU cannot be read. */
export function roundsOnce(): boolean | undefined {
  if (!fusedKernels()) return false;
  return cpuHasFma();
}
