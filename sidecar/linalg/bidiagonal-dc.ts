// Singular values and vectors of an upper bidiagonal matrix by divide and conquer (Gu & Eisenstat
// 1995, as LAPACK's bdsdc/lasd0–lasd4 do): split off a middle row, solve the two halves, and merge
// them through the SVD of an arrow matrix, whose singular values are the roots of a secular
// equation and whose vectors come from those roots in closed form. The vectors are accumulated by
// matrix products (gemmStrided) instead of one rotation at a time as in the QR (bidiagonal-qr.ts),
// which is what makes it faster with vectors. Small problems go to the QR. One departure from
// LAPACK: each root is found by bisection with Newton steps from its nearer pole, not by lasd4's
// rational interpolation (more iterations a root; the roots and vectors still agree with the QR's
// to 1e-13 of σ_max in the tests).
//
// Notation: a problem is an n × (n + sqre) upper bidiagonal (sqre = 1: one more column, whose null
// vector is returned too); bases hold one vector per row (row i of ub: the i-th left vector).
import { gemmStrided, transposeData, type Block } from './matrix';
import { bidiagonalQr } from './bidiagonal-qr';

/** Problems up to this size go to the QR (LAPACK's smlsiz is 25). */
export const DC_LEAF = 32;
/** Merges from this size give their products to the lanes (lanes.ts), when there are several. */
const LANES_MIN_MERGE = 256;

/** C += A · Btᵀ (gemmStrided) on m rows: the rows of C are the merged vectors. */
export interface Product { a: Block; bt: Block; m: number; k: number; n: number; c: Block }

/** Where a merge's arrays live and its products run: here, or split by rows over an SVD's lanes. */
export interface MergeLanes {
  readonly count: number;
  array(length: number): Float64Array;
  products(jobs: Product[]): void;
}

/** The products, here (a lane runs its stripes of them the same way, lanes.ts). */
export function runProducts(jobs: Product[]): void {
  for (const p of jobs) if (p.m > 0) gemmStrided(p.a, p.bt, p.m, p.k, p.n, p.c);
}

const here: MergeLanes = {
  count: 1,
  array: (length) => new Float64Array(length),
  products: runProducts,
};

const EPS = 2 ** -52;

interface Solved {
  /** Singular values, in no particular order. */
  s: Float64Array;
  /** n × n, row i the left vector of s[i] (absent when not wanted: the merges need V only). */
  ub?: Float64Array;
  /** (n + sqre) × (n + sqre): row i the right vector of s[i]; with sqre, row n the null vector. */
  vb: Float64Array;
}

/** B = Ub diag(s) Vbᵀ for the n × n upper bidiagonal bidiag(d, e) (e[n−1] unused); Ub only with
 *  `left` (the values are the same bit for bit either way). The large merges' products go to
 *  `lanes` (the same numbers on any number of lanes). */
export function bidiagonalDc(d: Float64Array, e: Float64Array, left: boolean, lanes: MergeLanes = here): Solved {
  return solve(d, e.subarray(0, Math.max(0, d.length - 1)), 0, left, lanes);
}

function solve(d: Float64Array, e: Float64Array, sqre: number, left: boolean, lanes: MergeLanes): Solved {
  const n = d.length;
  if (n <= DC_LEAF) return leaf(d, e, sqre, left);
  const nl = n >> 1;
  const nr = n - nl - 1;
  const top = solve(d.subarray(0, nl), e.subarray(0, nl), 1, left, lanes);
  const bottom = solve(d.subarray(nl + 1), e.subarray(nl + 1), sqre, left, lanes);
  return merge(top, bottom, nl, nr, d[nl], e[nl], sqre, n >= LANES_MIN_MERGE && lanes.count > 1 ? lanes : here);
}

/** A small problem by the implicit QR, made square by a zero row when sqre = 1 (the QR's first
 *  step then chases the extra column's entry away with right rotations, leaving U's last row alone). */
function leaf(d: Float64Array, e: Float64Array, sqre: number, left: boolean): Solved {
  const n = d.length;
  const m = n + sqre;
  const dd = new Float64Array(m);
  dd.set(d);
  const ee = new Float64Array(m);
  ee.set(e.subarray(0, m - 1));
  const ub = left ? identityData(m) : undefined;
  const vb = identityData(m);
  bidiagonalQr(dd, ee, ub, vb);
  if (!ub) return { s: sqre ? dd.slice(0, n) : dd, vb };
  if (!sqre) return { s: dd, ub, vb };
  // The zero row's singular value stays last (0) with left vector e_n: drop both.
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) u.set(ub.subarray(i * m, i * m + n), i * n);
  return { s: dd.slice(0, n), ub: u, vb };
}

function identityData(n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = 1;
  return a;
}

