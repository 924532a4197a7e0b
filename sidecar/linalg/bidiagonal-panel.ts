// One panel of the blocked bidiagonalisation (LAPACK's labrd, then gebrd's trailing update): PANEL
// steps of the reduction that read the trailing matrix without updating it, keeping instead the
// n × PANEL matrix Y and the m × PANEL matrix X such that the updated matrix is A − V Yᵀ − X Uᵀ
// (V, U: the panel's left and right reflectors). Each step then passes over the trailing matrix
// twice (Aᵀv and A u) where the unblocked step passes four times, and the update the panel stands
// for becomes one matrix product (gemmStrided) at its end: half the reduction's flops as products.
// Layout as in bidiagonal.ts: A column-major (x, as rows of Aᵀ), right reflectors in rows of w. The
// passes over the trailing matrix, and the corrections' dot products and sums (LAPACK's gemv calls
// on the panel's V, U, X and Y), run as WebAssembly SIMD kernels (gemv-kernel.ts) on the
// reduction's memory: the sums as scalar JavaScript loops were a tenth of an SVD at 256² to 1024².
import { gemmStrided } from './matrix';
import { gemvKernel } from './gemv-kernel';
import { reflector } from './reflector';
import { stripe, type StepSync } from './stripe';
import type { BidiagonalWork } from './bidiagonal';

/** Reflectors per panel. */
export const PANEL = 32;

/** The panels' arrays: Y and X column by column (PANEL × n and PANEL × m), the coefficients each step
 *  computes serially for the lanes (four vectors of dot products, then four vectors of negated
 *  weights for the kernels' corrections), and the product's operands [−Y −U] (n × 2·PANEL) and
 *  [V X] (m × 2·PANEL). */
export interface PanelWork { py: Float64Array; px: Float64Array; coef: Float64Array; left: Float64Array; right: Float64Array }

/** The lengths of PanelWork's arrays, in its order. */
export const panelLengths = (m: number, n: number): number[] => [PANEL * n, PANEL * m, 8 * PANEL, 2 * PANEL * n, 2 * PANEL * m];

export function panelWork(m: number, n: number, alloc: (length: number) => Float64Array): PanelWork {
  const [py, px, coef, left, right] = panelLengths(m, n).map(alloc);
  return { py, px, coef, left, right };
}

/**
 * Reduces columns and rows p..p+PANEL−1, then updates the trailing matrix (rows and columns from
 * p+PANEL). Lane 0 computes the reflectors and the coefficients between; each lane computes Y and
 * the next row for a stripe of columns, X and the next column for a stripe of rows, and the
 * trailing product for a stripe of columns. No element's arithmetic depends on the stripes.
 */
