// Tensor data to and from host memory in one copy (sidecar/tensor/host-data.ts), on the wasm
// backend (the heap read and written in place) and on the cpu backend (dataSync, tf.tensor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { filledTensor, floatTensor, readFloats } from '../../../sidecar/tensor/host-data';

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

for (const backend of ['wasm', 'cpu'] as const) {
  test(`filledTensor on ${backend}: values written after other ops grew the heap, disposed when the fill fails`, async () => {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer;
    const heapBytes = backend === 'wasm' ? heap().byteLength : 0;
    let grown: tf.Tensor | undefined;
    const t = await filledTensor([2, 3], async (dst) => {
      // What a file read's wait allows: other ops run, and here one grows the heap (more than its
      // size) before the values are written (a shared heap grows in place: the view stays valid).
      await new Promise((r) => setImmediate(r));
      grown = tf.zeros([heapBytes / 4 + 1]);
      dst.set([1, 2, 3, 4, 5, 6]);
    });
    if (backend === 'wasm') {
      assert.ok(heap() instanceof SharedArrayBuffer, 'the threaded build: the shared path was taken');
      assert.ok(heap().byteLength > heapBytes, 'the heap grew during the fill');
    }
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(Array.from(t.dataSync()), [1, 2, 3, 4, 5, 6]);
    const sum = tf.add(t, 1);
    assert.deepEqual(Array.from(sum.dataSync()), [2, 3, 4, 5, 6, 7]);
    tf.dispose([t, grown!, sum]);
    await assert.rejects(filledTensor([4], async () => { throw new Error('read failed'); }), /read failed/);
    assert.equal(tf.memory().numTensors, before);
  });
}
