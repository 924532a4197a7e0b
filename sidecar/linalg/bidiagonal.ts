// Householder reduction of a tall matrix (m ≥ n) to upper bidiagonal form, A = Q B Pᵀ (LAPACK's
// gebrd, unblocked). The matrix is held column-major (as rows of Aᵀ) so that both the left
// reflectors (on columns) and the right ones (on rows, applied as y = A w, A -= τ y wᵀ) run over
// contiguous memory; every step is dot products and axpys.

export interface Bidiagonal {
  m: number;
  n: number;
  d: Float64Array; // diagonal, n
  e: Float64Array; // superdiagonal, n (e[n-1] = 0)
  /** Column-major m×n: column k holds the left reflector v_k below the diagonal (v_k[k] = 1 implied). */
  x: Float64Array;
  tauQ: Float64Array;
  /** n×n row-major: row k holds the right reflector w_k on coordinates k+1..n-1 (w_k[k+1] = 1). */
  w: Float64Array;
  tauP: Float64Array;
}

/**
 * How the lanes of one SVD (lanes.ts) take the reduction's steps together. Each step has two serial
 * parts (a reflector, on the caller) and two parallel ones; phase() starts a parallel part (the
 * caller releases it, a helper waits for it) and join() ends it (a helper reports, the caller
 * waits for every helper).
 */
export interface StepSync { lane: number; lanes: number; phase(): void; join(): void }

/** Lane `lane` of `lanes`'s share [t0, t1) of the items from..to−1 (every stage the lanes split). */
export function stripe(from: number, to: number, lane: number, lanes: number): [number, number] {
  return [from + Math.floor(((to - from) * lane) / lanes), from + Math.floor(((to - from) * (lane + 1)) / lanes)];
}

/** The reduction's arrays, shared by the lanes when there are several. */
export interface BidiagonalWork extends Bidiagonal { y: Float64Array }

/** The arrays for reducing the m × n matrix held in `xt`, from `alloc` (shared ones for lanes). */
export function bidiagonalWork(xt: Float64Array, m: number, n: number, alloc: (length: number) => Float64Array = (length) => new Float64Array(length)): BidiagonalWork {
  return { m, n, x: xt, d: alloc(n), e: alloc(n), tauQ: alloc(n), tauP: alloc(n), w: alloc(n * n), y: alloc(m) };
}

/** Reduces the tall matrix whose columns are the rows of `xt` (n rows of length m, taken over). */
export function bidiagonalize(xt: Float64Array, m: number, n: number): Bidiagonal {
  const work = bidiagonalWork(xt, m, n);
  reduce(work);
  return work;
}

/**
 * The reduction's loop, run by every lane: the caller (lane 0) computes each reflector, and the
 * lanes apply it to their stripe: the left one to a range of columns, the right one to a range of
 * rows (y = A w and the update for those rows only). A lane's arithmetic on an element does not
 * depend on the stripes, so any number of lanes gives the same numbers.
 */
export function reduce(work: BidiagonalWork, sync?: StepSync): void {
  const { m, n, x: X, d, e, tauQ, tauP, w, y } = work;
  const lane = sync?.lane ?? 0;
  const lanes = sync?.lanes ?? 1;
  for (let k = 0; k < n; k++) {
    // Left reflector: zero A[k+1:, k] (row k of X from position k).
    const ck = k * m;
    if (lane === 0) {
      const { beta, tau } = reflector(X, ck + k, ck + m);
      d[k] = beta;
      tauQ[k] = tau;
    }
    sync?.phase();
    const [j0, j1] = stripe(k + 1, n, lane, lanes);
    if (tauQ[k] !== 0 && j1 > j0) reflectRows(X, ck, X, m, k, j0, j1, tauQ[k]);
    sync?.join();
    if (k >= n - 1) continue;
    // Right reflector: zero A[k, k+2:], read across the rows of X at offset k (stride m).
    const row = w.subarray(k * n, k * n + n);
    if (lane === 0) {
      for (let j = k + 1; j < n; j++) row[j] = X[j * m + k];
      const r = reflector(row, k + 1, n);
      e[k] = r.beta;
      tauP[k] = r.tau;
      row[k + 1] = 1;
    }
    sync?.phase();
    const [i0, i1] = stripe(k + 1, m, lane, lanes);
    if (tauP[k] !== 0 && i1 > i0) rightUpdate(X, m, n, k, row, tauP[k], y, i0, i1);
    sync?.join();
  }
}

/** y = A[i0:i1, k+1:] w (columns four at a time), then A[i0:i1, j] −= τ w_j y. */
function rightUpdate(X: Float64Array, m: number, n: number, k: number, row: Float64Array, tau: number, y: Float64Array, i0: number, i1: number): void {
  y.fill(0, i0, i1);
  let j = k + 1;
  for (; j + 3 < n; j += 4) {
    const w0 = row[j], w1 = row[j + 1], w2 = row[j + 2], w3 = row[j + 3];
    const c0 = j * m, c1 = c0 + m, c2 = c1 + m, c3 = c2 + m;
    for (let i = i0; i < i1; i++) y[i] += w0 * X[c0 + i] + w1 * X[c1 + i] + w2 * X[c2 + i] + w3 * X[c3 + i];
  }
  for (; j < n; j++) {
    const w0 = row[j];
    const c0 = j * m;
    for (let i = i0; i < i1; i++) y[i] += w0 * X[c0 + i];
  }
  for (let j = k + 1; j < n; j++) {
    const wj = row[j] * tau;
    if (wj === 0) continue;
    const cj = j * m;
    for (let i = i0; i < i1; i++) X[cj + i] -= wj * y[i];
  }
}

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

/**
 * Rows r0..r1−1 of `ut` (rows of length m) are vectors in B's row space padded with zeros: replaces
 * each by Q times it, Q = H₀ H₁ … H_{n−1}, applied from the last reflector to the first. Rows are
 * independent, so threads take ranges (lanes.ts).
 */
export function applyQRows(x: Float64Array, m: number, tauQ: Float64Array, ut: Float64Array, r0: number, r1: number): void {
  for (let k = tauQ.length - 1; k >= 0; k--) if (tauQ[k] !== 0) reflectRows(x, k * m, ut, m, k, r0, r1, tauQ[k]);
}

/** Same for the right factor P = G₀ G₁ … G_{n−3} (reflectors w, n × n) on rows r0..r1−1 of `vt` (length n). */
export function applyPRows(w: Float64Array, tauP: Float64Array, vt: Float64Array, r0: number, r1: number): void {
  const n = tauP.length;
  for (let k = n - 2; k >= 0; k--) if (tauP[k] !== 0) reflectRows(w, k * n, vt, n, k + 1, r0, r1, tauP[k]);
}