export function reducePanel(work: BidiagonalWork, panel: PanelWork, p: number, sync?: StepSync): void {
  const { m, n, x: A, d, e, tauQ, tauP, w } = work;
  const { py, px, coef } = panel;
  const gemv = gemvKernel(work.memory);
  const lane = sync?.lane ?? 0;
  const lanes = sync?.lanes ?? 1;
  const P = PANEL;
  for (let s = 0; s < P; s++) {
    const k = p + s;
    const ck = k * m;
    if (lane === 0) {
      // Column k, already A − V Yᵀ − X Uᵀ (the lanes updated it last step): its reflector v (kept
      // in place, with its unit).
      const { beta, tau } = reflector(A, ck + k, ck + m);
      d[k] = beta;
      tauQ[k] = tau;
      A[ck + k] = 1;
      // Vᵀv and Xᵀv over rows k.., for the columns' corrections, negated for the kernel's sums;
      // and row k of V and of X (v's unit last), negated, for the row's.
      gemv.dots(A, p * m + k, m, m - k, s, A, ck + k, coef, 0);
      gemv.dots(px, k, m, m - k, s, A, ck + k, coef, P);
      for (let l = 0; l < s; l++) {
        coef[4 * P + l] = -coef[l];
        coef[5 * P + l] = -coef[P + l];
        coef[6 * P + l] = -A[(p + l) * m + k];
        coef[7 * P + l] = -px[l * m + k];
      }
      coef[6 * P + s] = -1;
    }
    sync?.phase();
    // Y(c, s) = τ_q (A(k:, c)ᵀ v − Y(c, ·) Vᵀv − U(·, c)ᵀ Xᵀv) for this lane's columns c > k.
    const [c0, c1] = stripe(k + 1, n, lane, lanes);
    const ys = s * n;
    gemv.dots(A, c0 * m + k, m, m - k, c1 - c0, A, ck + k, py, ys + c0);
    gemv.matvec(py, c0, n, c1 - c0, s, coef, 4 * P, py, ys + c0);
    gemv.matvec(w, p * n + c0, n, c1 - c0, s, coef, 5 * P, py, ys + c0);
    for (let c = c0; c < c1; c++) py[ys + c] *= tauQ[k];
    // Row k of A − V Yᵀ − X Uᵀ on these columns, gathered into w's row k.
    for (let c = c0; c < c1; c++) w[k * n + c] = A[c * m + k];
    gemv.matvec(py, c0, n, c1 - c0, s + 1, coef, 6 * P, w, k * n + c0);
    gemv.matvec(w, p * n + c0, n, c1 - c0, s, coef, 7 * P, w, k * n + c0);
    sync?.join();
    if (lane === 0) {
      // Row k's reflector u.
      const r = reflector(w.subarray(k * n, k * n + n), k + 1, n);
      e[k] = r.beta;
      tauP[k] = r.tau;
      w[k * n + k + 1] = 1;
      // Yᵀu and Uᵀu over columns k+1.., for the rows' corrections, negated for the kernel's sums;
      // and column k+1 of Y and of U (u's unit last), negated, for the next column's.
      gemv.dots(py, k + 1, n, n - k - 1, s + 1, w, k * n + k + 1, coef, 2 * P);
      gemv.dots(w, p * n + k + 1, n, n - k - 1, s, w, k * n + k + 1, coef, 3 * P);
      for (let l = 0; l <= s; l++) {
        coef[4 * P + l] = -coef[2 * P + l];
        coef[5 * P + l] = -coef[3 * P + l];
        coef[6 * P + l] = -py[l * n + k + 1];
        coef[7 * P + l] = -w[(p + l) * n + k + 1];
      }
    }
    sync?.phase();
    // X(r, s) = τ_p (A(r, k+1:) u − V(r, ·) Yᵀu − X(r, ·) Uᵀu) for this lane's rows r > k.
    const [r0, r1] = stripe(k + 1, m, lane, lanes);
    const xs = s * m;
    px.fill(0, xs + r0, xs + r1);
    gemv.matvec(A, (k + 1) * m + r0, m, r1 - r0, n - k - 1, w, k * n + k + 1, px, xs + r0);
    gemv.matvec(A, p * m + r0, m, r1 - r0, s + 1, coef, 4 * P, px, xs + r0);
    gemv.matvec(px, r0, m, r1 - r0, s, coef, 5 * P, px, xs + r0);
    for (let r = r0; r < r1; r++) px[xs + r] *= tauP[k];
    // Column k+1 of A − V Yᵀ − X Uᵀ on these rows, for the next step's reflector (the last step's
    // next column is the trailing update's).
    if (s + 1 < P) {
      gemv.matvec(A, p * m + r0, m, r1 - r0, s + 1, coef, 6 * P, A, (k + 1) * m + r0);
      gemv.matvec(px, r0, m, r1 - r0, s + 1, coef, 7 * P, A, (k + 1) * m + r0);
    }
    sync?.join();
  }
  trailingUpdate(work, panel, p, sync);
}

/** A(q:, q:) −= V Yᵀ + X Uᵀ, q = p + PANEL: Aᵀ's rows c (this lane's) += [−Y −U](c) · [V X]ᵀ. */
function trailingUpdate(work: BidiagonalWork, panel: PanelWork, p: number, sync?: StepSync): void {
  const { m, n, x: A, w } = work;
  const { py, px, left, right } = panel;
  const P = PANEL;
  const q = p + P;
  const ld = 2 * P;
  if ((sync?.lane ?? 0) === 0) {
    for (let r = q; r < m; r++) {
      for (let l = 0; l < P; l++) {
        right[r * ld + l] = A[(p + l) * m + r];
        right[r * ld + P + l] = px[l * m + r];
      }
    }
  }
  sync?.phase();
  const [c0, c1] = stripe(q, n, sync?.lane ?? 0, sync?.lanes ?? 1);
  for (let c = c0; c < c1; c++) {
    for (let l = 0; l < P; l++) {
      left[c * ld + l] = -py[l * n + c];
      left[c * ld + P + l] = -w[(p + l) * n + c];
    }
  }
  gemmStrided({ data: left, at: c0 * ld, ld }, { data: right, at: q * ld, ld }, c1 - c0, ld, m - q, { data: A, at: c0 * m + q, ld: m });
  sync?.join();
}
