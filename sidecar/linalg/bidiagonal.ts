// Householder reduction of a tall matrix (m ≥ n) to upper bidiagonal form, A = Q B Pᵀ (LAPACK's
// gebrd: blocked panels, bidiagonal-panel.ts, then the last columns unblocked). The matrix is held
// column-major (as rows of Aᵀ) so that both the left reflectors (on columns) and the right ones (on
// rows, applied as y = A w, A -= τ y wᵀ) run over contiguous memory; an unblocked step is dot
// products and rank-one updates. Its arrays live in one shared WebAssembly memory (gemv-kernel.ts),
// where those passes run as SIMD kernels and every lane sees them.
import { reflectorBlock, type ReflectorBlock } from './compact-wy';
import { PANEL, panelLengths, panelWork, reducePanel, type PanelWork } from './bidiagonal-panel';
import { gemvKernel, kernelMemory } from './gemv-kernel';
import { reflector } from './reflector';
import { stripe, type StepSync } from './stripe';

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

/** The reduction's arrays, all in `memory` (shared by the lanes when there are several): y (m) and
 *  z (n) hold an unblocked step's products and its rank-one updates' coefficients. */
export interface BidiagonalWork extends Bidiagonal { memory: WebAssembly.Memory; y: Float64Array; z: Float64Array; panel?: PanelWork }

/** Columns reduced one at a time at the end, where panels no longer pay (LAPACK's crossover, nx). */
const UNBLOCKED = 128;

/** The arrays for reducing an m × n matrix, zeroed: the caller puts the matrix in x (column-major).
 *  With `reuse`, in this thread's reusable memory (kernelMemory): dead before its next reduction. */
export function bidiagonalWork(m: number, n: number, reuse = false): BidiagonalWork {
  const blocked = n > UNBLOCKED;
  const lengths = [m * n, n, n, n, n, n * n, m, n];
  const { memory, alloc } = kernelMemory([...lengths, ...(blocked ? panelLengths(m, n) : [])], reuse);
  const [x, d, e, tauQ, tauP, w, y, z] = lengths.map(alloc);
  return { m, n, memory, x, d, e, tauQ, tauP, w, y, z, panel: blocked ? panelWork(m, n, alloc) : undefined };
}

// One small work of each kind (unblocked, and with panels), alive as long as the module: V8
// specialises the reduction's optimized code on these objects' maps, and a map goes with its last
// object. When a pool worker's collection freed the last one, V8 dropped the code compiled against
// it and the next job compiled the panel reduction again (bench/compress under --trace-opt: 33
// TurboFan compilations of reducePanel, 1.4 s; 9 with these kept). Their memories (about 0.6 MB
// a thread) are never written, so they stay out of the resident set.
const shapesKept: BidiagonalWork[] = [];
shapesKept.push(bidiagonalWork(2, 2), bidiagonalWork(UNBLOCKED + 1, UNBLOCKED + 1));

/** Reduces the tall matrix whose columns are the rows of `xt` (n rows of length m; copied). */
export function bidiagonalize(xt: Float64Array, m: number, n: number): Bidiagonal {
  const work = bidiagonalWork(m, n);
  work.x.set(xt);
  reduce(work);
  return work;
}

/**
 * The reduction, run by every lane: panels of PANEL columns (bidiagonal-panel.ts) while more than
 * UNBLOCKED remain, then one column at a time: the caller (lane 0) computes each reflector, and the
 * lanes apply it to their stripe: the left one to a range of columns, the right one to a range of
 * rows (y = A w and the update for those rows only). A lane's arithmetic on an element does not
 * depend on the stripes, so any number of lanes gives the same numbers.
 */