/**
 * Merges the halves around the middle row (alpha at column nl, beta at nl + 1). In the halves'
 * bases B is P diag(1, U1, U2) M diag(V1, V2)ᵀ with M an arrow: row 0 is z (the middle row times the
 * right bases), row i ≥ 1 has d_i (the halves' singular values) at column i, and column 0 is the
 * halves' null vectors, rotated into one. M's SVD X Σ Yᵀ then gives U = (P diag(1, U1, U2)) X and
 * V = diag(V1, V2) Y.
 */
function merge(top: Solved, bottom: Solved, nl: number, nr: number, alpha: number, beta: number, sqre: number, lanes: MergeLanes): Solved {
  const n = nl + 1 + nr;
  const n1 = nl + 1; // top's V is n1 × n1, its null vector last
  const n2 = nr + sqre;
  // M's coordinates: 0 the null column, 1..nl the top half's values, nl+1..n−1 the bottom's.
  const d = new Float64Array(n);
  const z = new Float64Array(n);
  for (let k = 0; k < nl; k++) {
    d[1 + k] = top.s[k];
    z[1 + k] = alpha * top.vb[k * n1 + nl];
  }
  for (let k = 0; k < nr; k++) {
    d[nl + 1 + k] = bottom.s[k];
    z[nl + 1 + k] = beta * bottom.vb[k * n2];
  }
  // The null column: the top's null vector, and the bottom's rotated into it when it has one.
  const z1 = alpha * top.vb[nl * n1 + nl];
  const z2 = sqre ? beta * bottom.vb[nr * n2] : 0;
  const r = Math.hypot(z1, z2);
  const c0 = r === 0 ? 1 : z1 / r;
  const s0 = r === 0 ? 0 : z2 / r;
  z[0] = r;
  const { s, x, y } = arrowSvd(d, z, Math.max(Math.abs(alpha), Math.abs(beta)), lanes);
  const jobs: Product[] = [];
  const transposed = (a: Float64Array, rows: number, cols: number): Block => ({ data: transposeData(a, rows, cols, lanes.array(rows * cols)), at: 0, ld: rows });
  // U = P diag(1, U1, U2) X, one vector per row: the middle row is X's coordinate 0.
  let ub: Float64Array | undefined;
  if (top.ub && bottom.ub) {
    ub = lanes.array(n * n);
    for (let j = 0; j < n; j++) ub[j * n + nl] = x[j * n];
    jobs.push({ a: { data: x, at: 1, ld: n }, bt: transposed(top.ub, nl, nl), m: n, k: nl, n: nl, c: { data: ub, at: 0, ld: n } });
    jobs.push({ a: { data: x, at: nl + 1, ld: n }, bt: transposed(bottom.ub, nr, nr), m: n, k: nr, n: nr, c: { data: ub, at: nl + 1, ld: n } });
  }
  // V = diag(V1, V2) Y with coordinate 0 the rotated null vector (c0 on the top's, s0 on the bottom's).
  const m = n + sqre;
  const vb = lanes.array(m * m);
  const w1 = new Float64Array(n1 * n1); // rows: c0 · null1, then V1's vectors
  w1.set(top.vb.subarray(nl * n1, n1 * n1));
  for (let t = 0; t < n1; t++) w1[t] *= c0;
  w1.set(top.vb.subarray(0, nl * n1), n1);
  jobs.push({ a: { data: y, at: 0, ld: n }, bt: transposed(w1, n1, n1), m: n, k: n1, n: n1, c: { data: vb, at: 0, ld: m } });
  jobs.push({ a: { data: y, at: nl + 1, ld: n }, bt: transposed(bottom.vb.subarray(0, nr * n2), nr, n2), m: n, k: nr, n: n2, c: { data: vb, at: n1, ld: m } });
  lanes.products(jobs);
  if (sqre) {
    const null2 = bottom.vb.subarray(nr * n2, n2 * n2);
    for (let j = 0; j < n; j++) {
      const f = y[j * n] * s0;
      if (f !== 0) for (let t = 0; t < n2; t++) vb[j * m + n1 + t] += f * null2[t];
    }
    // The merged problem's null vector: the other combination of the halves' two.
    for (let t = 0; t < n1; t++) vb[n * m + t] = -s0 * top.vb[nl * n1 + t];
    for (let t = 0; t < n2; t++) vb[n * m + n1 + t] = c0 * null2[t];
  }
  return { s, ub, vb };
}

/**
 * SVD of the n × n arrow M (row 0: z; M[i][i] = d_i for i ≥ 1; d_0 = 0): values s, and X, Y with
 * one vector per row in M's coordinates. Deflation (LAPACK lasd2) first: a tiny z_i leaves d_i as a
 * value with unit vectors; d_i near d_j, or near 0, is rotated into its neighbour's z. The rest is
 * a smaller arrow with distinct d and nonzero z, solved by the secular equation (arrowRoots).
 */
