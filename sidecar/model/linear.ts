// A projection as the forward pass runs it: dense W or our factorized u·v. Weights are held
// TRANSPOSED ([in, out]) because tfjs-wasm's matMul with transposeB is 10–20× slower than without
// (measured: bench/profile-forward.ts), and y = x Wᵀ is then a plain matMul.
import * as tf from '@tensorflow/tfjs-core';

export type Linear =
  | { kind: 'dense'; wT: tf.Tensor2D; b?: tf.Tensor1D }
  | { kind: 'factored'; uT: tf.Tensor2D /* [r, out] */; vT: tf.Tensor2D /* [in, r] */; b?: tf.Tensor1D };

/** y = x Wᵀ (+ b) for x [tokens, in]; factored as (x vᵀ) uᵀ, never forming u·v. */
export function applyLinear(x: tf.Tensor2D, l: Linear): tf.Tensor2D {
  return tf.tidy(() => {
    const y = l.kind === 'dense' ? tf.matMul(x, l.wT) : tf.matMul(tf.matMul(x, l.vT), l.uT);
    return (l.b ? tf.add(y, l.b) : y) as tf.Tensor2D;
  });
}

export function disposeLinear(l: Linear): void {
  if (l.kind === 'dense') l.wT.dispose();
  else {
    l.uT.dispose();
    l.vT.dispose();
  }
  l.b?.dispose();
}
