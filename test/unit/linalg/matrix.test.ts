// The float64 products (sidecar/linalg/matrix.ts): the triangular one against the plain one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLowerTriangular, matmul, matmulLower, matrix } from '../../../sidecar/linalg/matrix';

function random(m: number, n: number, seed: number) {
  let s = seed;
  return matrix(m, n, Float64Array.from({ length: m * n }, () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5));
}

function lower(n: number, seed: number) {
  const l = random(n, n, seed);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) l.data[i * n + j] = 0;
  return l;
}

// Sizes below, at and across the 64-column blocks.
for (const [m, n] of [[3, 5], [70, 64], [33, 65], [120, 200]] as const) {
  test(`matmulLower ${m}×${n} by ${n}×${n} lower: matmul's product to rounding`, () => {
    const a = random(m, n, m + n);
    const l = lower(n, 7 * n);
    assert.ok(isLowerTriangular(l));
    const want = matmul(a, l);
    const got = matmulLower(a, l);
    let err = 0;
    for (let i = 0; i < want.data.length; i++) err = Math.max(err, Math.abs(got.data[i] - want.data[i]));
    assert.ok(err <= 1e-13, `max difference ${err}`);
  });
}

test('isLowerTriangular: one entry above the diagonal, or a non-square matrix, is not', () => {
  const l = lower(10, 3);
  l.data[3 * 10 + 7] = 1e-300;
  assert.equal(isLowerTriangular(l), false);
  assert.equal(isLowerTriangular(random(4, 5, 1)), false);
  assert.throws(() => matmulLower(random(3, 4, 1), lower(5, 2)), /matmulLower/);
});
