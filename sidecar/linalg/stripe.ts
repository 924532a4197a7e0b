// How the lanes of one SVD (lanes.ts) share a stage's items, and take a stage's steps together.

/**
 * How the lanes of one SVD (lanes.ts) take the reduction's steps together. Each step has two serial
 * parts (a reflector, on the caller) and two parallel ones; phase() starts a parallel part (the
 * caller releases it, a helper waits for it) and join() ends it (a helper reports, the caller
 * waits for every helper).
 */
export interface StepSync { lane: number; lanes: number; phase(): void; join(): void }

/** Lane `lane` of `lanes`'s share [t0, t1) of the items from..to−1 (every stage the lanes split). */
export function stripe(from: number, to: number, lane: number, lanes: number): [number, number] {
  return [from + Math.floor(((to - from) * lane) / lanes), from + Math.floor(((to - from) * (lane + 1)) / lanes)];
}
