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
  const t = matrix(a.cols, a.rows);
  const B = 32; // blocked so both sides stay in cache
  for (let i0 = 0; i0 < a.rows; i0 += B) {
    for (let j0 = 0; j0 < a.cols; j0 += B) {
      const iEnd = Math.min(i0 + B, a.rows);
      const jEnd = Math.min(j0 + B, a.cols);
      for (let i = i0; i < iEnd; i++) for (let j = j0; j < jEnd; j++) t.data[j * a.rows + i] = a.data[i * a.cols + j];
    }
  }
  return t;
}

/** C = op(A) op(B); i-k-j order over row-major data keeps the inner loop contiguous. */
export function matmul(a: Matrix, b: Matrix, opts: { transA?: boolean; transB?: boolean } = {}): Matrix {
  const A = opts.transA ? transpose(a) : a;
  const Bm = opts.transB ? transpose(b) : b;
  if (A.cols !== Bm.rows) throw new Error(`matmul: ${A.rows}×${A.cols} times ${Bm.rows}×${Bm.cols}`);
  const m = A.rows;
  const k = A.cols;
  const n = Bm.cols;
  const c = matrix(m, n);
  const ad = A.data;
  const bd = Bm.data;
  const cd = c.data;
  const KB = 128;
  for (let k0 = 0; k0 < k; k0 += KB) {
    const kEnd = Math.min(k0 + KB, k);
    for (let i = 0; i < m; i++) {
      const ci = i * n;
      for (let kk = k0; kk < kEnd; kk++) {
        const aik = ad[i * k + kk];
        if (aik === 0) continue;
        const bk = kk * n;
        for (let j = 0; j < n; j++) cd[ci + j] += aik * bd[bk + j];
      }
    }
  }
  return c;
}

export function frobenius(a: Matrix): number {
  let s = 0;
  for (const x of a.data) s += x * x;
  return Math.sqrt(s);
}
