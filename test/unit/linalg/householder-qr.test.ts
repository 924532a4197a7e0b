// The blocked Householder QR the SVD reduces tall matrices with (sidecar/linalg/householder-qr.ts):
// Q R = A, Q orthogonal, R upper triangular, across block boundaries and with a zero column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { householderQr } from '../../../sidecar/linalg/householder-qr';
import { applyBlocks } from '../../../sidecar/linalg/compact-wy';
import { transposeData } from '../../../sidecar/linalg/matrix';
import { uniform } from '../../helpers/lcg';

function random(m: number, n: number, seed: number): Float64Array {
  return uniform(m * n, seed);
}

// n = 1, one block less one, one block, one block and one, three blocks and a part (blocks of 32).
for (const [m, n] of [[7, 1], [40, 31], [32, 32], [90, 33], [300, 100]] as const) {
  test(`householderQr ${m}×${n}: Q R reproduces A, Q is orthogonal, R is upper triangular`, () => {
    const a = random(m, n, m * 31 + n);
    if (n > 3) for (let i = 0; i < m; i++) a[i * n + 2] = 0; // a zero column: τ = 0 in the middle of a block
    const qr = householderQr(transposeData(a, m, n), m, n);
    // Q [R; 0]: R's columns padded to length m, as rows.
    const ut = new Float64Array(n * m);
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
      if (i > j) assert.equal(qr.rt[j * n + i], 0, `R[${i}][${j}] below the diagonal`);
      ut[j * m + i] = qr.rt[j * n + i];
    }
    applyBlocks({ blocks: qr.blocks, ct: ut, len: m, r0: 0, r1: n });
    let err = 0;
    for (let j = 0; j < n; j++) for (let i = 0; i < m; i++) err = Math.max(err, Math.abs(ut[j * m + i] - a[i * n + j]));
    assert.ok(err <= 1e-13, `‖QR − A‖_max ${err}`);
    // Q itself, from the identity's rows (its blocks on rows 3.. of them, then on 0..2: ranges are independent).
    const q = new Float64Array(m * m);
    for (let i = 0; i < m; i++) q[i * m + i] = 1;
    applyBlocks({ blocks: qr.blocks, ct: q, len: m, r0: Math.min(3, m), r1: m });
    applyBlocks({ blocks: qr.blocks, ct: q, len: m, r0: 0, r1: Math.min(3, m) });
    let orth = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < m; t++) s += q[i * m + t] * q[j * m + t];
      orth = Math.max(orth, Math.abs(s - (i === j ? 1 : 0)));
    }
    assert.ok(orth <= 1e-13, `‖QᵀQ − I‖_max ${orth}`);
  });
}

test('householderQr refuses a wide matrix', () => {
  assert.throws(() => householderQr(new Float64Array(6), 2, 3), /not tall/);
});
