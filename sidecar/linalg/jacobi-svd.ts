// One-sided Jacobi SVD (Hestenes), float64. Chosen over bidiagonalisation + QR because it is short,
// computes small singular values to high relative accuracy (the 1e6-conditioned case) and its inner
// loops are contiguous dot products and rotations of rows. The k = min(m, n) rows of X (Aᵀ or A) are
// rotated pairwise until mutually orthogonal; the rotations, accumulated in W, give the other factor.
import { matrix, type Matrix } from './matrix';

export interface JacobiResult { s: Float64Array; u?: Matrix; v?: Matrix; sweeps: number }

const EPS = 2.220446049250313e-16;

export function jacobiSvd(a: Matrix, vectors: boolean, maxSweeps = 60): JacobiResult {
  const { rows: m, cols: n } = a;
  const tall = m >= n;
  const k = Math.min(m, n);
  const l = Math.max(m, n);
  // X: k rows of length l (rows of Aᵀ when tall, rows of A when wide).
  const X = new Float64Array(k * l);
  if (tall) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) X[j * l + i] = a.data[i * n + j];
  else X.set(a.data);
  const W = vectors ? new Float64Array(k * k) : undefined;
  if (W) for (let i = 0; i < k; i++) W[i * k + i] = 1;

  const norms = new Float64Array(k);
  const tol = EPS * Math.sqrt(l);
  let sweeps = 0;
  for (; sweeps < maxSweeps; sweeps++) {
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let t = i * l, e = t + l; t < e; t++) s += X[t] * X[t];
      norms[i] = s;
    }
    let rotated = false;
    for (let p = 0; p < k - 1; p++) {
      const op = p * l;
      for (let q = p + 1; q < k; q++) {
        const alpha = norms[p];
        const beta = norms[q];
        if (alpha === 0 || beta === 0) continue;
        const oq = q * l;
        let gamma = 0;
        for (let t = 0; t < l; t++) gamma += X[op + t] * X[oq + t];
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const tan = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + tan * tan);
        const s = c * tan;
        for (let t = 0; t < l; t++) {
          const xp = X[op + t];
          const xq = X[oq + t];
          X[op + t] = c * xp - s * xq;
          X[oq + t] = s * xp + c * xq;
        }
        norms[p] = alpha - tan * gamma;
        norms[q] = beta + tan * gamma;
        if (W) {
          const wp = p * k;
          const wq = q * k;
          for (let t = 0; t < k; t++) {
            const a1 = W[wp + t];
            const b1 = W[wq + t];
            W[wp + t] = c * a1 - s * b1;
            W[wq + t] = s * a1 + c * b1;
          }
        }
      }
    }
    if (!rotated) break;
  }

  const sv = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let t = i * l, e = t + l; t < e; t++) s += X[t] * X[t];
    sv[i] = Math.sqrt(s);
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((x, y) => sv[y] - sv[x]);
  const s = Float64Array.from(order, (i) => sv[i]);
  if (!W) return { s, sweeps };

  // Y: orthonormal rows X_i/σ_i; rows with σ ≈ 0 are completed to an orthonormal set.
  const Y = new Float64Array(k * l);
  const small = (s[0] || 1) * EPS * l;
  const done: number[] = [];
  for (const [j, i] of order.entries()) {
    if (sv[i] > small) {
      for (let t = 0; t < l; t++) Y[j * l + t] = X[i * l + t] / sv[i];
      done.push(j);
    }
  }
  for (let j = 0; j < k; j++) {
    if (done.includes(j)) continue;
    for (let e = 0; e < l; e++) {
      const row = new Float64Array(l);
      row[e] = 1;
      for (let pass = 0; pass < 2; pass++) {
        for (const d of done) {
          let dot = 0;
          for (let t = 0; t < l; t++) dot += row[t] * Y[d * l + t];
          for (let t = 0; t < l; t++) row[t] -= dot * Y[d * l + t];
        }
      }
      let nrm = 0;
      for (let t = 0; t < l; t++) nrm += row[t] * row[t];
      if (nrm > 0.25) {
        nrm = Math.sqrt(nrm);
        for (let t = 0; t < l; t++) Y[j * l + t] = row[t] / nrm;
        done.push(j);
        break;
      }
    }
  }
  // Tall: A = Yᵀ Σ W, so U = Yᵀ (m×k), V = Wᵀ. Wide: A = Wᵀ Σ Y, so U = Wᵀ, V = Yᵀ (n×k).
  const fromY = matrix(l, k);
  for (let j = 0; j < k; j++) for (let t = 0; t < l; t++) fromY.data[t * k + j] = Y[j * l + t];
  const fromW = matrix(k, k);
  for (const [j, i] of order.entries()) for (let t = 0; t < k; t++) fromW.data[t * k + j] = W[i * k + t];
  return tall ? { s, u: fromY, v: fromW, sweeps } : { s, u: fromW, v: fromY, sweeps };
}
