// Every case of the portable triangular solve (side × lower/upper × transpose) by its residual, on
// sizes that leave remainders after the four-row unrolling, within one block of the right solve and
// across several.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { portableLinalg } from '../../../sidecar/linalg';
import { frobenius, matmul, matrix, type Matrix } from '../../../sidecar/linalg/matrix';
import { prng } from '../../fixtures/checkpoints';

function random(rows: number, cols: number, rand: () => number): Matrix {
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => rand() * 2 - 1));
}

/** Well-conditioned triangular: random off-diagonal part, diagonal of magnitude about n. */
function triangular(n: number, lower: boolean, rand: () => number): Matrix {
  const t = random(n, n, rand);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) if (lower ? j > i : j < i) t.data[i * n + j] = 0;
    t.data[i * n + i] = (rand() < 0.5 ? -1 : 1) * (n + rand());
  }
  return t;
}

for (const side of ['left', 'right'] as const) {
  for (const lower of [true, false]) {
    for (const transpose of [false, true]) {
      for (const n of [13, 77]) test(`solveTriangular ${n}×${n} ${side}, ${lower ? 'lower' : 'upper'}${transpose ? ', transposed' : ''}: residual at rounding level`, async () => {
        const rand = prng(7);
        const t = triangular(n, lower, rand);
        for (const k of [1, 6, 7]) {
          const b = side === 'left' ? random(n, k, rand) : random(k, n, rand);
          const x = await portableLinalg().solveTriangular(t, b, { lower, side, transpose });
          const back = side === 'left' ? matmul(t, x, { transA: transpose }) : matmul(x, t, { transB: transpose });
          const r = frobenius(matrix(b.rows, b.cols, b.data.map((v, i) => v - back.data[i])));
          assert.ok(r <= 1e-13 * frobenius(t) * frobenius(x), `residual ${r} with ${k} right-hand sides`);
        }
      });
    }
  }
}
