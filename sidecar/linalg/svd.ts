// SVD in LAPACK's gesvd manner: Householder bidiagonalisation, implicit-shift QR on the bidiagonal,
// then the reflectors applied to the rotated bases. Backward stable (singular values to about
// ε·σ_max absolute), unlike the Gram-matrix route, which squares the condition number.
import { matrix, transposeData, type Matrix } from './matrix';
import { applyP, applyQ, bidiagonalize } from './bidiagonal';
import { bidiagonalQr } from './bidiagonal-qr';

export interface SvdParts { s: Float64Array; u?: Matrix; v?: Matrix }

export function svdPortable(a: Matrix, vectors: boolean, full: boolean): SvdParts {
  const { rows, cols } = a;
  const tall = rows >= cols;
  // Work on the tall one of A and Aᵀ, held as rows of its transpose (column-major).
  const m = Math.max(rows, cols);
  const n = Math.min(rows, cols);
  if (n === 0) return emptySvd(rows, cols, vectors, full);
  const xt = tall ? transposeData(a.data, rows, cols) : Float64Array.from(a.data);
  const bd = bidiagonalize(xt, m, n);
  const d = Float64Array.from(bd.d);
  const e = Float64Array.from(bd.e);
  if (!vectors) {
    bidiagonalQr(d, e);
    return { s: d.sort().reverse() };
  }
  const ub = identityData(n);
  const vb = identityData(n);
  bidiagonalQr(d, e, ub, vb);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y] - d[x]);
  const s = Float64Array.from(order, (i) => d[i]);
  // Left vectors of the tall matrix: rows of ut (length m), Ub's columns padded, then unit vectors
  // e_n..e_{m−1} when the full basis is wanted; Q maps all of them at once.
  const count = full ? m : n;
  const ut = new Float64Array(count * m);
  for (const [r, i] of order.entries()) ut.set(ub.subarray(i * n, i * n + n), r * m);
  for (let r = n; r < count; r++) ut[r * m + r] = 1;
  applyQ(bd, ut, count);
  const vt = new Float64Array(n * n);
  for (const [r, i] of order.entries()) vt.set(vb.subarray(i * n, i * n + n), r * n);
  applyP(bd, vt, n);
  // Columns are the rows just computed.
  const left = matrix(m, count, transposeData(ut, count, m));
  const right = matrix(n, n, transposeData(vt, n, n));
  return tall ? { s, u: left, v: right } : { s, u: right, v: left };
}

function identityData(n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) x[i * n + i] = 1;
  return x;
}

function emptySvd(rows: number, cols: number, vectors: boolean, full: boolean): SvdParts {
  const s = new Float64Array(0);
  if (!vectors) return { s };
  const eye = (k: number) => matrix(k, k, identityData(k));
  return { s, u: full ? eye(rows) : matrix(rows, 0), v: full ? eye(cols) : matrix(cols, 0) };
}
