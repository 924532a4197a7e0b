// Singular values (and optionally vectors) of an upper bidiagonal matrix by implicit-shift QR
// (Golub–Kahan with the LINPACK dsvdc deflation rules): negligible superdiagonal entries split the
// problem, negligible diagonal entries are chased out with rotations, and each QR sweep uses the
// shift from the trailing 2×2 block. O(n²) without vectors; each rotation also turns two rows of
// Uᵀ and/or Vᵀ (length n), which is where the time goes with vectors.

const EPS = 2 ** -52;
const TINY = 2 ** -966;

/**
 * Diagonalises B = bidiag(d, e) in place: on return d holds the singular values (non-negative,
 * unsorted) and, when given, the rotations have turned the rows of ut = Ubᵀ and vt = Vbᵀ (n × n
 * row-major, passed in as identities) so that B = Ub diag(d) Vbᵀ.
 */
export function bidiagonalQr(d: Float64Array, e: Float64Array, ut?: Float64Array, vt?: Float64Array): void {
  const n = d.length;
  let p = n;
  let iterations = 0;
  const maxIterations = 75 * n * n + 100;
  while (p > 0) {
    if (++iterations > maxIterations) throw new Error(`svd: bidiagonal QR did not converge for ${n}×${n}`);
    // Find the largest k < p−1 with negligible e[k] (−1 if none).
    let k = p - 2;
    for (; k >= 0; k--) {
      if (Math.abs(e[k]) <= TINY + EPS * (Math.abs(d[k]) + Math.abs(d[k + 1]))) {
        e[k] = 0;
        break;
      }
    }
    let kase: number;
    if (k === p - 2) {
      kase = 4;
    } else {
      let ks = p - 1;
      for (; ks > k; ks--) {
        const t = Math.abs(e[ks]) + (ks !== k + 1 ? Math.abs(e[ks - 1]) : 0);
        if (Math.abs(d[ks]) <= TINY + EPS * t) {
          d[ks] = 0;
          break;
        }
      }
      if (ks === k) kase = 3;
      else if (ks === p - 1) kase = 1;
      else {
        kase = 2;
        k = ks;
      }
    }
    k++;
    switch (kase) {
      case 1: {
        // d[p−1] is zero: chase e[p−2] up with right rotations.
        let f = e[p - 2];
        e[p - 2] = 0;
        for (let j = p - 2; j >= k; j--) {
          const t = hypot(d[j], f);
          const cs = d[j] / t;
          const sn = f / t;
          d[j] = t;
          if (j !== k) {
            f = -sn * e[j - 1];
            e[j - 1] = cs * e[j - 1];
          }
          if (vt) rotateRows(vt, n, j, p - 1, cs, sn);
        }
        break;
      }
      case 2: {
        // d[k−1] is zero: split there, chasing e[k−1] along with left rotations.
        let f = e[k - 1];
        e[k - 1] = 0;
        for (let j = k; j < p; j++) {
          const t = hypot(d[j], f);
          const cs = d[j] / t;
          const sn = f / t;
          d[j] = t;
          f = -sn * e[j];
          e[j] = cs * e[j];
          if (ut) rotateRows(ut, n, j, k - 1, cs, sn);
        }
        break;
      }
      case 3: {
        // One implicit QR sweep over d[k..p−1] with the trailing 2×2 shift.
        const scale = Math.max(Math.abs(d[p - 1]), Math.abs(d[p - 2]), Math.abs(e[p - 2]), Math.abs(d[k]), Math.abs(e[k]));
        const sp = d[p - 1] / scale;
        const spm1 = d[p - 2] / scale;
        const epm1 = e[p - 2] / scale;
        const sk = d[k] / scale;
        const ek = e[k] / scale;
        const b = ((spm1 + sp) * (spm1 - sp) + epm1 * epm1) / 2;
        const c = sp * epm1 * (sp * epm1);
        let shift = 0;
        if (b !== 0 || c !== 0) {
          shift = Math.sqrt(b * b + c);
          if (b < 0) shift = -shift;
          shift = c / (b + shift);
        }
        let f = (sk + sp) * (sk - sp) + shift;
        let g = sk * ek;
        for (let j = k; j < p - 1; j++) {
          let t = hypot(f, g);
          let cs = f / t;
          let sn = g / t;
          if (j !== k) e[j - 1] = t;
          f = cs * d[j] + sn * e[j];
          e[j] = cs * e[j] - sn * d[j];
          g = sn * d[j + 1];
          d[j + 1] = cs * d[j + 1];
          if (vt) rotateRows(vt, n, j, j + 1, cs, sn);
          t = hypot(f, g);
          cs = f / t;
          sn = g / t;
          d[j] = t;
          f = cs * e[j] + sn * d[j + 1];
          d[j + 1] = -sn * e[j] + cs * d[j + 1];
          g = sn * e[j + 1];
          e[j + 1] = cs * e[j + 1];
          if (ut) rotateRows(ut, n, j, j + 1, cs, sn);
        }
        e[p - 2] = f;
        break;
      }
      default: {
        // d[k] has converged: make it non-negative.
        if (d[k] < 0) {
          d[k] = -d[k];
          if (vt) rotateRows(vt, n, k, k, -1, 0); // a rotation of a row with itself by π: negation
        }
        p--;
      }
    }
  }
}

/** Rows a and b of M (row length len) become cs·a + sn·b and cs·b − sn·a (a = b, cs = −1 negates
 *  the row), as the rotations are generated. Batching them and applying the batch one column stripe
 *  at a time (LAPACK-style cache blocking) measured no faster in V8. A plain function, not a
 *  rotator object: V8 dropped bidiagonalQr's optimized code each time the pool workers' collection
 *  freed the objects it had been compiled against, and recompiled it about once a job. */
function rotateRows(M: Float64Array, len: number, a: number, b: number, cs: number, sn: number): void {
  const oa = a * len;
  const ob = b * len;
  for (let t = 0; t < len; t++) {
    const x = M[oa + t];
    const y = M[ob + t];
    M[oa + t] = cs * x + sn * y;
    M[ob + t] = cs * y - sn * x;
  }
}

/** √(a² + b²) without Math.hypot's overflow guard, which costs more than the QR sweep itself;
 *  inputs are matrix entries far below 1e150. */
function hypot(a: number, b: number): number {
  return Math.sqrt(a * a + b * b);
}
