// Symmetric eigendecomposition by cyclic Jacobi rotations, float64. Used for λ_min in the Cholesky
// fallback and where a caller asks for eigh; accurate to working precision, O(n³) per sweep.
import { matrix, type Matrix } from './matrix';

export function jacobiEigen(a: Matrix, vectors: boolean, maxSweeps = 60): { values: Float64Array; vectors?: Matrix } {
  const n = a.rows;
  if (n !== a.cols) throw new Error(`eigh: ${a.rows}×${a.cols} is not square`);
  const A = Float64Array.from(a.data);
  // Symmetrise: callers pass Gram matrices that float rounding made slightly asymmetric.
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A[i * n + j] = A[j * n + i] = (A[i * n + j] + A[j * n + i]) / 2;
  const V = vectors ? new Float64Array(n * n) : undefined;
  if (V) for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += A[i * n + i] * A[i * n + i];
      for (let j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p];
          const akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k];
          const aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        if (V) {
          for (let k = 0; k < n; k++) {
            const vkp = V[k * n + p];
            const vkq = V[k * n + q];
            V[k * n + p] = c * vkp - s * vkq;
            V[k * n + q] = s * vkp + c * vkq;
          }
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => A[x * n + x] - A[y * n + y]);
  const values = Float64Array.from(order, (i) => A[i * n + i]);
  if (!V) return { values };
  const out = matrix(n, n);
  for (const [j, i] of order.entries()) for (let k = 0; k < n; k++) out.data[k * n + j] = V[k * n + i];
  return { values, vectors: out };
}
