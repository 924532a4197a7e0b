// SoCo's loss terms (soco.ts has the definitions and their sources). All are tfjs functions of the
// per-matrix score vectors s, so tf.variableGrads differentiates them with the model.
import * as tf from '@tensorflow/tfjs-core';
import '../tensor/gradients';

/** The teacher's side of the KL for a block of rows (see teacherTerms). */
export interface TeacherRows {
  /** p_t · headᵀ [rows, hidden]. */
  g: tf.Tensor2D;
  /** x_t·g − logsumexp(x_t·head) [rows] = Σ_v p_t log p_t. */
  c: tf.Tensor1D;
}

/**
 * For rows x [rows, hidden] of final-normed teacher states: the KL of a student row x_s is
 * logsumexp(x_s·head) − x_s·g + c (Σ_v p_t = 1), so training holds [rows, hidden] per teacher row
 * instead of [rows, vocab] log-probabilities. c is computed with the same ops as the student side
 * rather than as Σ p log p: a float32 sum over the vocabulary is off by ~0.07 nats per row at 32k
 * (measured on the brown-14m model), and this way a student equal to the teacher scores 0.
 */
export function teacherTerms(x: tf.Tensor2D, head: tf.Tensor2D, chunk: number): TeacherRows {
  const g: tf.Tensor2D[] = [];
  const c: tf.Tensor1D[] = [];
  try {
    for (let r = 0; r < x.shape[0]; r += chunk) {
      tf.tidy(() => {
        const xs = tf.slice(x, [r, 0], [Math.min(chunk, x.shape[0] - r), -1]);
        const z = tf.matMul(xs, head);
        const gs = tf.matMul(tf.softmax(z), tf.transpose(head)) as tf.Tensor2D;
        g.push(tf.keep(gs));
        c.push(tf.keep(tf.sub(tf.sum(tf.mul(xs, gs), -1), logSumExpRows(z)) as tf.Tensor1D));
      });
    }
    return { g: tf.concat(g, 0), c: tf.concat(c, 0) };
  } finally {
    tf.dispose([...g, ...c]);
  }
}

/**
 * Row-wise logsumexp with its gradient written as softmax: tfjs differentiates its own logsumexp
 * through the max it subtracts, an Equal mask over [rows, vocab] that wasm broadcasts slowly (316 ms
 * of a 505 ms step on the test model, measured with tf.profile); mathematically that term is 0.
 */
const logSumExpRows = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [z, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
  const value = tf.logSumExp(z, -1) as tf.Tensor1D;
  save([z, value]);
  return {
    value,
    gradFunc: (dy: tf.Tensor1D, [zs, v]: tf.Tensor[]) => tf.mul(tf.expandDims(dy, -1), tf.exp(tf.sub(zs, tf.expandDims(v, -1)))),
  };
});

/** Σ over rows of KL(p_t ‖ p_s) for student rows x [rows, hidden] (final-normed); differentiable in x. */
export function klSum(x: tf.Tensor2D, head: tf.Tensor2D, teacher: TeacherRows, chunk: number): tf.Scalar {
  return tf.tidy(() => {
    // A chain of adds, not tf.addN: tfjs has no gradient for AddN.
    let total: tf.Scalar = tf.scalar(0);
    for (let r = 0; r < x.shape[0]; r += chunk) {
      const n = Math.min(chunk, x.shape[0] - r);
      const xs = tf.slice(x, [r, 0], [n, -1]);
      const row = tf.sub(logSumExpRows(tf.matMul(xs, head)), tf.sum(tf.mul(xs, tf.slice(teacher.g, [r, 0], [n, -1])), -1));
      total = tf.add(total, tf.sum(tf.add(row, tf.slice(teacher.c, [r], [n])))) as tf.Scalar;
    }
    return total;
  });
}

/** Parameters a factorization with these kept counts stores: Σ_j k_j (m_j + n_j). */
export interface Costs {
  /** m_j + n_j: the parameters of one component of matrix j. */
  perComponent: number[];
  /** The parameter budget B (what the plan's ranks store). */
  budget: number;
  /** Parameters of an average component: L_dec and the sparsity term count in these units. */
  unit: number;
}

/** Hard count: parameters of the components with s > τ (the quantity L_dec drives to B). */
export function keptParams(s: ArrayLike<number>[], perComponent: number[], threshold: number): number {
  let p = 0;
  s.forEach((v, j) => {
    for (let i = 0; i < v.length; i++) if (v[i] > threshold) p += perComponent[j];
  });
  return p;
}

/**
 * Its differentiable surrogate: Σ_j (m_j + n_j) Σ_i clip(s_ji, 0, 1). Equal to the hard count when
 * every s is 0 or ≥ 1 (polarised); scores above 1 (amplified survivors) feel no pull.
 */
export function softKeptParams(s: tf.Tensor1D[], perComponent: number[]): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    s.forEach((v, j) => { total = tf.add(total, tf.mul(perComponent[j], tf.sum(tf.clipByValue(v, 0, 1)))) as tf.Scalar; });
    return total;
  });
}

/**
 * L_dec = max(0, P − B)/unit for the hard count P, with the gradient of the soft count (a
 * straight-through estimator): the value is the exact excess in average components, the gradient
 * pulls every score in [0, 1] down in proportion to its component's parameters. 0 at or under budget.
 */
export function decLoss(s: tf.Tensor1D[], costs: Costs, hard: number): tf.Scalar {
  if (hard <= costs.budget) return tf.scalar(0);
  return tf.tidy(() => {
    const soft = softKeptParams(s, costs.perComponent);
    const offset = hard - costs.budget - soft.dataSync()[0];
    return tf.div(tf.add(soft, offset), costs.unit) as tf.Scalar;
  });
}

/**
 * Stage 3's polarising term once the decisions are fixed: pruned scores are pulled to 0 (L1), kept
 * ones up to at least 1 (hinge), each weighted by its component's parameters; frozen[j] matrices
 * (kept dense) are left out. keep[j][i] is 1 for a kept component.
 */
export function sparsityLoss(s: tf.Tensor1D[], keep: Float32Array[], frozen: boolean[], costs: Costs): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    s.forEach((v, j) => {
      if (frozen[j]) return;
      const k = tf.tensor1d(keep[j]);
      const term = tf.add(tf.mul(tf.sub(1, k), v), tf.mul(k, tf.relu(tf.sub(1, v))));
      total = tf.add(total, tf.mul(costs.perComponent[j] / costs.unit, tf.sum(term))) as tf.Scalar;
    });
    return total;
  });
}
