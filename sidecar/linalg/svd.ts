// SVD in LAPACK's manner: Householder bidiagonalisation; then the bidiagonal's singular values by
// implicit-shift QR (values only) or its vectors by divide and conquer (bidiagonal-dc.ts, as gesdd);
// then the reflectors applied to those bases. Backward stable (singular values to about ε·σ_max
// absolute), unlike the Gram-matrix route, which squares the condition number.
// With `top` = k (the truncating methods), only the k leading pairs are returned, and the long side's
// vectors come from the short side's as u_i = A v_i / σ_i: only the bidiagonal's right basis is
// formed, and the reflectors of the long side are never applied. That is exact in exact arithmetic;
// in float64 it adds about ε·σ_1/σ_k to U's error and orthogonality, so it is used only while
// σ_k ≥ TOP_MIN_RATIO · σ_1 (otherwise both bases are formed as usual).
// A matrix at least QR_FIRST times taller than wide is first reduced to its n × n R by a blocked
// Householder QR (householder-qr.ts), as LAPACK's gesvd does past the same crossover: the
// bidiagonalisation then works on R, and Q maps R's left vectors back.
import { identity, leadingColumns, matmul, matrix, transposeData, type Matrix } from './matrix';
import { bidiagonalWork, pBlocks, qBlocks, type Bidiagonal } from './bidiagonal';
import { lanesFor, type Lanes } from './lanes';
import { bidiagonalQr } from './bidiagonal-qr';
import { bidiagonalDc } from './bidiagonal-dc';
import type { HouseholderQr } from './householder-qr';

export interface SvdParts { s: Float64Array; u?: Matrix; v?: Matrix }

/** σ_k / σ_1 below which the leading-k path forms both bases (U's orthogonality error ≲ 1e-12). */
export const TOP_MIN_RATIO = 1e-4;
/** Aspect ratio m / n from which the SVD factors A = Q R first (one threshold for every path, so
 *  that values alone, leading pairs and both bases give the same singular values bit for bit). */
export const QR_FIRST = 1.6;

/** A's SVD: every singular value, descending; with vectors, thin (or full) U and V, or with `top`
 *  = k only their k leading columns. `threads` > 1 lets a large one split its stages (lanes.ts). */
export function svdPortable(a: Matrix, vectors: boolean, full: boolean, top?: number, threads = 1): SvdParts {
  const { rows, cols } = a;
  const tall = rows >= cols;
  // Work on the tall one of A and Aᵀ, held as rows of its transpose (column-major).
  const m = Math.max(rows, cols);
  const n = Math.min(rows, cols);
  if (top !== undefined && (full || !Number.isInteger(top) || top < 1 || top > n)) throw new Error(`svd: top ${top} outside 1..${n} (or with full)`);
  if (n === 0) return emptySvd(rows, cols, vectors, full);
  const lanes = lanesFor(n, threads);
  try {
    // The bidiagonalisation's matrix is A, or the QR's R, put straight into its work arrays, which
    // are dead once this returns (every result is a copy), so they take the thread's reusable memory.
    const qrFirst = m >= QR_FIRST * n;
    const work = bidiagonalWork(qrFirst ? n : m, n, true);
    const xt = qrFirst ? lanes.array(m * n) : work.x;
    if (tall) transposeData(a.data, rows, cols, xt);
    else xt.set(a.data);
    const qr = qrFirst ? lanes.householderQr(xt, m, n, work.x) : undefined;
    const bd = lanes.bidiagonalize(work);
    if (!vectors) {
      const d = Float64Array.from(bd.d);
      bidiagonalQr(d, Float64Array.from(bd.e));
      return { s: d.sort().reverse() };
    }
    if (top !== undefined) return leadingFromShortSide(a, tall, bd, top, lanes) ?? leadingPairs(bothBases(bd, tall, false, lanes, qr), top);
    return bothBases(bd, tall, full, lanes, qr);
  } finally {
    lanes.close();
  }
}

/** Every pair: the bidiagonal's bases by divide and conquer, then both sides' reflectors map them
 *  (and Q, when the bidiagonal is R's). */
