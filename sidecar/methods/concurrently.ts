// A layer's projections are factorized concurrently: the portable SVDs run on worker threads
// (linalg/pool.ts), so while one projection's SVD runs there, the next one's products and solves
// run here. The cap on jobs in flight bounds the float64 copies held at once (a 4096 × 14336
// projection is 470 MB in float64).
import { POOL_SIZE } from '../linalg/pool';

/** One more than the pool's workers: the calling thread has work while every worker is busy. */
export const PROJECTIONS_IN_FLIGHT = POOL_SIZE + 1;
/** The float64 copies that projections in flight may hold together. */
const IN_FLIGHT_BYTES = 2 ** 28;

/** Float64 working set of factorizing an m × n projection against n × n statistics: W, W S, U and
 *  V (m·n each at most), S and a Gram (n² each), and a product of that size. */
export const factorizationBytes = (m: number, n: number): number => 8 * (4 * m * n + 3 * n * n);

/** How many projections of `bytes` each to have in flight: all that fit IN_FLIGHT_BYTES, so that
 *  the pool always has queued work, and never fewer than PROJECTIONS_IN_FLIGHT. */
export function projectionsInFlight(bytes: number): number {
  return Math.max(PROJECTIONS_IN_FLIGHT, Math.floor(IN_FLIGHT_BYTES / Math.max(1, bytes)));
}

/** fn over items with at most `limit` running at once; results in the items' order. After a
 *  failure no new item starts, and the first error is thrown once the running ones have settled. */
export async function mapConcurrently<T, R>(items: readonly T[], fn: (item: T, index: number) => Promise<R>, limit = PROJECTIONS_IN_FLIGHT): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    for (let i = next++; i < items.length && !failure; i = next++) {
      try {
        out[i] = await fn(items[i], i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure) throw failure.error;
  return out;
}
