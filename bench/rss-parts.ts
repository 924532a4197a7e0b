// Where a process's resident memory is at its peak, from /proc/self/smaps (Linux). A worker thread
// samples it, so it sees the peak while the main thread computes; it reads smaps again only when
// the resident size has grown by STEP_KIB since the last read, so the parts are those of a moment
// within STEP_KIB of the peak. Mappings are classed by what made them (approximate):
// - wasm heap: an anonymous mapping followed by the unmapped rest of a reservation of 4 GiB or more
//   (V8 reserves a wasm memory's whole address range at once);
// - V8 heaps: anonymous mappings of exactly 256 KiB (V8's page), of every thread's isolate;
// - malloc: [heap] and the other anonymous mappings (glibc's arenas and the blocks it maps for
//   large requests: ArrayBuffers' backing stores, the native parts of Node and tfjs);
// - files: mapped files (node itself, shared libraries).
// The sampler is itself a thread with an isolate: a few MiB of the V8 part are its own.
import { Worker } from 'node:worker_threads';

export interface RssParts { mallocMiB: number; wasmMiB: number; v8MiB: number; filesMiB: number }

const STEP_KIB = 4096;
const WASM_RESERVATION = 4 * 2 ** 30;

interface Vma { start: number; end: number; perms: string; name: string; rssKiB: number }

function vmas(smaps: string): Vma[] {
  const out: Vma[] = [];
  for (const line of smaps.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) out.push({ start: parseInt(head[1], 16), end: parseInt(head[2], 16), perms: head[3], name: head[4], rssKiB: 0 });
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && out.length) out[out.length - 1].rssKiB = Number(rss[1]);
  }
  return out;
}

export function rssParts(smaps: string): RssParts {
  const parts: RssParts = { mallocMiB: 0, wasmMiB: 0, v8MiB: 0, filesMiB: 0 };
  const all = vmas(smaps);
  all.forEach((v, i) => {
    const next = all[i + 1];
    let key: keyof RssParts = 'mallocMiB';
    if (v.name.startsWith('/')) key = 'filesMiB';
    // A wasm memory: its accessible part, then the rest of its reservation (8 GiB here) unmapped.
    else if (!v.name && next && !next.name && next.start === v.end && next.perms.startsWith('---') && next.end - v.start >= WASM_RESERVATION) key = 'wasmMiB';
    else if (!v.name && v.end - v.start === 256 * 1024) key = 'v8MiB';
    parts[key] += v.rssKiB / 1024;
  });
  return parts;
}

const SAMPLER = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
let read = 0, snap = '';
const tick = () => {
  const kib = Number(/VmRSS:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
  if (kib > read + workerData.step) { read = kib; snap = readFileSync('/proc/self/smaps', 'utf8'); }
};
const timer = setInterval(tick, workerData.ms);
parentPort.once('message', () => { clearInterval(timer); parentPort.postMessage(snap); });
`;

/** Starts sampling; stop() gives the parts at the largest resident size seen. */
export function samplePeakParts(ms = 50): { stop(): Promise<RssParts> } {
  const worker = new Worker(SAMPLER, { eval: true, workerData: { ms, step: STEP_KIB } });
  return {
    stop: () => new Promise((resolve, reject) => {
      worker.once('message', (smaps: string) => {
        void worker.terminate();
        resolve(rssParts(smaps));
      });
      worker.once('error', reject);
      worker.postMessage('stop');
    }),
  };
}