function arrowSvd(d: Float64Array, z: Float64Array, scale: number, lanes: MergeLanes): { s: Float64Array; x: Float64Array; y: Float64Array } {
  const n = d.length;
  let big = scale;
  for (let i = 0; i < n; i++) big = Math.max(big, Math.abs(d[i]), Math.abs(z[i]));
  const tol = 8 * EPS * big;
  if (Math.abs(z[0]) <= tol) z[0] = tol;
  const order = Array.from({ length: n - 1 }, (_, i) => i + 1).sort((a, b) => d[a] - d[b]);
  const kept = [0];
  const deflated: number[] = [];
  const value = new Float64Array(n); // the value of each deflated coordinate
  // The rotations R applied to M's coordinates, in order: (z_a, z_b) ← (c z_a + s z_b, c z_b − s z_a),
  // on both sides (rows and columns) or on the columns only.
  const rot: { a: number; b: number; c: number; s: number; both: boolean }[] = [];
  for (const i of order) {
    if (Math.abs(d[i]) <= tol) {
      // d_i ≈ 0: column i joins column 0 (only z in it); row i is then zero: value 0, left e_i.
      const r = Math.hypot(z[0], z[i]);
      rot.push({ a: 0, b: i, c: z[0] / r, s: z[i] / r, both: false });
      z[0] = r;
      z[i] = 0;
      value[i] = 0;
      deflated.push(i);
      continue;
    }
    if (Math.abs(z[i]) <= tol) {
      value[i] = d[i];
      deflated.push(i);
      continue;
    }
    const p = kept[kept.length - 1];
    if (p !== 0 && d[i] - d[p] <= tol) {
      // d_p ≈ d_i: rotate z_p into z_i (both sides: diag(d_p, d_i) is nearly a multiple of I).
      const r = Math.hypot(z[p], z[i]);
      rot.push({ a: p, b: i, c: z[i] / r, s: -z[p] / r, both: true });
      z[i] = r;
      z[p] = 0;
      value[p] = d[p];
      deflated.push(p);
      kept[kept.length - 1] = i;
      continue;
    }
    kept.push(i);
  }
  const k = kept.length;
  const dk = Float64Array.from(kept, (i) => d[i]);
  const zk = Float64Array.from(kept, (i) => z[i]);
  const roots = arrowRoots(dk, zk);
  const s = new Float64Array(n);
  const x = lanes.array(n * n);
  const y = lanes.array(n * n);
  for (let j = 0; j < k; j++) {
    s[j] = roots.sigma[j];
    for (let i = 0; i < k; i++) {
      x[j * n + kept[i]] = roots.x[j * k + i];
      y[j * n + kept[i]] = roots.y[j * k + i];
    }
  }
  deflated.forEach((i, q) => {
    s[k + q] = value[i];
    x[(k + q) * n + i] = 1;
    y[(k + q) * n + i] = 1;
  });
  // M = Rᵀ M' R (or M' R): X = Rᵀ X' and Y = Rᵀ Y', the last rotation undone first.
  for (let t = rot.length - 1; t >= 0; t--) {
    const { a, b, c, s: sn, both } = rot[t];
    for (let j = 0; j < n; j++) {
      const o = j * n;
      let p = y[o + a], q = y[o + b];
      y[o + a] = c * p - sn * q;
      y[o + b] = sn * p + c * q;
      if (!both) continue;
      p = x[o + a];
      q = x[o + b];
      x[o + a] = c * p - sn * q;
      x[o + b] = sn * p + c * q;
    }
  }
  return { s, x, y };
}

/**
 * The k roots of 1 + Σ z_i² / (d_i² − σ²) = 0 for 0 = d_0 < d_1 < … (all z_i ≠ 0), one in each
 * (d_j, d_{j+1}) and the last below d_{k−1} + ‖z‖, and the arrow's vectors from them: with ẑ
 * recomputed from the roots (Gu–Eisenstat, so that the vectors are orthogonal to working
 * accuracy), y_j ∝ ẑ_i / (d_i² − σ_j²) and x_j ∝ (−1, d_i ẑ_i / (d_i² − σ_j²)). Each root is held as
 * σ = d_b + τ from its nearer pole b, so every d_i − σ is computed without cancellation.
 */
