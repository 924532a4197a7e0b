// Tensor data to and from host memory in one copy (sidecar/tensor/host-data.ts), on the wasm
// backend (the heap read and written in place) and on the cpu backend (dataSync, tf.tensor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { floatTensor, readFloats } from '../../../sidecar/tensor/host-data';

for (const backend of ['wasm', 'cpu'] as const) {
  test(`host data on ${backend}: readFloats at an offset, floatTensor's values and ownership, no tensor left`, async () => {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    const src = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
    const t = floatTensor(src, [3, 4]);
    assert.deepEqual(t.shape, [3, 4]);
    assert.equal(t.dtype, 'float32');
    src.fill(9); // the tensor holds its own copy
    assert.deepEqual(Array.from(t.dataSync()), Array.from({ length: 12 }, (_, i) => i * 0.5 - 2));
    // A reshape shares the data: read through it, into the middle of a larger array.
    const r = tf.reshape(t, [12]);
    const dst = new Float32Array(16).fill(-1);
    readFloats(r, dst, 3);
    assert.deepEqual(Array.from(dst), [-1, -1, -1, ...Array.from({ length: 12 }, (_, i) => i * 0.5 - 2), -1]);
    // A product's output (made by a kernel) reads the same way.
    const p = tf.tidy(() => tf.matMul(t, tf.ones([4, 1])));
    readFloats(p, dst);
    assert.deepEqual(Array.from(dst.subarray(0, 3)), [-5, 3, 11]);
    assert.throws(() => floatTensor(new Float32Array(5), [2, 3]), /5 values for shape \[2, 3\]/);
    const ints = tf.tensor1d([1], 'int32');
    assert.throws(() => readFloats(ints, dst), /int32 tensor, not float32/);
    tf.dispose([t, r, p, ints]);
    assert.equal(tf.memory().numTensors, before);
  });
}
