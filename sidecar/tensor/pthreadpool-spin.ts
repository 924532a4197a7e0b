// XNNPACK's thread pool (pthreadpool, compiled into tfjs's threaded wasm build) spins 1,000,000
// atomic loads before a thread sleeps on its futex: a worker waiting for the next product, a worker
// done with one, the calling thread waiting for the workers. On idle native cores that saves a
// wake-up; here the engine's own threads (the linear-algebra pool) want those cores. perf over a
// compression (bench/compress.ts) found XNNPACK's worker spinning in that loop for 0.67 CPU-s of
// 10.5 (Liftoff code: a loop entered once never tiers up), while the main thread ran the
// attention's small kernels and the Gram. The build's binary is patched as it is loaded, to spin
// SPIN_LOADS loads instead (about a microsecond); a futex wake-up costs tens of microseconds
// against products of milliseconds. Measured: 0.6–0.8 CPU-s less per compression, time the same or
// lower (10,000 loads measured the same as 1,000).

/** Loads spun before sleeping. A positive multiple of 5: each loop turn does 5 and then tests ≠ 0. */
export const SPIN_LOADS = 1000;

/** pthreadpool's PTHREADPOOL_SPIN_WAIT_ITERATIONS as the build encodes it: i32.const 1000000. */
const SPIN_CONST = [0x41, 0xc0, 0x84, 0x3d];
/** The sites in tfjs-backend-wasm 4.x's threaded build (the three waits above). */
const SITES = 3;
const LOCAL_SET = 0x21;
/** The prefix and opcode of i32.atomic.load. */
const ATOMIC_LOAD = [0xfe, 0x10];
const CODE_SECTION = 10;

/**
 * The binary with each spin count set to SPIN_LOADS, or undefined if it does not hold exactly the
 * expected sites (another build: it then runs as shipped). A site is i32.const 1000000 in the code
 * section, stored to a local and followed within 32 bytes by an atomic load (the spin loop). The new
 * count keeps the constant's 3-byte length (a padded LEB128), so no offset in the module moves.
 */
export function withShortSpins(binary: Uint8Array): Uint8Array<ArrayBuffer> | undefined {
  const code = codeSection(binary);
  if (!code) return undefined;
  const sites: number[] = [];
  for (let i = code.start; i + 6 <= code.end; i++) {
    if (!SPIN_CONST.every((b, k) => binary[i + k] === b) || binary[i + 4] !== LOCAL_SET) continue;
    const loop = binary.subarray(i + 6, Math.min(code.end, i + 38));
    if (loop.some((b, k) => b === ATOMIC_LOAD[0] && loop[k + 1] === ATOMIC_LOAD[1])) sites.push(i);
  }
  if (sites.length !== SITES) return undefined;
  const out = Uint8Array.from(binary);
  for (const i of sites) out.set([0x80 | (SPIN_LOADS & 0x7f), 0x80 | ((SPIN_LOADS >> 7) & 0x7f), (SPIN_LOADS >> 14) & 0x3f], i + 1);
  return out;
}

/** The code section's payload, from the module's section headers. */
function codeSection(b: Uint8Array): { start: number; end: number } | undefined {
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) return undefined;
  for (let p = 8; p < b.length;) {
    const id = b[p++];
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = b[p++];
      size += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) break;
    }
    if (id === CODE_SECTION) return { start: p, end: Math.min(b.length, p + size) };
    p += size;
  }
  return undefined;
}
