// TensorFlow's own kernels (Svd, Cholesky, MatrixTriangularSolve, SelfAdjointEigV2) run by op name
// through tfjs-node's NodeJSKernelBackend.executeMultipleOutputs, so tfjs-node-gpu does the work on
// the GPU. UNVERIFIED: tfjs-node cannot be installed on our machines (its install downloads
// libtensorflow), so this file is written against tfjs-node 4.22's sources and has never run.
// tfjs-node has no float64 tensors, so these kernels compute in float32 (errors about 1e-7·‖A‖,
// against ε·‖A‖ for the portable path); the shift rule for Cholesky is shared with the portable path.
import * as tf from '@tensorflow/tfjs-core';
import { identity, leadingColumns, matmul, matrix, toFloat32, transpose, type Matrix } from './matrix';
import { choleskyShifted } from './cholesky';
import type { Linalg } from './index';

interface OpAttr { name: string; type: number; value: unknown }
interface NodeBackend {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_BOOL: number; TF_FLOAT: number };
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
}

/** The native Linalg when tfjs-node's backend is active, else undefined. */
export function nativeLinalg(): Linalg | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const be = tf.backend() as unknown as NodeBackend;
  if (typeof be.executeMultipleOutputs !== 'function') return undefined;
  const T: OpAttr = { name: 'T', type: be.binding.TF_ATTR_TYPE, value: be.binding.TF_FLOAT };
  const flag = (name: string, value: boolean): OpAttr => ({ name, type: be.binding.TF_ATTR_BOOL, value });
  // Runs one op on float32 copies of the inputs and returns every output as float64 data.
  const run = (op: string, attrs: OpAttr[], inputs: Matrix[], outputs: number): { shape: number[]; data: Float64Array }[] => {
    const ts = inputs.map((m) => tf.tensor2d(toFloat32(m), [m.rows, m.cols]));
    try {
      const outs = be.executeMultipleOutputs(op, [...attrs, T], ts, outputs);
      const res = outs.map((t) => ({ shape: t.shape, data: Float64Array.from(t.dataSync() as Float32Array) }));
      tf.dispose(outs);
      return res;
    } finally {
      tf.dispose(ts);
    }
  };
  const mat = (o: { shape: number[]; data: Float64Array }) => matrix(o.shape[0], o.shape[1], o.data);
  const eigh = (a: Matrix, vectors: boolean) => {
    const out = run('SelfAdjointEigV2', [flag('compute_v', vectors)], [a], 2);
    return vectors ? { values: out[0].data, vectors: mat(out[1]) } : { values: out[0].data };
  };
  const factor = (a: Matrix, shift: number): Matrix | undefined => {
    const x = matrix(a.rows, a.cols, Float64Array.from(a.data));
    for (let i = 0; i < a.rows; i++) x.data[i * a.cols + i] += shift;
    try {
      const l = mat(run('Cholesky', [], [x], 1)[0]);
      // The CPU kernel throws on a non-positive pivot, the GPU kernel returns NaNs.
      return l.data.every(Number.isFinite) ? l : undefined;
    } catch {
      return undefined;
    }
  };
  const solveLeft = (t: Matrix, b: Matrix, lower: boolean, adjoint: boolean) =>
    mat(run('MatrixTriangularSolve', [flag('lower', lower), flag('adjoint', adjoint)], [t, b], 1)[0]);
  return {
    name: 'native',
    async svd(a, opts = {}) {
      const vectors = opts.vectors ?? true;
      const out = run('Svd', [flag('compute_uv', vectors), flag('full_matrices', opts.full ?? false)], [a], 3);
      if (!vectors) return { s: out[0].data };
      const [u, v] = [mat(out[1]), mat(out[2])];
      return opts.top ? { s: out[0].data, u: leadingColumns(u, opts.top), v: leadingColumns(v, opts.top) } : { s: out[0].data, u, v };
    },
    async cholesky(a, opts) {
      return choleskyShifted(a, opts, { factor, lambdaMin: (x) => eigh(x, false).values[0] });
    },
    async solveTriangular(t, b, opts) {
      if ((opts.side ?? 'left') === 'left') return solveLeft(t, b, opts.lower, !!opts.transpose);
      // X op(T) = B  ⇔  op(T)ᵀ Xᵀ = Bᵀ.
      return transpose(solveLeft(t, transpose(b), opts.lower, !opts.transpose));
    },
    async invTriangular(t, lower) {
      return solveLeft(t, identity(t.rows), lower, false);
    },
    async eigh(a, opts = {}) {
      return eigh(a, opts.vectors ?? true);
    },
    // tfjs-node has no float64: products stay on the host in float64, as on the portable path.
    async svdOfProduct(a, b, top) {
      return this.svd(matmul(a, b), { top });
    },
    async refitLeft(w, b, g, opts = {}) {
      const bg = matmul(b, g, { transB: true }); // G is symmetric
      const { l } = await this.cholesky(matmul(bg, b, { transB: true }), opts);
      const y = await this.solveTriangular(l, matmul(bg, w, { transB: true }), { lower: true });
      return transpose(await this.solveTriangular(l, y, { lower: true, transpose: true }));
    },
    // No pool: nothing is copied per call.
    readOnly: (a) => a,
  };
}
