// inRowPieces (sidecar/tensor/row-pieces.ts): a row-wise function over pieces of the rows gives the
// whole call's values to the bit, in the pieces it says, leaks nothing when a piece fails, and runs
// in one piece where it cannot copy (cpu backend, under a gradient tape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { inRowPieces } from '../../../sidecar/tensor/row-pieces';
import '../../../sidecar/tensor/gradients'; // registers tfjs's gradient functions

const mlp = (w: tf.Tensor2D) => (xs: tf.Tensor2D) => tf.tidy(() => {
  const g = tf.matMul(xs, w);
  return tf.mul(tf.mul(g, tf.sigmoid(g)), tf.add(g, 1)) as tf.Tensor2D;
});

test('inRowPieces on wasm: the whole call\'s bits, pieces of at most maxRows, nothing left behind', async () => {
  await initBackend('wasm');
  const x = tf.randomNormal([10, 6], 0, 1, 'float32', 1) as tf.Tensor2D;
  const w = tf.randomNormal([6, 7], 0, 1, 'float32', 2) as tf.Tensor2D;
  const whole = mlp(w)(x);
  const before = tf.memory().numTensors;
  const seen: number[] = [];
  const f = (xs: tf.Tensor2D) => { seen.push(xs.shape[0]); return mlp(w)(xs); };
  const got = inRowPieces(x, 3, f);
  assert.deepEqual(seen, [3, 3, 3, 1]);
  assert.deepEqual(got.shape, [10, 7]);
  assert.deepEqual(got.dataSync(), whole.dataSync());
  got.dispose();
  assert.equal(tf.memory().numTensors, before);
  seen.length = 0;
  tf.dispose(inRowPieces(x, 10, f));
  assert.deepEqual(seen, [10], 'no more rows than maxRows: one call');
  // A piece that fails (here the third): the output made so far and the pieces are disposed.
  let calls = 0;
  assert.throws(() => inRowPieces(x, 3, (xs) => { if (++calls === 3) throw new Error('piece failed'); return mlp(w)(xs); }), /piece failed/);
  assert.throws(() => inRowPieces(x, 4, (xs) => tf.zeros([xs.shape[0], 2 + xs.shape[0]]) as tf.Tensor2D), /a piece of 2 rows gave a float32 \[2, 4\]/);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w, whole]);
});

test('inRowPieces on wasm: the output is written where it lies after its allocation grew the heap', async () => {
  await initBackend('wasm');
  const heapBytes = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.byteLength;
  const width = Math.ceil(heapBytes / 8);
  const x = tf.tensor2d([[1], [2], [3], [4]]);
  // A piece is 2 × width floats (the heap's size), the output twice that: making it grows the heap
  // past where the piece left it.
  const out = inRowPieces(x, 2, (xs) => tf.tile(tf.mul(xs, 0.5), [1, width]) as tf.Tensor2D);
  const v = out.dataSync();
  assert.deepEqual([v[0], v[2 * width - 1], v[2 * width], v[4 * width - 1]], [0.5, 1, 1.5, 2]);
  tf.dispose([x, out]);
});

test('inRowPieces runs f once on cpu and under a gradient tape, and the gradient flows', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await initBackend(backend);
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 3) as tf.Tensor2D;
    const w = tf.randomNormal([4, 5], 0, 1, 'float32', 4) as tf.Tensor2D;
    const seen: number[] = [];
    const f = (xs: tf.Tensor2D) => { seen.push(xs.shape[0]); return mlp(w)(xs); };
    const dx = tf.grad((xi: tf.Tensor) => tf.sum(inRowPieces(xi as tf.Tensor2D, 2, f)))(x);
    const expected = tf.grad((xi: tf.Tensor) => tf.sum(mlp(w)(xi as tf.Tensor2D)))(x);
    assert.deepEqual(seen, [6], `${backend}: under a tape, one piece`);
    assert.deepEqual(dx.dataSync(), expected.dataSync());
    seen.length = 0;
    tf.dispose(inRowPieces(x, 2, f));
    assert.deepEqual(seen, backend === 'cpu' ? [6] : [2, 2, 2]);
    tf.dispose([x, w, dx, expected]);
  }
});
