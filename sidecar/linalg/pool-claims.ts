// The shared memory through which the linear-algebra pool's workers take jobs (pool.ts,
// pool-worker.ts): every job is posted to every worker, and exactly one takes it, by claiming its
// slot here.

/** The control words: jobs posted (the workers wait on it), workers running a job, workers ready,
 *  then one claim word per job slot (job id modulo CLAIM_SLOTS): id + 1 while the
 *  job is open, −(index + 1) once the worker `index` took it (TAKEN_HERE: the posting thread). */
export const POSTED = 0;
export const BUSY = 1;
export const LIVE = 2;
const CLAIMS = 3;
export const CLAIM_SLOTS = 1 << 16;
export const CONTROL_WORDS = CLAIMS + CLAIM_SLOTS;
export const TAKEN_HERE = -0x80000000;

const slot = (id: number) => CLAIMS + (id % CLAIM_SLOTS);

/** Takes job for `taker` (−(index + 1), or TAKEN_HERE) if it is still open. */
export function claim(ctrl: Int32Array, job: { id: number }, taker: number): boolean {
  return Atomics.compareExchange(ctrl, slot(job.id), job.id + 1, taker) === job.id + 1;
}

export const isOpen = (ctrl: Int32Array, id: number): boolean => Atomics.load(ctrl, slot(id)) === id + 1;

/** Marks job id open (the posting thread, before posting it). */
export function open(ctrl: Int32Array, id: number): void {
  Atomics.store(ctrl, slot(id), id + 1);
}

/** Who took job id: a worker's index, or −1 (the posting thread, or still open). */
export function taker(ctrl: Int32Array, id: number): number {
  const v = Atomics.load(ctrl, slot(id));
  return v < 0 && v !== TAKEN_HERE ? -v - 1 : -1;
}
