// Dense row-major float64 matrices for the decompositions; tensors stay float32 elsewhere.
import { gemmKernel } from './gemm-kernel';
export interface Matrix { rows: number; cols: number; data: Float64Array }
/** A matrix that is only read, whose values may be float32: a product widens them exactly as it
 *  packs them (a projection's weights where tfjs holds them, with no float64 copy). */
export interface ReadMatrix { rows: number; cols: number; data: Float64Array | Float32Array }

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

/** C = op(A) op(B), float64 (gemmStrided). */
export function matmul(a: ReadMatrix, b: ReadMatrix, opts: { transA?: boolean; transB?: boolean } = {}): Matrix {
  const m = opts.transA ? a.cols : a.rows;
  const k = opts.transA ? a.rows : a.cols;
  const kb = opts.transB ? b.cols : b.rows;
  const n = opts.transB ? b.rows : b.cols;
  if (k !== kb) throw new Error(`matmul: inner dimensions ${k} and ${kb} differ`);
  // The kernel packs rows of A and of Bᵀ; an operand stored the other way is packed from its
  // columns (kMajor), with no transposed copy.
  const c = matrix(m, n);
  gemmStrided({ data: a.data, at: 0, ld: a.cols, kMajor: opts.transA }, { data: b.data, at: 0, ld: b.cols, kMajor: !opts.transB }, m, k, n, { data: c.data, at: 0, ld: n });
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
export function matmulLower(a: ReadMatrix, l: Matrix): Matrix {
  const { rows: m, cols: k } = a;
  if (l.rows !== k || l.cols !== k) throw new Error(`matmulLower: ${m}×${k} by ${l.rows}×${l.cols}`);
  const c = matrix(m, k);
  for (let j0 = 0; j0 < k; j0 += 64) {
    const j1 = Math.min(k, j0 + 64);
    // Bᵀ(j, t) = L(j0 + t, j0 + j): L's columns j0..j1 from row j0 down, packed from its rows.
    gemmStrided({ data: a.data, at: j0, ld: k }, { data: l.data, at: j0 * k + j0, ld: k, kMajor: true }, m, k - j0, j1 - j0, { data: c.data, at: j0, ld: k });
  }
  return c;
}

const KB = 256; // k-panel: four rows of A and of Bᵀ (8 KiB each) stay in L1
const MB = 128; // rows of A packed per panel (256 KiB, L2)
const NB = 512; // rows of Bᵀ packed per panel, which bounds the kernel's memory: 1.8 MiB a thread (2048: 6.3 MiB, no faster)

/** A row-major block inside a larger array: element (i, j) is data[at + i * ld + j]; or, with
 *  kMajor, the block stored transposed: element (i, j) is data[at + j * ld + i] (an operand read as
 *  the transpose of what the array holds, without a transposed copy). */
export interface Block { data: Float64Array; at: number; ld: number; kMajor?: boolean }
/** A block only read (a product's A or Bᵀ), float64 or float32. */
export interface Operand { data: Float64Array | Float32Array; at: number; ld: number; kMajor?: boolean }

/**
 * C(m×n) += A(m×k) · Bt(n×k)ᵀ on blocks of larger arrays (the blocked Householder QR updates a
 * matrix in place). Panels of A and Bᵀ are packed four rows interleaved into the WebAssembly
 * kernel's memory (from columns for a kMajor block), which computes each panel's product
 * (gemm-kernel.wat); the panel products are added to C here, or subtracted with `subtract`
 * (C −= A · Btᵀ, bit for bit C += (−A) · Btᵀ: the blocked Cholesky and right solve).
 * C may share an array with A or Bt where their blocks do not overlap.
 */
export function gemmStrided(A: Operand, Bt: Operand, m: number, k: number, n: number, C: Block, subtract = false): void {
  if (m === 0 || n === 0 || k === 0) return;
  // Panels no larger than the product needs (small products are called often: bidiagonal-dc.ts).
  const kb = Math.min(KB, k);
  const mb = Math.min(MB, (m + 3) & ~3);
  const nb = Math.min(NB, (n + 3) & ~3);
  const ap = 0, bp = mb * kb, cp = bp + nb * kb;
  const { f64, panel } = gemmKernel(cp + mb * nb);
  const Cd = C.data;
  const ldc = C.ld;
  for (let k0 = 0; k0 < k; k0 += KB) {
    const kl = Math.min(KB, k - k0);
    for (let j0 = 0; j0 < n; j0 += NB) {
      const nl = Math.min(NB, n - j0);
      const nl4 = (nl + 3) & ~3;
      pack(Bt, n, k0, kl, j0, nl4, f64, bp);
      for (let i0 = 0; i0 < m; i0 += MB) {
        const ml = Math.min(MB, m - i0);
        pack(A, m, k0, kl, i0, (ml + 3) & ~3, f64, ap);
        panel(ap * 8, bp * 8, cp * 8, (ml + 3) & ~3, nl4, kl);
        for (let i = 0; i < ml; i++) addRow(Cd, C.at + (i0 + i) * ldc + j0, f64, cp + i * nl4, nl, subtract);
      }
    }
  }
}

/** C[o..o+n) += p[s..s+n), or −= with `subtract`. Unrolled by four: V8's loop of one element a
 *  step took 1.1 ns an element, this one 0.65 (throwaway probe, in cache). */
function addRow(C: Float64Array, o: number, p: Float64Array, s: number, n: number, subtract: boolean): void {
  const n4 = n & ~3;
  let j = 0;
  if (subtract) {
    for (; j < n4; j += 4) {
      C[o + j] -= p[s + j]; C[o + j + 1] -= p[s + j + 1]; C[o + j + 2] -= p[s + j + 2]; C[o + j + 3] -= p[s + j + 3];
    }
    for (; j < n; j++) C[o + j] -= p[s + j];
  } else {
    for (; j < n4; j += 4) {
      C[o + j] += p[s + j]; C[o + j + 1] += p[s + j + 1]; C[o + j + 2] += p[s + j + 2]; C[o + j + 3] += p[s + j + 3];
    }
    for (; j < n; j++) C[o + j] += p[s + j];
  }
}

/** Packs rows r0..r0+count-1 (zero past `rows`), columns k0..k0+kl-1, four rows interleaved, at out[at].
 *  A whole group of four is read a column at a time, so the writes are sequential (0.56 against
 *  1.1 ns an element row by row, throwaway probe). */
function pack(src: Operand, rows: number, k0: number, kl: number, r0: number, count: number, out: Float64Array, at: number): void {
  if (src.kMajor) return packColumns(src, rows, k0, kl, r0, count, out, at);
  const { data, at: from, ld } = src;
  for (let r = 0; r < count; r += 4) {
    const base = at + r * kl;
    if (r0 + r + 3 < rows) {
      const s0 = from + (r0 + r) * ld + k0, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
      for (let t = 0, o = base; t < kl; t++, o += 4) {
        out[o] = data[s0 + t]; out[o + 1] = data[s1 + t]; out[o + 2] = data[s2 + t]; out[o + 3] = data[s3 + t];
      }
      continue;
    }
    for (let q = 0; q < 4; q++) {
      const row = r0 + r + q;
      if (row < rows) {
        const s = from + row * ld + k0;
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

/** pack() for a kMajor block: its rows r are the array's columns, so each k step reads four
 *  neighbouring values. */
function packColumns(src: Operand, rows: number, k0: number, kl: number, r0: number, count: number, out: Float64Array, at: number): void {
  const { data, at: from, ld } = src;
  for (let r = 0; r < count; r += 4) {
    const base = at + r * kl;
    for (let t = 0, o = base, s = from + k0 * ld + r0 + r; t < kl; t++, o += 4, s += ld) {
      if (r0 + r + 3 < rows) {
        out[o] = data[s]; out[o + 1] = data[s + 1]; out[o + 2] = data[s + 2]; out[o + 3] = data[s + 3];
      } else {
        for (let q = 0; q < 4; q++) out[o + q] = r0 + r + q < rows ? data[s + q] : 0;
      }
    }
  }
}
