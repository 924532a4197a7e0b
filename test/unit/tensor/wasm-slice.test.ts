// The wasm backend's Slice, Unpack and SplitV (sidecar/tensor/wasm-slice.ts): the same values as
// slicing the array by hand, for contiguous slices (read inside the heap, never copied out) and
// for the others (tfjs's own kernels), float32 and int32, before and after the heap grows.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';

before(async () => { await initBackend('wasm'); });

/** x[i0..i0+n0) × [i1..i1+n1) of a row-major r × c array. */
function part(x: ArrayLike<number>, c: number, i0: number, n0: number, i1: number, n1: number): number[] {
  const out: number[] = [];
  for (let i = i0; i < i0 + n0; i++) for (let j = i1; j < i1 + n1; j++) out.push(x[i * c + j]);
  return out;
}

/** readSync calls on the backend while fn runs (tfjs's Slice reads its whole input that way). */
function readsDuring<T>(fn: () => T): { value: T; reads: number } {
  const backend = tf.backend() as unknown as { readSync: (...a: unknown[]) => unknown };
  const own = backend.readSync;
  let reads = 0;
  backend.readSync = function (this: unknown, ...a: unknown[]) { reads++; return own.apply(this, a); };
  try {
    return { value: fn(), reads };
  } finally {
    backend.readSync = own;
  }
}

for (const dtype of ['float32', 'int32'] as const) {
  test(`${dtype}: slice, unstack and split along the first axis read in the heap; other axes as tfjs does`, () => {
    const r = 6, c = 5;
    const data = Array.from({ length: r * c }, (_, k) => (dtype === 'int32' ? k * 3 - 7 : Math.sin(k) * 100));
    const x = tf.tensor2d(data, [r, c], dtype);
    const f = (t: tf.Tensor) => Array.from(t.dataSync());

    const rows = readsDuring(() => tf.slice(x, [2, 0], [3, c]));
    assert.equal(rows.reads, 0, 'a contiguous slice is not copied out of the heap');
    assert.deepEqual(f(rows.value), part(data, c, 2, 3, 0, c).map((v) => (dtype === 'float32' ? Math.fround(v) : v)));

    const un = readsDuring(() => tf.unstack(x));
    assert.equal(un.reads, 0);
    un.value.forEach((t, i) => {
      assert.deepEqual(t.shape, [c]);
      assert.deepEqual(f(t), f(tf.slice(x, [i, 0], [1, c])));
    });

    const sp = readsDuring(() => tf.split(x, [1, 3, 2], 0));
    assert.equal(sp.reads, 0);
    assert.deepEqual(sp.value.map((t) => t.shape), [[1, c], [3, c], [2, c]]);
    assert.deepEqual(sp.value.map(f).flat(), f(x));

    // Along the second axis: not contiguous, tfjs's kernels, same values as by hand.
    const exact = (i0: number, n0: number, i1: number, n1: number) => part(f(x), c, i0, n0, i1, n1);
    assert.deepEqual(f(tf.slice(x, [1, 2], [4, 2])), exact(1, 4, 2, 2));
    tf.unstack(x, 1).forEach((t, j) => assert.deepEqual(f(t), exact(0, r, j, 1)));
    assert.deepEqual(tf.split(x, [2, 3], 1).map(f), [exact(0, r, 0, 2), exact(0, r, 2, 3)]);
    tf.dispose([x, rows.value, ...un.value, ...sp.value]);
  });
}

test('a 3-D unstack after the heap has grown: every window where it belongs', () => {
  // A tensor far larger than the heap so far makes it grow, so the views must be taken afresh.
  const big = tf.fill([64, 1024, 1024], 1);
  const [B, T, H] = [4, 3, 7];
  const data = Float32Array.from({ length: B * T * H }, (_, k) => k + 0.5);
  const x = tf.tensor3d(data, [B, T, H]);
  tf.unstack(x).forEach((w, b) => {
    assert.deepEqual(w.shape, [T, H]);
    assert.deepEqual(Array.from(w.dataSync()), Array.from(data.subarray(b * T * H, (b + 1) * T * H)));
  });
  assert.equal(big.dataSync()[big.size - 1], 1);
  tf.dispose([big, x]);
});
