// Divide and conquer on bidiagonal matrices (sidecar/linalg/bidiagonal-dc.ts), against the
// implicit QR's values and by its own residuals, on the cases its deflation exists for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bidiagonalDc, DC_LEAF } from '../../../sidecar/linalg/bidiagonal-dc';
import { bidiagonalQr } from '../../../sidecar/linalg/bidiagonal-qr';
import { uniform } from '../../helpers/lcg';

function random(n: number, seed: number): Float64Array {
  return uniform(n, seed, -1, 2);
}

const cases: [string, Float64Array, Float64Array][] = [
  ['random, one merge', random(DC_LEAF + 1, 1), random(DC_LEAF + 1, 2)],
  ['random, three levels', random(300, 3), random(300, 4)],
  ['zeros on the diagonal', random(200, 5).map((x, i) => (i % 3 ? x : 0)), random(200, 6)],
  ['zeros above it (split problems)', random(200, 7), random(200, 8).map((x, i) => (i % 5 ? x : 0))],
  ['a repeated value (deflation by rotation)', new Float64Array(200).fill(1), new Float64Array(200).fill(1e-3)],
  ['graded over six decades', Float64Array.from({ length: 200 }, (_, i) => 10 ** ((-6 * i) / 200)), Float64Array.from({ length: 200 }, (_, i) => 0.5 * 10 ** ((-6 * i) / 200))],
  // Roots squeezed between poles a relative 1e-9 apart: the secular equation's hardest brackets.
  ['clustered (relative gaps of 1e-9)', Float64Array.from({ length: 200 }, (_, i) => 1 + (i % 50) * 1e-9 + Math.floor(i / 50)), random(200, 11).map((x) => 1e-6 * x)],
  ['rank-deficient (values at the noise floor)', random(200, 9).map((x, i) => (i < 100 ? x : x * 1e-14)), random(200, 10).map((x, i) => (i < 100 ? x : x * 1e-14))],
];

for (const [name, d, e] of cases) {
  test(`bidiagonalDc ${name} (n = ${d.length}): B = U diag(s) Vᵀ, U and V orthogonal, values as the QR's`, () => {
    const n = d.length;
    const { s, ub, vb } = bidiagonalDc(d, e, true);
    let norm = 0;
    for (let i = 0; i < n; i++) norm += d[i] * d[i] + (i < n - 1 ? e[i] * e[i] : 0);
    let err = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let v = 0;
      for (let k = 0; k < n; k++) v += ub![k * n + i] * s[k] * vb[k * n + j];
      err += (v - (i === j ? d[i] : j === i + 1 ? e[i] : 0)) ** 2;
    }
    assert.ok(Math.sqrt(err / norm) <= 1e-13, `reconstruction ${Math.sqrt(err / norm)}`);
    for (const [label, q] of [['U', ub!], ['V', vb]] as const) {
      let worst = 0;
      for (let a = 0; a < n; a++) for (let b = a; b < n; b++) {
        let dot = 0;
        for (let t = 0; t < n; t++) dot += q[a * n + t] * q[b * n + t];
        worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
      }
      assert.ok(worst <= 1e-13, `${label} orthogonality ${worst}`);
    }
    const qr = Float64Array.from(d);
    const eq = new Float64Array(n);
    eq.set(e.subarray(0, n - 1));
    bidiagonalQr(qr, eq);
    const mine = Array.from(s).sort((x, y) => y - x);
    const theirs = Array.from(qr).sort((x, y) => y - x);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(mine[i] - theirs[i]) <= 1e-13 * theirs[0], `σ${i}: ${mine[i]} vs ${theirs[i]}`);
    assert.ok(mine.every((x) => x >= 0), 'non-negative');
    // Without U: the same values and V, bit for bit.
    const right = bidiagonalDc(d, e, false);
    assert.equal(right.ub, undefined);
    assert.ok(right.s.every((x, i) => Object.is(x, s[i])) && right.vb.every((x, i) => Object.is(x, vb[i])), 'V-only run differs');
  });
}
