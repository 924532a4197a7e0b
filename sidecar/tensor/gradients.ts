// Gradients on tfjs-core, for the methods that differentiate the model (GRASP, SoCo).
// tfjs-core's CommonJS bundle registers no gradient functions (the tfjs union package does, and we
// do not depend on it): without the registration below every tf.grad fails with "gradient function
// not found". It is imported by relative path so that esbuild bundles it ('@tensorflow/*' is
// external in scripts/build.mjs); it fills tfjs's global registry.
//
// withPlainMatMulGrad: tfjs's registered BatchMatMul gradient multiplies with transposeA/transposeB,
// which wasm runs about 10× slower than an explicit transpose plus a plain matMul (1024×32000·
// 32000×256: 8.1 s with transposeB against 1.1 s; 4096×688·688×256: 0.67 s against 0.06 s). The same
// products with explicit transposes, installed only for one synchronous gradient call and then
// restored, so no other code ever sees it.
import * as tf from '@tensorflow/tfjs-core';
import '../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';

/** x with its last two axes swapped (matMul's batch axes stay in front). */
function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/** matMul(x, y, ta, tb) with the transposes done explicitly. */
function mm(x: tf.Tensor, y: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  return tf.matMul(ta ? swapLast(x) : x, tb ? swapLast(y) : y);
}

const plainMatMulGrad: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  // The four cases of tfjs-core's gradients/BatchMatMul_grad.ts.
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const d = dy as tf.Tensor;
    if (!transposeA && !transposeB) return { a: () => mm(d, b, false, true), b: () => mm(a, d, true, false) };
    if (!transposeA) return { a: () => mm(d, b, false, false), b: () => mm(d, a, true, false) };
    if (!transposeB) return { a: () => mm(b, d, false, true), b: () => mm(a, d, false, false) };
    return { a: () => mm(b, d, true, true), b: () => mm(d, a, true, true) };
  },
};

/** Runs f (synchronous: a tf.variableGrads call) with the plain-matMul gradient installed. */
export function withPlainMatMulGrad<T>(f: () => T): T {
  const previous = tf.getGradient(tf.BatchMatMul);
  tf.registerGradient(plainMatMulGrad);
  try {
    return f();
  } finally {
    if (previous) tf.registerGradient(previous);
    else tf.unregisterGradient(tf.BatchMatMul);
  }
}
