// Blocked Householder QR of a tall matrix (LAPACK's geqrf, with larft/larfb's compact WY blocks):
// A = Q R with Q = H₀ H₁ … H_{n−1}. The SVD reduces a matrix much taller than wide this way first,
// as LAPACK's gesvd/gesdd do: the bidiagonalisation, whose half is matrix-vector work, then runs on
// the n × n R instead of the m × n A, and the QR's trailing updates are matrix products (gemmStrided),
// about twice as fast here as the reflector loops.
// Layout as in bidiagonal.ts: the matrix is held column-major, as the rows of its transpose. The
// reflectors stay where they were computed (R is copied out as each block is done), so Q costs no
// memory beyond the matrix itself.
import { gemmStrided, type Block } from './matrix';
import { reflectRows, reflector } from './bidiagonal';

/** Columns per block: the panel is factored by reflector loops, the rest of the matrix by products. */
const NB = 32;

/** One block of reflectors: Q_b = I − V T Vᵀ on coordinates k0..m−1. */
export interface ReflectorBlock {
  k0: number;
  nb: number;
  /** T, nb × nb upper triangular, row-major. */
  t: Float64Array;
}

export interface HouseholderQr {
  m: number;
  n: number;
  /** R (n × n, upper triangular), column-major: the layout bidiagonalize() takes. */
  rt: Float64Array;
  /** The factored matrix: row k holds reflector k, zero before k and 1 at k (the rows of Vᵀ). */
  x: Float64Array;
  blocks: ReflectorBlock[];
}

/** Applies a block to the trailing columns j0..j1−1 (updateColumns, or that split over lanes). */
export type TrailingUpdate = (block: ReflectorBlock, j0: number, j1: number) => void;

/** Factors the tall matrix whose columns are the rows of `xt` (n rows of length m, overwritten:
 *  it keeps the reflectors); R goes in an array from `alloc` (an SVD's lanes share it, lanes.ts). */
export function householderQr(
  xt: Float64Array,
  m: number,
  n: number,
  alloc: (length: number) => Float64Array = (length) => new Float64Array(length),
  trailing: TrailingUpdate = (block, j0, j1) => updateColumns(block, m, xt, j0, j1),
): HouseholderQr {
  if (m < n) throw new Error(`householderQr: ${m} × ${n} is not tall`);
  const blocks: ReflectorBlock[] = [];
  const rt = alloc(n * n);
  const tau = new Float64Array(NB);
  for (let k0 = 0; k0 < n; k0 += NB) {
    const nb = Math.min(NB, n - k0);
    // Panel: reflectors one column at a time, applied to the panel's later columns only.
    for (let i = 0; i < nb; i++) {
      const k = k0 + i;
      tau[i] = reflector(xt, k * m + k, (k + 1) * m).tau;
      if (tau[i] !== 0) reflectRows(xt, k * m, xt, m, k, k + 1, k0 + nb, tau[i]);
    }
    // The panel's columns of R are final: copy them out, and leave V's rows in their place.
    for (let k = k0; k < k0 + nb; k++) {
      rt.set(xt.subarray(k * m, k * m + k + 1), k * n);
      xt.fill(0, k * m + k0, k * m + k);
      xt[k * m + k] = 1;
    }
    const block = { k0, nb, t: triangle(xt, m, k0, nb, tau) };
    blocks.push(block);
    // Trailing columns: C ← Q_bᵀ C = C − V Tᵀ (Vᵀ C).
    if (k0 + nb < n) trailing(block, k0 + nb, n);
  }
  return { m, n, rt, x: xt, blocks };
}

/** The rows of Vᵀ of the block at k0, inside the factored matrix. */
const vRows = (x: Float64Array, m: number, k0: number): Block => ({ data: x, at: k0 * m + k0, ld: m });

/** T of the panel's reflectors (larft, forward and columnwise):
 *  T[0:i, i] = −τ_i T[0:i, 0:i] (V[:, 0:i]ᵀ v_i), T[i, i] = τ_i. */
function triangle(x: Float64Array, m: number, k0: number, nb: number, tau: Float64Array): Float64Array {
  const t = new Float64Array(nb * nb);
  const z = new Float64Array(nb);
  for (let i = 0; i < nb; i++) {
    t[i * nb + i] = tau[i];
    if (tau[i] === 0) continue;
    // z_j = v_jᵀ v_i for j < i (v_i is zero before coordinate k0 + i).
    const vi = (k0 + i) * m;
    for (let j = 0; j < i; j++) {
      const vj = (k0 + j) * m;
      let s = 0;
      for (let q = k0 + i; q < m; q++) s += x[vj + q] * x[vi + q];
      z[j] = s;
    }
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let l = j; l < i; l++) s += t[j * nb + l] * z[l];
      t[j * nb + i] = -tau[i] * s;
    }
  }
  return t;
}

/**
 * C ← Q_b C (or Q_bᵀ C with `transpose`) for the `count` vectors held as rows of `ct` (length m)
 * from offset `at`: W = Vᵀ C, W ← T W (or Tᵀ W), C −= V W, on coordinates k0..m−1.
 */
function applyBlock(b: ReflectorBlock, x: Float64Array, m: number, ct: Float64Array, at: number, count: number, transpose: boolean): void {
  const { k0, nb, t } = b;
  const mp = m - k0;
  // Wᵀ (count × nb): Wᵀ[c][i] = Σ_q C[c][q] V[q][i]; rows of ct against rows of Vᵀ.
  const wt = new Float64Array(count * nb);
  gemmStrided({ data: ct, at: at + k0, ld: m }, vRows(x, m, k0), count, mp, nb, { data: wt, at: 0, ld: nb });
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
  // C += (−W)ᵀ Vᵀ: rows of Wᵀ against rows of V (V itself, transposed out of x for the product).
  const v = new Float64Array(mp * nb);
  for (let i = 0; i < nb; i++) for (let q = i, src = (k0 + i) * m + k0; q < mp; q++) v[q * nb + i] = x[src + q];
  gemmStrided({ data: wt, at: 0, ld: nb }, { data: v, at: 0, ld: nb }, count, nb, mp, { data: ct, at: at + k0, ld: m });
}

/** Columns j0..j1−1 of the matrix being factored (rows of xt) ← Q_bᵀ times them. Columns are
 *  independent (and their arithmetic does not depend on the range), so threads take ranges. */
export function updateColumns(block: ReflectorBlock, m: number, xt: Float64Array, j0: number, j1: number): void {
  if (j1 > j0) applyBlock(block, xt, m, xt, j0 * m, j1 - j0, true);
}

/** Replaces rows r0..r1−1 of `ut` (vectors of length m) by Q times each, last block first. Rows
 *  are independent (and their arithmetic does not depend on the range), so threads take ranges. */
export function applyQ(qr: HouseholderQr, ut: Float64Array, r0: number, r1: number): void {
  if (r1 <= r0) return;
  for (let b = qr.blocks.length - 1; b >= 0; b--) applyBlock(qr.blocks[b], qr.x, qr.m, ut, r0 * qr.m, r1 - r0, false);
}
