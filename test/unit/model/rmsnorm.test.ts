// RMSNorm by the kernel on tfjs-wasm's heap (norm.ts) against a float64 computation, and the kernel
// stepping aside under a gradient tape (tfjs's ops, differentiable).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { initBackend } from '../../../sidecar/tensor/backend';
import { hostRmsNorm, rmsNorm } from '../../../sidecar/model/norm';
import { prng } from '../../fixtures/checkpoints';

before(async () => { await initBackend('wasm'); });

const values = (n: number, scale: number, seed: number) => {
  const rand = prng(seed);
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
};

const close = (got: Float32Array | Int32Array | Uint8Array, want: Float64Array, tol: number, label: string) =>
  got.forEach((x, i) => assert.ok(Math.abs(x - want[i]) <= tol * Math.max(1, Math.abs(want[i])), `${label} ${i}: ${x} vs ${want[i]}`));

test('host RMSNorm: one pass on the wasm heap, to 1e-6 of float64, and tfjs\'s ops under a tape', () => {
  const [rows, cols, eps] = [37, 64, 1e-5];
  const x = values(rows * cols, 3, 1);
  const w = values(cols, 1, 2);
  const want = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[r * cols + j] ** 2;
    const k = 1 / Math.sqrt(ss / cols + eps);
    for (let j = 0; j < cols; j++) want[r * cols + j] = x[r * cols + j] * k * w[j];
  }
  const xt = tf.tensor2d(x, [rows, cols]);
  const wt = tf.tensor1d(w);
  const host = hostRmsNorm(xt, wt, eps);
  assert.ok(host, 'the kernel applies on the threaded wasm backend');
  close(host.dataSync(), want, 1e-6, 'host');
  // Under a tape the host kernel steps aside (no gradient through it): tfjs's ops, differentiable.
  const g = tf.grad((a: tf.Tensor) => tf.sum(rmsNorm(a as tf.Tensor2D, wt, eps)))(xt);
  assert.ok(Number.isFinite(g.dataSync()[0]));
  tf.dispose([xt, wt, host, g]);
});

test('the RMSNorm kernel steps aside under a gradient tape', () => {
  const x = tf.ones([2, 8]) as tf.Tensor2D;
  const w = tf.ones([8]);
  tf.grad((a: tf.Tensor) => {
    assert.equal(hostRmsNorm(a as tf.Tensor2D, w, 1e-5), undefined);
    return tf.sum(a);
  })(x).dispose();
  tf.dispose([x, w]);
});
