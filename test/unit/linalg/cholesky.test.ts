// The blocked Cholesky (sidecar/linalg/cholesky.ts choleskyOnce) against a textbook one, across
// several blocks and a partial last one; a non-positive pivot found in a later block; and the
// factorization in place, which gives A back when it fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choleskyOnce, choleskyShifted, inPlaceKernels } from '../../../sidecar/linalg/cholesky';
import { matmul, matrix, type Matrix } from '../../../sidecar/linalg/matrix';
import { uniform } from '../../helpers/lcg';

function gram(n: number, seed: number): Matrix {
  const x = matrix(2 * n, n, uniform(2 * n * n, seed));
  return matmul(x, x, { transA: true });
}

function textbook(a: Matrix, shift: number): Float64Array {
  const n = a.rows;
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a.data[j * n + j] + shift;
    for (let k = 0; k < j; k++) d -= l[j * n + k] ** 2;
    l[j * n + j] = Math.sqrt(d);
    for (let i = j + 1; i < n; i++) {
      let s = a.data[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / l[j * n + j];
    }
  }
  return l;
}

for (const n of [1, 64, 65, 200]) {
  test(`choleskyOnce ${n}×${n}: the textbook factor to rounding, zero above the diagonal`, () => {
    const a = gram(n, n);
    const l = choleskyOnce(a, 0.5)!;
    const want = textbook(a, 0.5);
    let err = 0;
    let scale = 0;
    for (let k = 0; k < n * n; k++) {
      err = Math.max(err, Math.abs(l.data[k] - want[k]));
      scale = Math.max(scale, Math.abs(want[k]));
    }
    assert.ok(err <= 1e-12 * scale, `max difference ${err} of ${scale}`);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(l.data[i * n + j], 0);
  });
}

test('choleskyOnce: a negative pivot in a later block gives undefined', () => {
  const n = 150;
  const a = matrix(n, n);
  for (let i = 0; i < n; i++) a.data[i * n + i] = i === 140 ? -1 : 2;
  assert.equal(choleskyOnce(a), undefined);
  assert.ok(choleskyOnce(a, 1.5));
});

test('choleskyOnce in place: the same bits in A\'s own memory; a failure late in the matrix leaves A as it was', () => {
  const n = 150;
  const a = gram(n, 7);
  const copy = choleskyOnce(a, 0.5)!;
  const own = matrix(n, n, Float64Array.from(a.data));
  const l = choleskyOnce(own, 0.5, true)!;
  assert.equal(l.data, own.data);
  assert.deepEqual(l.data, copy.data);
  // Not positive definite at pivot 141, after four blocks' trailing updates wrote into A.
  const bad = gram(n, 8);
  bad.data[141 * n + 141] = -1;
  const before = Float64Array.from(bad.data);
  assert.equal(choleskyOnce(bad, 0, true), undefined);
  assert.deepEqual(bad.data, before);
});

test('choleskyShifted in place: the shift\'s retries see A unchanged, and give the copying path\'s factor', () => {
  const n = 100;
  const a = gram(n, 9);
  for (let i = 0; i < n; i++) a.data[i * n + i] -= 3;
  const logs: string[] = [];
  const copied = choleskyShifted(a, { log: (m) => logs.push(m) });
  const own = matrix(n, n, Float64Array.from(a.data));
  const inPlace = choleskyShifted(own, {}, inPlaceKernels);
  assert.ok(copied.attempts > 1 && logs.length > 0, 'needed a shift');
  assert.equal(inPlace.shift, copied.shift);
  assert.equal(inPlace.attempts, copied.attempts);
  assert.equal(inPlace.l.data, own.data);
  assert.deepEqual(inPlace.l.data, copied.l.data);
});