export function reduce(work: BidiagonalWork, sync?: StepSync): void {
  const { m, n, x: X, d, e, tauQ, tauP, w, z, panel } = work;
  const lane = sync?.lane ?? 0;
  const lanes = sync?.lanes ?? 1;
  let k = 0;
  if (panel) for (; n - k > UNBLOCKED; k += PANEL) reducePanel(work, panel, k, sync);
  for (; k < n; k++) {
    // Left reflector: zero A[k+1:, k] (row k of X from position k).
    const ck = k * m;
    if (lane === 0) {
      const { beta, tau } = reflector(X, ck + k, ck + m);
      d[k] = beta;
      tauQ[k] = tau;
    }
    sync?.phase();
    const [j0, j1] = stripe(k + 1, n, lane, lanes);
    if (tauQ[k] !== 0 && j1 > j0) leftUpdate(work, k, j0, j1);
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
      for (let j = k + 1; j < n; j++) z[j] = -(row[j] * r.tau);
    }
    sync?.phase();
    const [i0, i1] = stripe(k + 1, m, lane, lanes);
    if (tauP[k] !== 0 && i1 > i0) rightUpdate(work, k, i0, i1);
    sync?.join();
  }
}

/** H_k = I − τ v vᵀ on columns j0..j1−1 (rows of X, v in column k): s_j = τ (A[k, j] + v·A[k+1:, j]),
 *  A[k, j] −= s_j, A[k+1:, j] −= s_j v (the dots and the rank-one update on the kernels). */
function leftUpdate({ m, x: X, tauQ, z, memory }: BidiagonalWork, k: number, j0: number, j1: number): void {
  const gemv = gemvKernel(memory);
  const v = k * m + k + 1;
  gemv.dots(X, j0 * m + k + 1, m, m - k - 1, j1 - j0, X, v, z, j0);
  for (let j = j0; j < j1; j++) {
    const s = (X[j * m + k] + z[j]) * tauQ[k];
    X[j * m + k] -= s;
    z[j] = -s;
  }
  gemv.ger(X, j0 * m + k + 1, m, m - k - 1, j1 - j0, z, j0, X, v);
}

/** y = A[i0:i1, k+1:] w_k, then A[i0:i1, j] −= τ w_kj y, with z[j] = −τ w_kj (lane 0 set them). */
function rightUpdate({ m, n, x: X, w, y, z, memory }: BidiagonalWork, k: number, i0: number, i1: number): void {
  const gemv = gemvKernel(memory);
  y.fill(0, i0, i1);
  gemv.matvec(X, (k + 1) * m + i0, m, i1 - i0, n - k - 1, w, k * n + k + 1, y, i0);
  gemv.ger(X, (k + 1) * m + i0, m, i1 - i0, n - k - 1, z, k + 1, y, i0);
}

/** Reflectors per compact WY block when Q and P act on the bases. */
const BLOCK = 32;

/**
 * Q = H₀ H₁ … H_{n−1} as compact WY blocks (compact-wy.ts) acting on vectors of length m. Writes
 * the zeros and units of its reflectors into x (what was there is not needed after the reduction).
 */
export function qBlocks({ m, n, x, tauQ }: Bidiagonal): ReflectorBlock[] {
  for (let k = 0; k < n; k++) {
    x.fill(0, k * m, k * m + k);
    x[k * m + k] = 1;
  }
  const q: ReflectorBlock[] = [];
  for (let k0 = 0; k0 < n; k0 += BLOCK) {
    const nb = Math.min(BLOCK, n - k0);
    q.push(reflectorBlock({ data: x, at: k0 * m + k0, ld: m }, k0, m - k0, nb, tauQ.subarray(k0, k0 + nb)));
  }
  return q;
}

/** P = G₀ G₁ … G_{n−2} likewise, on vectors of length n. G_k acts on coordinates k+1..n−1; row k of
 *  w holds it, zero before k+1 and 1 there. */
export function pBlocks({ n, w, tauP }: Bidiagonal): ReflectorBlock[] {
  const p: ReflectorBlock[] = [];
  for (let k0 = 0; k0 < n - 1; k0 += BLOCK) {
    const nb = Math.min(BLOCK, n - 1 - k0);
    p.push(reflectorBlock({ data: w, at: k0 * n + k0 + 1, ld: n }, k0 + 1, n - k0 - 1, nb, tauP.subarray(k0, k0 + nb)));
  }
  return p;
}