function arrowRoots(d: Float64Array, z: Float64Array): { sigma: Float64Array; x: Float64Array; y: Float64Array } {
  const k = d.length;
  const z2 = Float64Array.from(z, (v) => v * v);
  let zz = 0;
  for (let i = 0; i < k; i++) zz += z2[i];
  const base = new Int32Array(k);
  const tau = new Float64Array(k);
  const sigma = new Float64Array(k);
  // Poles and root in squares relative to the origin pole b: δ_i = d_i² − d_b² and μ = σ² − d_b²,
  // so f(μ) = 1 + Σ z_i² / (δ_i − μ), increasing in μ, with δ_b = 0 exact.
  const delta = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let b = j;
    let lo: number;
    let hi: number;
    if (j < k - 1) {
      // The midpoint of (d_j, d_{j+1}) picks the nearer pole as origin.
      const gap = d[j + 1] - d[j];
      const mid = d[j] + gap / 2;
      let f = 1;
      for (let i = 0; i < k; i++) f += z2[i] / ((d[i] - mid) * (d[i] + mid));
      if (f >= 0) {
        lo = 0;
        hi = (gap / 2) * (d[j] + mid);
      } else {
        b = j + 1;
        lo = (-gap / 2) * (d[j + 1] + mid);
        hi = 0;
      }
    } else {
      // ‖M‖ ≤ d_max + ‖z‖.
      const r = Math.sqrt(zz);
      lo = 0;
      hi = r * (2 * d[j] + r);
    }
    const db = d[b];
    for (let i = 0; i < k; i++) delta[i] = (d[i] - db) * (d[i] + db);
    let mu = (lo + hi) / 2;
    // The middle way of LAPACK's laed4/lasd4 (Li, 1993): each step solves the model
    // c + s/(Δ_j − η) + S/(Δ_{j+1} − η) that matches f and the derivatives of its two sums (poles
    // up to j, and past j) at μ; Newton where the model points the wrong way, bisection where the
    // step leaves the bracket. A few steps per root, where bisection and Newton took about twenty.
    for (let it = 0; it < 100; it++) {
      let psi = 0, dpsi = 0, phi = 0, dphi = 0;
      for (let i = 0; i <= j; i++) {
        const inv = 1 / (delta[i] - mu);
        const q = z2[i] * inv;
        psi += q;
        dpsi += q * inv;
      }
      for (let i = j + 1; i < k; i++) {
        const inv = 1 / (delta[i] - mu);
        const q = z2[i] * inv;
        phi += q;
        dphi += q * inv;
      }
      const w = 1 + psi + phi;
      if (w === 0) break;
      if (w < 0) lo = mu;
      else hi = mu;
      // w is known to about ε times the size of its terms.
      if (Math.abs(w) <= 8 * EPS * (1 + phi - psi) || hi - lo <= 2 * EPS * Math.max(Math.abs(lo), Math.abs(hi))) break;
      const dj = delta[j] - mu;
      let eta: number;
      if (j < k - 1) {
        const dj1 = delta[j + 1] - mu;
        const c = w - dj * dpsi - dj1 * dphi;
        const a = (dj + dj1) * w - dj * dj1 * (dpsi + dphi);
        const bq = dj * dj1 * w;
        const disc = Math.sqrt(Math.abs(a * a - 4 * bq * c));
        eta = c === 0 ? bq / a : a <= 0 ? (a - disc) / (2 * c) : (2 * bq) / (a + disc);
      } else {
        const c = w - dj * dpsi;
        eta = dj + (dj * dj * dpsi) / c;
      }
      if (!(w * eta < 0)) eta = -w / (dpsi + dphi);
      const next = mu + eta;
      if (next === mu) break;
      mu = next > lo && next < hi ? next : (lo + hi) / 2;
    }
    base[j] = b;
    // σ − d_b from σ² − d_b², without cancellation.
    tau[j] = mu / (db + Math.sqrt(db * db + mu));
    sigma[j] = db + tau[j];
  }
  // (d_i − σ_j)(d_i + σ_j), accurately.
  const diff = (i: number, j: number) => (d[i] - d[base[j]] - tau[j]) * (d[i] + d[base[j]] + tau[j]);
  const zh = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let p = -diff(i, k - 1); // σ_{k−1}² − d_i²
    for (let j = 0; j < i; j++) p *= -diff(i, j) / ((d[j] - d[i]) * (d[j] + d[i]));
    for (let j = i; j < k - 1; j++) p *= -diff(i, j) / ((d[j + 1] - d[i]) * (d[j + 1] + d[i]));
    zh[i] = Math.sign(z[i]) * Math.sqrt(Math.abs(p));
  }
  const x = new Float64Array(k * k);
  const y = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    let ny = 0;
    let nx = 1;
    const o = j * k;
    x[o] = -1;
    for (let i = 0; i < k; i++) {
      const v = zh[i] / diff(i, j);
      y[o + i] = v;
      ny += v * v;
      if (i > 0) {
        x[o + i] = d[i] * v;
        nx += d[i] * v * (d[i] * v);
      }
    }
    ny = 1 / Math.sqrt(ny);
    nx = 1 / Math.sqrt(nx);
    for (let i = 0; i < k; i++) {
      y[o + i] *= ny;
      x[o + i] *= nx;
    }
  }
  return { sigma, x, y };
}
