// Dense row-major float64 matrices for the decompositions; tensors stay float32 elsewhere.
export interface Matrix { rows: number; cols: number; data: Float64Array }

export function matrix(rows: number, cols: number, data?: Float64Array): Matrix {
  if (data && data.length !== rows * cols) throw new Error(`matrix: ${data.length} values for ${rows}×${cols}`);
  return { rows, cols, data: data ?? new Float64Array(rows * cols) };
}

export function fromFloat32(rows: number, cols: number, data: Float32Array): Matrix {
  return matrix(rows, cols, Float64Array.from(data));
}

export function toFloat32(m: Matrix): Float32Array {
  return Float32Array.from(m.data);
}

export function identity(n: number): Matrix {
  const m = matrix(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function transpose(a: Matrix): Matrix {
  return matrix(a.cols, a.rows, transposeData(a.data, a.rows, a.cols));
}

/** The first k columns of a. */
export function leadingColumns(a: Matrix, k: number): Matrix {
  const out = matrix(a.rows, k);
  for (let i = 0; i < a.rows; i++) out.data.set(a.data.subarray(i * a.cols, i * a.cols + k), i * k);
  return out;
}

/** The row-major data of the transpose of a rows×cols row-major array (into `t` when given). */
export function transposeData(a: Float64Array, rows: number, cols: number, t: Float64Array = new Float64Array(rows * cols)): Float64Array {
  const B = 32; // blocked so that both sides stay in cache
  for (let i0 = 0; i0 < rows; i0 += B) {
    const iEnd = Math.min(i0 + B, rows);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const jEnd = Math.min(j0 + B, cols);
      for (let i = i0; i < iEnd; i++) for (let j = j0; j < jEnd; j++) t[j * rows + i] = a[i * cols + j];
    }
  }
  return t;
}

/** C = op(A) op(B), float64, cache-blocked (about 2 GFLOP/s on one core of a current x86). */
export function matmul(a: Matrix, b: Matrix, opts: { transA?: boolean; transB?: boolean } = {}): Matrix {
  const m = opts.transA ? a.cols : a.rows;
  const k = opts.transA ? a.rows : a.cols;
  const kb = opts.transB ? b.cols : b.rows;
  const n = opts.transB ? b.rows : b.cols;
  if (k !== kb) throw new Error(`matmul: inner dimensions ${k} and ${kb} differ`);
  // The kernel reads rows of A and rows of Bᵀ (both contiguous in k).
  const ad = opts.transA ? transposeData(a.data, a.rows, a.cols) : a.data;
  const btd = opts.transB ? b.data : transposeData(b.data, b.rows, b.cols);
  const c = matrix(m, n);
  gemmNT(ad, btd, m, k, n, c.data);
  return c;
}

/** Whether a is square with a zero upper triangle (a Cholesky factor). */
export function isLowerTriangular(a: Matrix): boolean {
  if (a.rows !== a.cols) return false;
  const n = a.cols;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (a.data[i * n + j] !== 0) return false;
  return true;
}

/** A · L for a lower triangular L: the product's columns j0.. need L's rows j0.. only, so blocks of
 *  64 columns skip the zero triangle (about 55–60% of matmul's work for n of 256–700). */
export function matmulLower(a: Matrix, l: Matrix): Matrix {
  const { rows: m, cols: k } = a;
  if (l.rows !== k || l.cols !== k) throw new Error(`matmulLower: ${m}×${k} by ${l.rows}×${l.cols}`);
  const lt = transposeData(l.data, k, k); // row j: column j of L, zero before j
  const c = matrix(m, k);
  for (let j0 = 0; j0 < k; j0 += 64) {
    const j1 = Math.min(k, j0 + 64);
    gemmStrided({ data: a.data, at: j0, ld: k }, { data: lt, at: j0 * k + j0, ld: k }, m, k - j0, j1 - j0, { data: c.data, at: j0, ld: k });
  }
  return c;
}

const KB = 256; // k-panel: a 4-row slice of A and of Bᵀ (16 KiB) stays in L1
const MB = 128; // rows of A packed per panel (256 KiB, L2)

/**
 * C(m×n) += A(m×k) · Bt(n×k)ᵀ, all row-major. Panels are packed four rows interleaved so the 4×4
 * register kernel reads one stream from each; sixteen scalar accumulators is what V8 keeps in registers.
 */
export function gemmNT(A: Float64Array, Bt: Float64Array, m: number, k: number, n: number, C: Float64Array): void {
  gemmStrided({ data: A, at: 0, ld: k }, { data: Bt, at: 0, ld: k }, m, k, n, { data: C, at: 0, ld: n });
}

/** A row-major block inside a larger array: element (i, j) is data[at + i * ld + j]. */
export interface Block { data: Float64Array; at: number; ld: number }

/** gemmNT on blocks of larger arrays (the blocked Householder QR updates a matrix in place). */
export function gemmStrided(A: Block, Bt: Block, m: number, k: number, n: number, C: Block): void {
  const n4 = (n + 3) & ~3;
  // Panels no larger than the product needs (small products are called often: bidiagonal-dc.ts).
  const kb = Math.min(KB, k);
  const Ap = new Float64Array(Math.min(MB, (m + 3) & ~3) * kb);
  const Bp = new Float64Array(n4 * kb);
  const Cd = C.data;
  const ldc = C.ld;
  for (let k0 = 0; k0 < k; k0 += KB) {
    const kl = Math.min(KB, k - k0);
    pack(Bt, n, k0, kl, 0, n4, Bp);
    for (let i0 = 0; i0 < m; i0 += MB) {
      const ml = Math.min(MB, m - i0);
      pack(A, m, k0, kl, i0, (ml + 3) & ~3, Ap);
      for (let j = 0; j < n; j += 4) {
        const bb = j * kl;
        for (let i = 0; i < ml; i += 4) {
          const ab = i * kl;
          let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
          let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
          for (let t = 0, e = kl * 4; t < e; t += 4) {
            const x0 = Ap[ab + t], x1 = Ap[ab + t + 1], x2 = Ap[ab + t + 2], x3 = Ap[ab + t + 3];
            const y0 = Bp[bb + t], y1 = Bp[bb + t + 1], y2 = Bp[bb + t + 2], y3 = Bp[bb + t + 3];
            c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
            c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
            c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
            c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
          }
          const gi = i0 + i;
          if (gi + 4 <= m && j + 4 <= n) {
            let o = C.at + gi * ldc + j;
            Cd[o] += c00; Cd[o + 1] += c01; Cd[o + 2] += c02; Cd[o + 3] += c03; o += ldc;
            Cd[o] += c10; Cd[o + 1] += c11; Cd[o + 2] += c12; Cd[o + 3] += c13; o += ldc;
            Cd[o] += c20; Cd[o + 1] += c21; Cd[o + 2] += c22; Cd[o + 3] += c23; o += ldc;
            Cd[o] += c30; Cd[o + 1] += c31; Cd[o + 2] += c32; Cd[o + 3] += c33;
          } else {
            const cs = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
            for (let r = 0; r < 4 && gi + r < m; r++) for (let q = 0; q < 4 && j + q < n; q++) Cd[C.at + (gi + r) * ldc + j + q] += cs[r * 4 + q];
          }
        }
      }
    }
  }
}

/** Packs rows r0..r0+count-1 (zero past `rows`), columns k0..k0+kl-1, four rows interleaved. */
function pack(src: Block, rows: number, k0: number, kl: number, r0: number, count: number, out: Float64Array): void {
  const { data, at, ld } = src;
  for (let r = 0; r < count; r += 4) {
    const base = r * kl;
    for (let q = 0; q < 4; q++) {
      const row = r0 + r + q;
      if (row < rows) {
        const s = at + row * ld + k0;
        for (let t = 0; t < kl; t++) out[base + t * 4 + q] = data[s + t];
      } else {
        for (let t = 0; t < kl; t++) out[base + t * 4 + q] = 0;
      }
    }
  }
}

export function frobenius(a: Matrix): number {
  let s = 0;
  for (const x of a.data) s += x * x;
  return Math.sqrt(s);
}
