// GPT-2's activation (layer.ts gelu): the same bits as the formulas written as one expression, for
// both forms; at most two intermediates alive at once beside its input (the one expression held
// eight); the input disposed; differentiable under a tape; an unknown activation is a clear error.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { initBackend } from '../../../sidecar/tensor/backend';
import { gelu } from '../../../sidecar/model/layer';
import { prng } from '../../fixtures/checkpoints';

before(async () => { await initBackend('wasm'); });

const input = (rows: number, cols: number) => {
  const rand = prng(3);
  return tf.tensor2d(Float32Array.from({ length: rows * cols }, () => (rand() * 2 - 1) * 6), [rows, cols]);
};

const expressions: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  gelu: (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))),
  gelu_new: (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))),
};

for (const kind of ['gelu', 'gelu_new']) {
  test(`${kind}: the one expression's bits, two intermediates at most, its input disposed`, async () => {
    const x = input(64, 96);
    const want = tf.tidy(() => expressions[kind](x));
    const arg = tf.clone(x);
    const before = tf.memory().numBytes;
    let out!: tf.Tensor2D;
    const info = await tf.profile(() => { out = gelu(arg, kind); });
    assert.ok(arg.isDisposed, 'the input is disposed');
    assert.deepEqual(out.dataSync(), want.dataSync());
    // Beside the input (counted in `before`): a step's input and output, and its scalar constants.
    const held = (info.peakBytes - before) / (4 * x.size);
    assert.ok(held < 2.1, `${held} intermediates at the peak`);
    tf.dispose([x, want, out]);
  });
}

test('gelu under a gradient tape, and an unknown activation', () => {
  const x = input(4, 8);
  const g = tf.grad((a: tf.Tensor) => tf.sum(gelu(tf.clone(a) as tf.Tensor2D, 'gelu_new')))(x);
  const want = tf.grad((a: tf.Tensor) => tf.sum(expressions.gelu_new(a)))(x);
  // The backward pass multiplies in another order: the same to float32 rounding, not to the bit.
  const [a, b] = [g.dataSync(), want.dataSync()];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-6 * Math.max(1, Math.abs(b[i])), `${i}: ${v} vs ${b[i]}`));
  assert.throws(() => gelu(tf.clone(x), 'relu'), /activation_function "relu" is not supported/);
  tf.dispose([x, g, want]);
});
