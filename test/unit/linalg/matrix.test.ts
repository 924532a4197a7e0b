// The float64 products (sidecar/linalg/matrix.ts): the WebAssembly-kernel product against a triple
// loop, and the triangular one against the plain one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gemmStrided, isLowerTriangular, matmul, matmulLower, matrix, transposeData } from '../../../sidecar/linalg/matrix';
import { uniform } from '../../helpers/lcg';

function random(m: number, n: number, seed: number) {
  return matrix(m, n, uniform(m * n, seed));
}

function lower(n: number, seed: number) {
  const l = random(n, n, seed);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) l.data[i * n + j] = 0;
  return l;
}

// Across the packing panels (k 256, rows of A 128, rows of Bᵀ 2048) and the 4 × 4 tiles, with each
// operand a block inside a larger array and C accumulated into, not overwritten.
for (const [m, k, n] of [[1, 1, 1], [5, 3, 7], [131, 300, 9], [6, 257, 2051], [130, 20, 4100]] as const) {
  test(`gemmStrided ${m}×${k} by (${n}×${k})ᵀ on blocks: a triple loop's C += A Btᵀ to rounding`, () => {
    const [la, lb, lc] = [k + 3, k + 5, n + 2];
    const a = random(m + 2, la, m).data;
    const bt = random(n + 1, lb, n).data;
    const c = random(m + 1, lc, k).data;
    const want = Float64Array.from(c);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[2 * la + 1 + i * la + t] * bt[lb + 2 + j * lb + t];
      want[lc + 1 + i * lc + j] += s;
    }
    gemmStrided({ data: a, at: 2 * la + 1, ld: la }, { data: bt, at: lb + 2, ld: lb }, m, k, n, { data: c, at: lc + 1, ld: lc });
    let err = 0;
    for (let i = 0; i < c.length; i++) err = Math.max(err, Math.abs(c[i] - want[i]));
    assert.ok(err <= 1e-12, `max difference ${err}`);
  });
}

// An operand stored the other way round (kMajor) is packed from its columns: the same bits as the
// same product on a transposed copy, across the panels and with a last group of fewer than 4 rows.
for (const [m, k, n] of [[5, 3, 7], [131, 300, 9], [6, 257, 2051]] as const) {
  test(`gemmStrided ${m}×${k} by (${n}×${k})ᵀ with either operand kMajor: the transposed copies' bits`, () => {
    const a = random(m, k, m + 1).data;
    const bt = random(n, k, n + 1).data;
    const c0 = random(m, n, k + 1).data;
    const want = Float64Array.from(c0);
    gemmStrided({ data: a, at: 0, ld: k }, { data: bt, at: 0, ld: k }, m, k, n, { data: want, at: 0, ld: n });
    for (const [ka, kb] of [[true, false], [false, true], [true, true]]) {
      const c = Float64Array.from(c0);
      const A = ka ? { data: transposeData(a, m, k), at: 0, ld: m, kMajor: true } : { data: a, at: 0, ld: k };
      const B = kb ? { data: transposeData(bt, n, k), at: 0, ld: n, kMajor: true } : { data: bt, at: 0, ld: k };
      gemmStrided(A, B, m, k, n, { data: c, at: 0, ld: n });
      assert.deepEqual(c, want, `A kMajor ${ka}, B kMajor ${kb}`);
    }
    // matmul's transposed operands take this path.
    const am = matrix(m, k, a);
    const bm = matrix(n, k, bt);
    assert.deepEqual(matmul(matrix(k, m, transposeData(a, m, k)), bm, { transA: true, transB: true }).data, matmul(am, bm, { transB: true }).data);
  });
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
