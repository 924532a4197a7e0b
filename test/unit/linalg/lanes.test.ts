// One SVD over several threads (sidecar/linalg/lanes.ts): helpers start where they pay off, and the
// results are bit-identical to one thread's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LANES_MIN_N, lanesFor, neverParkLanes, releaseParkedLanes } from '../../../sidecar/linalg/lanes';
import { matrix } from '../../../sidecar/linalg/matrix';
import { svdPortable } from '../../../sidecar/linalg/svd';
import { uniform } from '../../helpers/lcg';

function random(m: number, n: number, seed: number) {
  return matrix(m, n, uniform(m * n, seed));
}

const same = (x: Float64Array, y: Float64Array) => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));

test('lanesFor: helper threads only for n ≥ LANES_MIN_N and more than one thread', () => {
  assert.equal(lanesFor(LANES_MIN_N - 1, 2).count, 1);
  assert.equal(lanesFor(LANES_MIN_N, 1).count, 1);
  const lanes = lanesFor(LANES_MIN_N, 3);
  try {
    assert.equal(lanes.count, 3);
    assert.ok(lanes.array(4).buffer instanceof SharedArrayBuffer);
  } finally {
    lanes.close();
  }
});

test('a closed team is parked for the next SVD with as many threads, and ends when released', () => {
  const a = lanesFor(LANES_MIN_N, 2);
  a.close();
  const b = lanesFor(LANES_MIN_N, 2);
  assert.equal(b, a, 'the parked team is taken');
  b.close();
  const c = lanesFor(LANES_MIN_N, 3);
  assert.notEqual(c, a, 'another count: a new team');
  assert.equal(c.count, 3);
  c.close();
  releaseParkedLanes();
  const d = lanesFor(LANES_MIN_N, 3);
  assert.notEqual(d, c, 'released: a new team');
  d.close();
  releaseParkedLanes();
});

// The last three are past the QR-first crossover (svd.ts): Q's rows are split over the lanes.
for (const [m, n, full, top] of [[700, 530, false, undefined], [530, 700, true, undefined], [530, 800, false, 200], [1100, 530, false, undefined], [530, 1100, true, undefined], [530, 900, false, 200]] as const) {
  test(`svd ${m}×${n}${full ? ' full' : ''}${top ? ` top ${top}` : ''}: two threads give bit for bit one thread's result`, () => {
    const a = random(m, n, m + n);
    const one = svdPortable(a, true, full, top, 1);
    const two = svdPortable(a, true, full, top, 2);
    assert.ok(same(one.s, two.s), 's');
    assert.ok(same(one.u!.data, two.u!.data), 'U');
    assert.ok(same(one.v!.data, two.v!.data), 'V');
    // Values alone: the bidiagonalisation is the part split over the lanes.
    assert.ok(same(svdPortable(a, false, false, undefined, 1).s, svdPortable(a, false, false, undefined, 2).s), 'values only');
  });
}

// Last: it changes this thread's parking for the tests after it.
test('a thread that never parks ends a closed team at once (a pool worker)', () => {
  neverParkLanes();
  const a = lanesFor(LANES_MIN_N, 2);
  a.close();
  const b = lanesFor(LANES_MIN_N, 2);
  assert.notEqual(b, a);
  b.close();
});
