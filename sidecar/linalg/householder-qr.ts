// Blocked Householder QR of a tall matrix (LAPACK's geqrf, with larft/larfb's compact WY blocks):
// A = Q R with Q = H₀ H₁ … H_{n−1}. The SVD reduces a matrix much taller than wide this way first,
// as LAPACK's gesvd/gesdd do: the bidiagonalisation, whose half is matrix-vector work, then runs on
// the n × n R instead of the m × n A, and the QR's trailing updates are matrix products
// (compact-wy.ts, gemmStrided), much faster here than the reflector loops.
// Layout as in bidiagonal.ts: the matrix is held column-major, as the rows of its transpose. The
// reflectors stay where they were computed (R is copied out as each block is done), so Q costs no
// memory beyond the matrix itself.
import { reflectRows, reflector } from './reflector';
import { applyBlock, reflectorBlock, type ReflectorBlock } from './compact-wy';

/** Columns per block: the panel is factored by reflector loops, the rest of the matrix by products. */
const NB = 32;

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
 *  it keeps the reflectors); R goes in `rt`, zero below its diagonal (the SVD passes the
 *  bidiagonalisation's matrix, bidiagonal.ts). */
export function householderQr(
  xt: Float64Array,
  m: number,
  n: number,
  rt: Float64Array = new Float64Array(n * n),
  trailing: TrailingUpdate = (block, j0, j1) => updateColumns(block, m, xt, j0, j1),
): HouseholderQr {
  if (m < n) throw new Error(`householderQr: ${m} × ${n} is not tall`);
  if (rt.length !== n * n) throw new Error(`householderQr: R's array holds ${rt.length}, not ${n} × ${n}`);
  const blocks: ReflectorBlock[] = [];
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
    const block = reflectorBlock({ data: xt, at: k0 * m + k0, ld: m }, k0, m - k0, nb, tau);
    blocks.push(block);
    // Trailing columns: C ← Q_bᵀ C = C − V Tᵀ (Vᵀ C).
    if (k0 + nb < n) trailing(block, k0 + nb, n);
  }
  return { m, n, rt, x: xt, blocks };
}

/** Columns j0..j1−1 of the matrix being factored (rows of xt) ← Q_bᵀ times them. Columns are
 *  independent (and their arithmetic does not depend on the range), so threads take ranges. */
export function updateColumns(block: ReflectorBlock, m: number, xt: Float64Array, j0: number, j1: number): void {
  applyBlock(block, { data: xt, at: j0 * m, ld: m }, j1 - j0, true);
}
