// mapConcurrently: how a layer's projections are factorized side by side (methods/concurrently.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { factorizationBytes, mapConcurrently, PROJECTIONS_IN_FLIGHT, projectionsInFlight } from '../../../sidecar/methods/concurrently';

test('concurrently: results in the items\' order, never more than the limit running', async () => {
  let running = 0;
  let most = 0;
  const delays = [30, 5, 20, 1, 15, 2, 8];
  const out = await mapConcurrently(delays, async (ms, i) => {
    most = Math.max(most, ++running);
    await sleep(ms);
    running--;
    return `${i}:${ms}`;
  }, 3);
  assert.deepEqual(out, delays.map((ms, i) => `${i}:${ms}`));
  assert.equal(most, 3);
});

test('concurrently: after a failure no new item starts, and the first error is thrown once the running ones settle', async () => {
  const started: number[] = [];
  const settled: number[] = [];
  await assert.rejects(mapConcurrently([0, 1, 2, 3, 4, 5], async (i) => {
    started.push(i);
    await sleep(i === 1 ? 1 : 20);
    settled.push(i);
    if (i === 1) throw new Error('projection 1 failed');
    return i;
  }, 2), /projection 1 failed/);
  // Item 1 failed while 0 ran: lane two took nothing more, lane one finished 0 and stopped.
  assert.deepEqual(started.sort(), [0, 1]);
  assert.deepEqual(settled.sort(), [0, 1]);
});

test('concurrently: empty input and a limit above the item count', async () => {
  assert.deepEqual(await mapConcurrently([], async () => 1), []);
  assert.deepEqual(await mapConcurrently([2, 3], async (x) => x * x, 16), [4, 9]);
});

test('concurrently: as many projections in flight as fit the memory budget, never fewer than the pool keeps busy', () => {
  // A 256 × 688 projection's float64 working set is about 17 MiB: all of a layer's fit in 256 MiB.
  assert.equal(factorizationBytes(256, 688), 8 * (4 * 256 * 688 + 3 * 688 * 688));
  assert.ok(projectionsInFlight(factorizationBytes(256, 688)) >= 7);
  // Llama-3-8B's down_proj (4096 × 14336) is GiBs: only the minimum.
  assert.equal(projectionsInFlight(factorizationBytes(4096, 14336)), PROJECTIONS_IN_FLIGHT);
});
