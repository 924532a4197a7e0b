// The gradient helpers the differentiating methods share (sidecar/tensor/gradients.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { withPlainMatMulGrad } from '../../../sidecar/tensor/gradients';

test('gradients are registered: tf.grad of a matMul chain works on the cpu backend', async () => {
  await initBackend('cpu');
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor2D, tf.tensor2d([[1], [2]]))))(tf.tensor2d([[3, 4]]));
  assert.deepEqual(Array.from(g.dataSync()), [1, 2]);
});

test('plain-matMul gradient: equal to tfjs\'s for every transpose combination, restored afterwards', () => {
  const a = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 1);
  const b = tf.randomNormal([2, 4, 5], 0, 1, 'float32', 2);
  const before = tf.getGradient(tf.BatchMatMul);
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]]) {
    const x = ta ? tf.transpose(a, [0, 2, 1]) : a;
    const y = tb ? tf.transpose(b, [0, 2, 1]) : b;
    const f = (p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, ta, tb), tf.reshape(tf.range(0, 30), [2, 3, 5])));
    const want = tf.grads(f)([x, y]).map((g) => Array.from(g.dataSync()));
    const got = withPlainMatMulGrad(() => tf.grads(f)([x, y])).map((g) => Array.from(g.dataSync()));
    got.forEach((g, k) => g.forEach((v, i) => assert.ok(Math.abs(v - want[k][i]) < 1e-4, `${ta},${tb} input ${k}`)));
  }
  assert.equal(tf.getGradient(tf.BatchMatMul), before);
});
