// The bidiagonalisation (sidecar/linalg/bidiagonal.ts, blocked panels in bidiagonal-panel.ts):
// Qᵀ A P is the bidiagonal d, e, and Q, P (as compact WY blocks) are orthogonal, on sizes with and
// without panels and on matrices whose reflectors vanish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bidiagonalize, pBlocks, qBlocks } from '../../../sidecar/linalg/bidiagonal';
import { PANEL } from '../../../sidecar/linalg/bidiagonal-panel';
import { applyBlocks } from '../../../sidecar/linalg/compact-wy';
import { uniform } from '../../helpers/lcg';

function random(m: number, n: number, seed: number): Float64Array {
  return uniform(m * n, seed);
}

/** The identity's rows mapped by the blocks: row i is (Q e_i)ᵀ, i.e. Qᵀ row-major. */
function basis(blocks: ReturnType<typeof qBlocks>, len: number): Float64Array {
  const q = new Float64Array(len * len);
  for (let i = 0; i < len; i++) q[i * len + i] = 1;
  applyBlocks({ blocks, ct: q, len, r0: 0, r1: len });
  return q;
}

function check(name: string, m: number, n: number, a: Float64Array /* column-major, as rows of Aᵀ */) {
  test(`bidiagonalize ${name} ${m}×${n}: Qᵀ A P is bidiagonal with d and e, Q and P orthogonal`, () => {
    const bd = bidiagonalize(Float64Array.from(a), m, n);
    const qt = basis(qBlocks(bd), m); // row i: (Q e_i)ᵀ = column i of Q
    const pt = basis(pBlocks(bd), n);
    let scale = 0;
    for (const v of a) scale = Math.max(scale, Math.abs(v));
    let err = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      // (Qᵀ A P)[i][j] = q_iᵀ A p_j
      let s = 0;
      for (let c = 0; c < n; c++) {
        const pc = pt[j * n + c];
        if (pc === 0) continue;
        let t = 0;
        for (let r = 0; r < m; r++) t += qt[i * m + r] * a[c * m + r];
        s += t * pc;
      }
      const want = i === j ? bd.d[i] : j === i + 1 ? bd.e[i] : 0;
      err = Math.max(err, Math.abs(s - want));
    }
    assert.ok(err <= 1e-12 * Math.max(scale, 1) * m, `‖QᵀAP − B‖_max ${err}`);
    for (const [q, len] of [[qt, m], [pt, n]] as const) {
      let orth = 0;
      for (let i = 0; i < len; i++) for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let t = 0; t < len; t++) s += q[i * len + t] * q[j * len + t];
        orth = Math.max(orth, Math.abs(s - (i === j ? 1 : 0)));
      }
      assert.ok(orth <= 1e-13, `orthogonality ${orth}`);
    }
  });
}

// Unblocked only; one panel then the unblocked tail; several panels, tall.
check('random', 90, 60, random(90, 60, 1));
check('random', 170, 161, random(170, 161, 2));
check('random', 300, 5 * PANEL + 7, random(300, 5 * PANEL + 7, 3));
// Rank 3 (most reflectors vanish once the rank is spent) and a zero column inside the first panel.
{
  const [m, n] = [220, 200];
  const x = random(m, 3, 4), y = random(n, 3, 5);
  const a = new Float64Array(m * n);
  for (let c = 0; c < n; c++) for (let r = 0; r < m; r++) for (let t = 0; t < 3; t++) a[c * m + r] += x[r * 3 + t] * y[c * 3 + t];
  check('rank 3', m, n, a);
  const z = random(m, n, 6);
  z.fill(0, 10 * m, 11 * m);
  check('zero column', m, n, z);
}
