// The blocked Cholesky (sidecar/linalg/cholesky.ts choleskyOnce) against a textbook one, across
// several blocks and a partial last one; and a non-positive pivot found in a later block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choleskyOnce } from '../../../sidecar/linalg/cholesky';
import { matmul, matrix, type Matrix } from '../../../sidecar/linalg/matrix';

function gram(n: number, seed: number): Matrix {
  let s = seed;
  const x = matrix(2 * n, n, Float64Array.from({ length: 2 * n * n }, () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5));
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
