// Householder reflectors one at a time (LAPACK's larfg and larf): the unblocked steps of the
// bidiagonalisation and of the QR's panels.

/**
 * Applies H = I − τ v vᵀ (v_i = V[src + i] for i > at, v_at = 1) to rows r0..r1−1 of M (row length len),
 * each row read at the same offsets. Four rows per pass, so each load of v serves four rows.
 */
export function reflectRows(V: Float64Array, src: number, M: Float64Array, len: number, at: number, r0: number, r1: number, tau: number): void {
  let r = r0;
  for (; r + 3 < r1; r += 4) {
    const o0 = r * len;
    const o1 = o0 + len;
    const o2 = o1 + len;
    const o3 = o2 + len;
    let s0 = M[o0 + at];
    let s1 = M[o1 + at];
    let s2 = M[o2 + at];
    let s3 = M[o3 + at];
    for (let i = at + 1; i < len; i++) {
      const v = V[src + i];
      s0 += v * M[o0 + i];
      s1 += v * M[o1 + i];
      s2 += v * M[o2 + i];
      s3 += v * M[o3 + i];
    }
    s0 *= tau;
    s1 *= tau;
    s2 *= tau;
    s3 *= tau;
    M[o0 + at] -= s0;
    M[o1 + at] -= s1;
    M[o2 + at] -= s2;
    M[o3 + at] -= s3;
    for (let i = at + 1; i < len; i++) {
      const v = V[src + i];
      M[o0 + i] -= s0 * v;
      M[o1 + i] -= s1 * v;
      M[o2 + i] -= s2 * v;
      M[o3 + i] -= s3 * v;
    }
  }
  for (; r < r1; r++) {
    const o = r * len;
    let s0 = M[o + at];
    for (let i = at + 1; i < len; i++) s0 += V[src + i] * M[o + i];
    s0 *= tau;
    M[o + at] -= s0;
    for (let i = at + 1; i < len; i++) M[o + i] -= s0 * V[src + i];
  }
}

/**
 * Householder vector for v[from..to): on return v[from] is implicitly 1 (the stored value is left
 * as beta for the caller to read), v[from+1..] holds the vector, and H = I − τ v vᵀ maps the
 * original x to beta·e₁ with beta = −sign(x₀)‖x‖ (LAPACK's larfg convention).
 */
export function reflector(v: Float64Array, from: number, to: number): { beta: number; tau: number } {
  const alpha = v[from];
  let sq = 0;
  for (let i = from + 1; i < to; i++) sq += v[i] * v[i];
  if (sq === 0) return { beta: alpha, tau: 0 };
  const norm = Math.hypot(alpha, Math.sqrt(sq));
  const beta = alpha >= 0 ? -norm : norm;
  const scale = 1 / (alpha - beta);
  for (let i = from + 1; i < to; i++) v[i] *= scale;
  v[from] = beta;
  return { beta, tau: (beta - alpha) / beta };
}
