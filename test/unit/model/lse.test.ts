// The next-token NLL of logit rows by the kernel on tfjs-wasm's heap (lse.ts) against a float64
// computation: vocabularies that are and are not a multiple of four (the padded last group), logits
// far below a row's maximum (terms that underflow to 0), and the kernel stepping aside under a
// gradient tape; and StreamingModel.nll on the reference model against its logits in float64.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { initBackend } from '../../../sidecar/tensor/backend';
import { hostNllSum } from '../../../sidecar/model/lse';
import { StreamingModel } from '../../../sidecar/model/model';
import { prng } from '../../fixtures/checkpoints';
import { MODEL } from '../../helpers/paths';

before(async () => { await initBackend('wasm'); });

/** Σ_r (log Σ_j e^x[r, j] − x[r, t_r]) in float64. */
function nllSum(x: Float32Array, rows: number, cols: number, targets: Int32Array): number {
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[r * cols + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[r * cols + j] - m);
    sum += m + Math.log(s) - x[r * cols + targets[r]];
  }
  return sum;
}

for (const cols of [4, 5, 6, 7, 1000, 1003]) {
  test(`host NLL of ${cols}-wide rows: to 1e-6 of float64`, () => {
    const rows = 33;
    const rand = prng(cols);
    // Scores up to ±30, and a third of each row's far below the rest (its terms are 0 in float32).
    const x = Float32Array.from({ length: rows * cols }, (_, i) => (rand() * 2 - 1) * 30 - (i % 3 === 0 ? 200 : 0));
    const targets = Int32Array.from({ length: rows }, () => Math.floor(rand() * cols));
    const logits = tf.tensor2d(x, [rows, cols]);
    const got = hostNllSum(logits, targets);
    assert.ok(got !== undefined, 'the kernel applies on the threaded wasm backend');
    const want = nllSum(x, rows, cols, targets);
    assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want), `${got} vs ${want}`);
    logits.dispose();
  });
}

test('the NLL kernel steps aside under a gradient tape, and checks its targets', () => {
  const x = tf.ones([2, 8]) as tf.Tensor2D;
  tf.grad((a: tf.Tensor) => {
    assert.equal(hostNllSum(a as tf.Tensor2D, new Int32Array(2)), undefined);
    return tf.sum(a);
  })(x).dispose();
  assert.throws(() => hostNllSum(x, new Int32Array(3)), /3 targets for 2 rows/);
  x.dispose();
});

test('StreamingModel.nll: the summed NLL of the reference model\'s logits, to 1e-6 of float64', async () => {
  const model = await StreamingModel.open(MODEL);
  try {
    const [B, T] = [2, 64];
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % 32000);
    const h = await model.embed(ids, B, T);
    const got = await model.nll(h, ids);
    const logits = await model.logits(h);
    const x = logits.dataSync() as Float32Array;
    const V = model.vocabSize;
    // Each window's positions 0..T−2 predict the next id.
    let want = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T - 1; t++) {
        const row = x.subarray((b * T + t) * V, (b * T + t + 1) * V);
        want += nllSum(row, 1, V, Int32Array.of(ids[b * T + t + 1]));
      }
    }
    assert.equal(got.count, B * (T - 1));
    assert.ok(Math.abs(got.sum - want) <= 1e-6 * want, `${got.sum} vs ${want}`);
    tf.dispose([h, logits]);
  } finally {
    await model.close();
  }
});
