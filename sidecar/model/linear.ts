// A projection as the forward pass runs it: dense W or our factorized u·v, both in the checkpoint's
// math layout ([out, in], [out, r], [r, in]) so methods can read and replace them directly.
// A factored projection may carry a diagonal s between v and u (u·diag(s)·v): the singular values
// that GRASP differentiates and the learnable spectrum scale of SoCo. s belongs to the method that
// installed it (often a tf.Variable it trains), so disposeLinear leaves it alone.
import * as tf from '@tensorflow/tfjs-core';
import { hostMatMulT } from './linear-host';

export type Linear =
  | { kind: 'dense'; w: tf.Tensor2D /* [out, in] */; b?: tf.Tensor1D }
  | { kind: 'factored'; u: tf.Tensor2D /* [out, r] */; v: tf.Tensor2D /* [r, in] */; s?: tf.Tensor1D /* [r] */; b?: tf.Tensor1D };

// x Wᵀ by our kernel on tfjs-wasm's heap where it applies (linear-host.ts), else as matMul(x,
// transpose(W)): tfjs-wasm's matMul with transposeB takes a slow path, 12× slower than an explicit
// transpose plus a plain matMul on a 2048×256·256×688 product (bench/forward.ts runs the whole
// model; measured with both forms while writing this).
const mulT = (x: tf.Tensor2D, w: tf.Tensor2D) => hostMatMulT(x, w) ?? tf.matMul(x, tf.transpose(w)) as tf.Tensor2D;

/** y = x Wᵀ (+ b) for x [tokens, in] → [tokens, out]; factored as ((x vᵀ) ⊙ s) uᵀ, never forming u·v. */
export function applyLinear(x: tf.Tensor2D, l: Linear): tf.Tensor2D {
  return tf.tidy(() => {
    let y: tf.Tensor2D;
    if (l.kind === 'dense') y = mulT(x, l.w);
    else {
      const z = mulT(x, l.v);
      y = mulT(l.s ? tf.mul(z, l.s) as tf.Tensor2D : z, l.u);
    }
    return (l.b ? tf.add(y, l.b) : y) as tf.Tensor2D;
  });
}

export function linearShape(l: Linear): { out: number; in: number; rank?: number } {
  return l.kind === 'dense' ? { out: l.w.shape[0], in: l.w.shape[1] } : { out: l.u.shape[0], in: l.v.shape[1], rank: l.v.shape[0] };
}

export function disposeLinear(l: Linear): void {
  if (l.kind === 'dense') l.w.dispose();
  else {
    l.u.dispose();
    l.v.dispose();
  }
  l.b?.dispose();
}
