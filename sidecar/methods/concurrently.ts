// A layer's projections are factorized concurrently: the portable SVDs run on worker threads
// (linalg/pool.ts), so while one projection's SVD runs there, the next one's products and solves
// run here. The cap on jobs in flight bounds the float64 copies held at once (a 4096 × 14336
// projection is 470 MB in float64).
import { POOL_SIZE } from '../linalg/pool';

/** One more than the pool's workers: the calling thread has work while every worker is busy. */
export const PROJECTIONS_IN_FLIGHT = POOL_SIZE + 1;

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