function bothBases(bd: Bidiagonal, tall: boolean, full: boolean, lanes: Lanes, qr?: HouseholderQr): SvdParts {
  const n = bd.d.length;
  const m = qr?.m ?? bd.m;
  const { s: d, ub, vb } = bidiagonalDc(bd.d, bd.e, true, lanes);
  const { order, s } = descending(d);
  // Left vectors of the tall matrix: rows of ut (length m), Ub's columns padded, then unit vectors
  // e_n..e_{m−1} when the full basis is wanted; the bidiagonal's Q maps all of them at once. When
  // the bidiagonal is R's, its Q acts on n coordinates: R's left vectors are mapped in an n × n
  // array `ur` first, then placed in ut for the QR's Q to map everything.
  const count = full ? m : n;
  const ut = lanes.array(count * m);
  const ur = qr ? lanes.array(n * n) : ut;
  const len = qr ? n : m;
  for (const [r, i] of order.entries()) ur.set(ub!.subarray(i * n, i * n + n), r * len);
  for (let r = n; r < count; r++) ut[r * m + r] = 1;
  const vt = lanes.array(n * n);
  for (const [r, i] of order.entries()) vt.set(vb.subarray(i * n, i * n + n), r * n);
  lanes.reflect([{ blocks: qBlocks(bd), ct: ur, len, r0: 0, r1: qr ? n : count }, { blocks: pBlocks(bd), ct: vt, len: n, r0: 0, r1: n }]);
  if (qr) {
    for (let r = 0; r < n; r++) ut.set(ur.subarray(r * n, r * n + n), r * m);
    lanes.reflect([{ blocks: qr.blocks, ct: ut, len: m, r0: 0, r1: count }]);
  }
  // Columns are the rows just computed.
  const left = matrix(m, count, transposeData(ut, count, m));
  const right = matrix(n, n, transposeData(vt, n, n));
  return tall ? { s, u: left, v: right } : { s, u: right, v: left };
}

/**
 * The k leading pairs with only the short side's basis formed: V_k from the bidiagonal's and P,
 * then U_k = T V_k Σ_k⁻¹ for the tall T (A or Aᵀ). Undefined when σ_k < TOP_MIN_RATIO · σ_1.
 */
function leadingFromShortSide(a: Matrix, tall: boolean, bd: Bidiagonal, k: number, lanes: Lanes): SvdParts | undefined {
  const n = bd.d.length;
  const m = tall ? a.rows : a.cols;
  const { s: d, vb } = bidiagonalDc(bd.d, bd.e, false, lanes);
  const { order, s } = descending(d);
  if (!(s[k - 1] >= TOP_MIN_RATIO * s[0]) || s[0] === 0) return undefined;
  const vt = lanes.array(k * n);
  for (let r = 0; r < k; r++) vt.set(vb.subarray(order[r] * n, order[r] * n + n), r * n);
  lanes.reflect([{ blocks: pBlocks(bd), ct: vt, len: n, r0: 0, r1: k }]);
  // U_k = T V_k Σ_k⁻¹ with T = A (tall) or Aᵀ: the product's rows are A's (or Aᵀ's) rows against V_kᵀ.
  const u = matmul(a, matrix(k, n, vt), { transA: !tall, transB: true });
  for (let i = 0; i < m; i++) for (let r = 0; r < k; r++) u.data[i * k + r] /= s[r];
  const right = matrix(n, k, transposeData(vt, k, n));
  return tall ? { s, u, v: right } : { s, u: right, v: u };
}

function leadingPairs(r: SvdParts, k: number): SvdParts {
  return { s: r.s, u: leadingColumns(r.u!, k), v: leadingColumns(r.v!, k) };
}

/** The QR's singular values in descending order, and the index each came from. */
function descending(d: Float64Array): { order: number[]; s: Float64Array } {
  const order = Array.from(d, (_, i) => i).sort((x, y) => d[y] - d[x]);
  return { order, s: Float64Array.from(order, (i) => d[i]) };
}

function emptySvd(rows: number, cols: number, vectors: boolean, full: boolean): SvdParts {
  const s = new Float64Array(0);
  if (!vectors) return { s };
  return { s, u: full ? identity(rows) : matrix(rows, 0), v: full ? identity(cols) : matrix(cols, 0) };
}
