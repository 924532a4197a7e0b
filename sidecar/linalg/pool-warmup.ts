// A pool worker's first jobs ran its JavaScript kernels cold: interpreted, then compiled by
// TurboFan with partial type feedback and recompiled as new paths ran (bench/compress: the first
// layer's SVDs took 370 ms against 46 ms warm, and V8's background threads, mostly TurboFan on the
// workers' functions, 1.16 CPU-s of a compression). A worker of the process's pool therefore runs this synthetic work once as it starts,
// op by op, until the first real job is posted: the shapes SVD-LLM's jobs take (a Gram, its
// Cholesky factor, the SVD of a square, a tall and a wide matrix times that factor, a right solve,
// a refit), with the weights in float32 as SVD-LLM passes them (methods/weights.ts). Nothing here
// depends on any job; it only compiles the code the jobs will run.
import { matrix, matmul, toFloat32, transpose, type Matrix, type ReadMatrix } from './matrix';
import { runOp, withData, type CholeskyParts } from './pool-ops';
import type { SvdParts } from './svd';

/** Deterministic values in [−0.5, 0.5). */
function filled(rows: number, cols: number, seed: number): Matrix {
  let s = seed;
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5));
}

/** a's values in float32, as a projection's weights come. */
const single = (a: Matrix): ReadMatrix => withData<ReadMatrix>(a, toFloat32(a));

/** Runs the warm-up, a step at a time, until `stop()` says a real job is waiting. */
export function warmUp(stop: () => boolean): void {
  const n = 256;
  const x = filled(2 * n, n, 1);
  let g = x;
  let l = x;
  const steps = [
    () => runOp({ op: 'gram', x: Float32Array.from(x.data), rows: 2 * n, dim: n }),
    () => {
      g = matmul(x, x, { transA: true });
      for (let i = 0; i < n; i++) g.data[i * n + i] += 1;
      l = (runOp({ op: 'cholesky', a: g }) as CholeskyParts).l;
    },
    ...[n, 2 * n, n / 2].map((m) => () => {
      const top = Math.floor(m / 3);
      const vt = transpose((runOp({ op: 'svdOfProduct', a: single(filled(m, n, m)), b: l, top }) as SvdParts).v!);
      runOp({ op: 'solve', t: l, b: vt, o: { lower: true, side: 'right' } });
      runOp({ op: 'refitLeft', w: single(filled(m, n, m + 1)), b: vt, g });
    }),
  ];
  for (const step of steps) {
    if (stop()) return;
    step();
  }
}
