// Shared buffers handed back and taken again (sidecar/linalg/shared-memory.ts), and what passing
// them to jobs as they are means after that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lend, readOnly, recycle, reusedBuffer, shared } from '../../../sidecar/linalg/shared-memory';
import { matrix } from '../../../sidecar/linalg/matrix';

test('reusedBuffer: a buffer handed back is taken again by the next of its size, zeroed only if asked', () => {
  const bytes = 8 * 1234;
  const a = reusedBuffer(bytes, true);
  assert.ok(a instanceof SharedArrayBuffer);
  new Float64Array(a).fill(3);
  recycle(a);
  const kept = reusedBuffer(bytes, false);
  assert.equal(kept, a);
  assert.equal(new Float64Array(kept)[17], 3, 'contents kept');
  recycle(kept);
  assert.notEqual(reusedBuffer(bytes + 8, true), a, 'another size');
  const zeroed = reusedBuffer(bytes, true);
  assert.equal(zeroed, a);
  assert.ok(new Float64Array(zeroed).every((v) => v === 0));
  assert.notEqual(reusedBuffer(bytes, true), a, 'taken once');
  // Plain memory is left to the collector.
  const plain = new ArrayBuffer(bytes);
  recycle(plain);
  assert.notEqual(reusedBuffer(bytes, false), plain);
});

test('recycle: a read-only or lent buffer handed back is copied again when passed to a job as a plain array', () => {
  const m = readOnly(matrix(4, 4, new Float64Array(reusedBuffer(128, true))));
  assert.equal(shared(m.data), m.data, 'read-only: as it is');
  recycle(m.data.buffer);
  const again = new Float64Array(reusedBuffer(128, false));
  assert.equal(again.buffer, m.data.buffer);
  assert.notEqual(shared(again), again, 'no longer read-only: a copy');
  assert.equal(shared(lend(again)), again, 'lent again: as it is');
});
