// One panel of the blocked bidiagonalisation (LAPACK's labrd, then gebrd's trailing update): PANEL
// steps of the reduction that read the trailing matrix without updating it, keeping instead the
// n × PANEL matrix Y and the m × PANEL matrix X such that the updated matrix is A − V Yᵀ − X Uᵀ
// (V, U: the panel's left and right reflectors). Each step then passes over the trailing matrix
// twice (Aᵀv and A u) where the unblocked step passes four times, and the update the panel stands
// for becomes one matrix product (gemmStrided) at its end: half the reduction's flops as products.
// Layout as in bidiagonal.ts: A column-major (x, as rows of Aᵀ), right reflectors in rows of w.
import { gemmStrided } from './matrix';
import { reflector } from './reflector';
import { stripe, type StepSync } from './stripe';
import type { BidiagonalWork } from './bidiagonal';

/** Reflectors per panel. */
export const PANEL = 32;

/** The panels' arrays: Y and X column by column (PANEL × n and PANEL × m), the coefficients each step
 *  computes serially for the lanes, and the product's operands [−Y −U] (n × 2·PANEL) and [V X] (m × 2·PANEL). */
export interface PanelWork { py: Float64Array; px: Float64Array; coef: Float64Array; left: Float64Array; right: Float64Array }

export function panelWork(m: number, n: number, alloc: (length: number) => Float64Array): PanelWork {
  return { py: alloc(PANEL * n), px: alloc(PANEL * m), coef: alloc(4 * PANEL), left: alloc(2 * PANEL * n), right: alloc(2 * PANEL * m) };
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
      // Vᵀv and Xᵀv over rows k.., for the columns' corrections.
      for (let l = 0; l < s; l++) {
        const vl = (p + l) * m;
        const xl = l * m;
        let a = 0;
        let b = 0;
        for (let r = k; r < m; r++) {
          a += A[vl + r] * A[ck + r];
          b += px[xl + r] * A[ck + r];
        }
        coef[l] = a;
        coef[P + l] = b;
      }
    }
    sync?.phase();
    // Y(c, s) = τ_q (A(k:, c)ᵀ v − Y(c, ·) Vᵀv − U(·, c)ᵀ Xᵀv) for this lane's columns c > k.
    const [c0, c1] = stripe(k + 1, n, lane, lanes);
    columnDots(A, m, k, ck, c0, c1, py, s * n);
    for (let l = 0; l < s; l++) {
      const a = coef[l];
      const b = coef[P + l];
      for (let c = c0, yl = l * n, ul = (p + l) * n; c < c1; c++) py[s * n + c] -= py[yl + c] * a + w[ul + c] * b;
    }
    for (let c = c0; c < c1; c++) py[s * n + c] *= tauQ[k];
    // Row k of A − V Yᵀ − X Uᵀ on these columns, gathered into w's row k.
    const row = w.subarray(k * n, k * n + n);
    for (let c = c0; c < c1; c++) row[c] = A[c * m + k];
    for (let l = 0; l <= s; l++) {
      const a = l === s ? 1 : A[(p + l) * m + k];
      for (let c = c0, yl = l * n; c < c1; c++) row[c] -= py[yl + c] * a;
    }
    for (let l = 0; l < s; l++) {
      const xk = px[l * m + k];
      for (let c = c0, ul = (p + l) * n; c < c1; c++) row[c] -= w[ul + c] * xk;
    }
    sync?.join();
    if (lane === 0) {
      // Row k's reflector u.
      const r = reflector(row, k + 1, n);
      e[k] = r.beta;
      tauP[k] = r.tau;
      row[k + 1] = 1;
      // Yᵀu and Uᵀu over columns k+1.., for the rows' corrections.
      for (let l = 0; l <= s; l++) {
        let a = 0;
        for (let c = k + 1, yl = l * n; c < n; c++) a += py[yl + c] * row[c];
        coef[2 * P + l] = a;
      }
      for (let l = 0; l < s; l++) {
        let b = 0;
        for (let c = k + 1, ul = (p + l) * n; c < n; c++) b += w[ul + c] * row[c];
        coef[3 * P + l] = b;
      }
    }
    sync?.phase();
    // X(r, s) = τ_p (A(r, k+1:) u − V(r, ·) Yᵀu − X(r, ·) Uᵀu) for this lane's rows r > k.
    const [r0, r1] = stripe(k + 1, m, lane, lanes);
    const xs = s * m;
    px.fill(0, xs + r0, xs + r1);
    matVec(A, m, k + 1, n, row, px, xs, r0, r1);
    for (let l = 0; l <= s; l++) {
      const a = coef[2 * P + l];
      for (let r = r0, vl = (p + l) * m; r < r1; r++) px[xs + r] -= A[vl + r] * a;
    }
    for (let l = 0; l < s; l++) {
      const b = coef[3 * P + l];
      for (let r = r0, xl = l * m; r < r1; r++) px[xs + r] -= px[xl + r] * b;
    }
    for (let r = r0; r < r1; r++) px[xs + r] *= tauP[k];
    // Column k+1 of A − V Yᵀ − X Uᵀ on these rows, for the next step's reflector (the last step's
    // next column is the trailing update's).
    if (s + 1 < P) {
      const c = (k + 1) * m;
      for (let l = 0; l <= s; l++) {
        const yk = py[l * n + k + 1];
        const uk = w[(p + l) * n + k + 1];
        for (let r = r0, vl = (p + l) * m, xl = l * m; r < r1; r++) A[c + r] -= A[vl + r] * yk + px[xl + r] * uk;
      }
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

/** out[at + c] = A(k:, c)ᵀ A(k:, k) (column k at offset ck) for columns c0..c1−1, four at a time. */
function columnDots(A: Float64Array, m: number, k: number, ck: number, c0: number, c1: number, out: Float64Array, at: number): void {
  let c = c0;
  for (; c + 3 < c1; c += 4) {
    const o0 = c * m, o1 = o0 + m, o2 = o1 + m, o3 = o2 + m;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let r = k; r < m; r++) {
      const v = A[ck + r];
      s0 += A[o0 + r] * v;
      s1 += A[o1 + r] * v;
      s2 += A[o2 + r] * v;
      s3 += A[o3 + r] * v;
    }
    out[at + c] = s0;
    out[at + c + 1] = s1;
    out[at + c + 2] = s2;
    out[at + c + 3] = s3;
  }
  for (; c < c1; c++) {
    let s0 = 0;
    for (let r = k, o = c * m; r < m; r++) s0 += A[o + r] * A[ck + r];
    out[at + c] = s0;
  }
}

/** y[at + r] += Σ_c u[c] A(r, c) over columns c0..c1−1, for rows r0..r1−1 (columns four at a time). */
export function matVec(A: Float64Array, m: number, c0: number, c1: number, u: Float64Array, y: Float64Array, at: number, r0: number, r1: number): void {
  let c = c0;
  for (; c + 3 < c1; c += 4) {
    const u0 = u[c], u1 = u[c + 1], u2 = u[c + 2], u3 = u[c + 3];
    const o0 = c * m, o1 = o0 + m, o2 = o1 + m, o3 = o2 + m;
    for (let r = r0; r < r1; r++) y[at + r] += u0 * A[o0 + r] + u1 * A[o1 + r] + u2 * A[o2 + r] + u3 * A[o3 + r];
  }
  for (; c < c1; c++) {
    const u0 = u[c];
    for (let r = r0, o = c * m; r < r1; r++) y[at + r] += u0 * A[o + r];
  }
}
