// Blocked Householder QR of a tall matrix (LAPACK's geqrf, with larft/larfb's compact WY blocks):
// A = Q R with Q = H₀ H₁ … H_{n−1}. The SVD reduces a matrix much taller than wide this way first,
// as LAPACK's gesvd/gesdd do: the bidiagonalisation, whose half is matrix-vector work, then runs on
// the n × n R instead of the m × n A, and the QR's trailing updates are matrix products (gemmStrided),
// about twice as fast here as the reflector loops.
// Layout as in bidiagonal.ts: the matrix is held column-major, as the rows of its transpose.
import { gemmStrided } from './matrix';
import { reflectRows, reflector } from './bidiagonal';

/** Columns per block: the panel is factored by reflector loops, the rest of the matrix by products. */
const NB = 32;

/** One block of reflectors: Q_b = I − V T Vᵀ on coordinates k0..m−1. */
export interface ReflectorBlock {
  k0: number;
  nb: number;
  /** Vᵀ, nb × (m − k0) row-major: row i is reflector k0 + i, zero before i and 1 at i. */
  vt: Float64Array;
  /** V, (m − k0) × nb row-major (the same numbers, for the update's second product). */
  v: Float64Array;
  /** T, nb × nb upper triangular, row-major. */
  t: Float64Array;
}

export interface HouseholderQr {
  m: number;
  n: number;
  /** R (n × n, upper triangular), column-major: the layout bidiagonalize() takes. */
  rt: Float64Array;
  blocks: ReflectorBlock[];
}

/** Applies a block to the trailing columns j0..j1−1 (updateColumns, or that split over lanes). */
export type TrailingUpdate = (block: ReflectorBlock, j0: number, j1: number) => void;

/** Factors the tall matrix whose columns are the rows of `xt` (n rows of length m, overwritten);
 *  R and the blocks' V go in arrays from `alloc` (an SVD's lanes share them, lanes.ts). */
export function householderQr(
  xt: Float64Array,
  m: number,
  n: number,
  alloc: (length: number) => Float64Array = (length) => new Float64Array(length),
  trailing: TrailingUpdate = (block, j0, j1) => updateColumns(block, m, xt, j0, j1),
): HouseholderQr {
  if (m < n) throw new Error(`householderQr: ${m} × ${n} is not tall`);
  const blocks: ReflectorBlock[] = [];
  const tau = new Float64Array(NB);
  const diag = new Float64Array(n);
  for (let k0 = 0; k0 < n; k0 += NB) {
    const nb = Math.min(NB, n - k0);
    // Panel: reflectors one column at a time, applied to the panel's later columns only.
    for (let i = 0; i < nb; i++) {
      const k = k0 + i;
      const r = reflector(xt, k * m + k, (k + 1) * m);
      diag[k] = r.beta;
      tau[i] = r.tau;
      if (r.tau !== 0) reflectRows(xt, k * m, xt, m, k, k + 1, k0 + nb, r.tau);
    }
    const block = reflectorBlock(xt, m, k0, nb, tau, alloc);
    blocks.push(block);
    // Trailing columns: C ← Q_bᵀ C = C − V Tᵀ (Vᵀ C).
    if (k0 + nb < n) trailing(block, k0 + nb, n);
  }
  const rt = alloc(n * n);
  for (let j = 0; j < n; j++) {
    rt.set(xt.subarray(j * m, j * m + j), j * n);
    rt[j * n + j] = diag[j];
  }
  return { m, n, rt, blocks };
}

/** V and T of the panel's reflectors (larft, forward and columnwise):
 *  T[0:i, i] = −τ_i T[0:i, 0:i] (V[:, 0:i]ᵀ v_i), T[i, i] = τ_i. */
function reflectorBlock(xt: Float64Array, m: number, k0: number, nb: number, tau: Float64Array, alloc: (length: number) => Float64Array): ReflectorBlock {
  const mp = m - k0;
  const vt = alloc(nb * mp);
  for (let i = 0; i < nb; i++) {
    const row = i * mp;
    vt[row + i] = 1;
    vt.set(xt.subarray((k0 + i) * m + k0 + i + 1, (k0 + i + 1) * m), row + i + 1);
  }
  const t = new Float64Array(nb * nb);
  const z = new Float64Array(nb);
  for (let i = 0; i < nb; i++) {
    t[i * nb + i] = tau[i];
    if (tau[i] === 0) continue;
    // z_j = v_jᵀ v_i for j < i (v_i is zero before coordinate i).
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let q = i; q < mp; q++) s += vt[j * mp + q] * vt[i * mp + q];
      z[j] = s;
    }
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let l = j; l < i; l++) s += t[j * nb + l] * z[l];
      t[j * nb + i] = -tau[i] * s;
    }
  }
  const v = alloc(mp * nb);
  for (let i = 0; i < nb; i++) for (let q = i; q < mp; q++) v[q * nb + i] = vt[i * mp + q];
  return { k0, nb, vt, v, t };
}

/**
 * C ← Q_b C (or Q_bᵀ C with `transpose`) for the `count` vectors held as rows of `ct` (length m)
 * from offset `at`: W = Vᵀ C, W ← T W (or Tᵀ W), C −= V W, on coordinates k0..m−1.
 */
function applyBlock(b: ReflectorBlock, m: number, ct: Float64Array, at: number, count: number, transpose: boolean): void {
  const { k0, nb, vt, v, t } = b;
  const mp = m - k0;
  // Wᵀ (count × nb): Wᵀ[c][i] = Σ_q C[c][q] V[q][i]; rows of ct against rows of Vᵀ.
  const wt = new Float64Array(count * nb);
  gemmStrided({ data: ct, at: at + k0, ld: m }, { data: vt, at: 0, ld: mp }, count, mp, nb, { data: wt, at: 0, ld: nb });
  // Wᵀ ← −Wᵀ Tᵀ (or −Wᵀ T): each row of Wᵀ times the small triangle, negated for the update.
  const row = new Float64Array(nb);
  for (let c = 0; c < count; c++) {
    const o = c * nb;
    for (let i = 0; i < nb; i++) {
      let s = 0;
      if (transpose) for (let l = 0; l <= i; l++) s += t[l * nb + i] * wt[o + l];
      else for (let l = i; l < nb; l++) s += t[i * nb + l] * wt[o + l];
      row[i] = -s;
    }
    wt.set(row, o);
  }
  // C += (−W)ᵀ Vᵀ: rows of Wᵀ against rows of V.
  gemmStrided({ data: wt, at: 0, ld: nb }, { data: v, at: 0, ld: nb }, count, nb, mp, { data: ct, at: at + k0, ld: m });
}

/** Columns j0..j1−1 of the matrix being factored (rows of xt) ← Q_bᵀ times them. Columns are
 *  independent (and their arithmetic does not depend on the range), so threads take ranges. */
export function updateColumns(block: ReflectorBlock, m: number, xt: Float64Array, j0: number, j1: number): void {
  if (j1 > j0) applyBlock(block, m, xt, j0 * m, j1 - j0, true);
}

/** Replaces rows r0..r1−1 of `ut` (vectors of length m) by Q times each, last block first. Rows
 *  are independent (and their arithmetic does not depend on the range), so threads take ranges. */
export function applyQ(qr: HouseholderQr, ut: Float64Array, r0: number, r1: number): void {
  if (r1 <= r0) return;
  for (let b = qr.blocks.length - 1; b >= 0; b--) applyBlock(qr.blocks[b], qr.m, ut, r0 * qr.m, r1 - r0, false);
}
