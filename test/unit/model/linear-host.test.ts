// A projection's product by the kernel on tfjs-wasm's heap (linear-host.ts) against float64: widths
// that are and are not multiples of the kernel's 8-column panels and 64-column windows, odd inner
// widths, one tile's rows; the same bits whichever thread ran a window; and tfjs's product where
// the kernel does not apply (a gradient tape, rows not a multiple of 4).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { initBackend } from '../../../sidecar/tensor/backend';
import { hostMatMulT } from '../../../sidecar/model/linear-host';
import { applyLinear } from '../../../sidecar/model/linear';
import { helperWindows } from '../../../sidecar/model/kernel-helper';
import { prng } from '../../fixtures/checkpoints';

before(async () => { await initBackend('wasm'); });

const random = (rows: number, cols: number, rand: () => number) =>
  tf.tensor2d(Float32Array.from({ length: rows * cols }, () => rand() * 2 - 1), [rows, cols]);

/** x Wᵀ in float64, and Σ|x||w| per entry (the scale of its float32 rounding). */
function reference(x: Float32Array, w: Float32Array, m: number, n: number, k: number) {
  const y = new Float64Array(m * n);
  const scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0, a = 0;
      for (let t = 0; t < k; t++) {
        s += x[i * k + t] * w[j * k + t];
        a += Math.abs(x[i * k + t] * w[j * k + t]);
      }
      y[i * n + j] = s;
      scale[i * n + j] = a;
    }
  }
  return { y, scale };
}

for (const [m, n, k] of [[4, 8, 8], [4, 5, 3], [8, 64, 16], [12, 130, 37], [64, 149, 256], [256, 688, 256], [128, 256, 688]]) {
  test(`x Wᵀ for x ${m}×${k}, W ${n}×${k}: every entry within float32 rounding of float64`, () => {
    const rand = prng(m * 1000 + n + k);
    const x = random(m, k, rand);
    const w = random(n, k, rand);
    const got = hostMatMulT(x, w);
    assert.ok(got, 'the kernel applies on the threaded wasm backend');
    assert.deepEqual(got.shape, [m, n]);
    const { y, scale } = reference(x.dataSync() as Float32Array, w.dataSync() as Float32Array, m, n, k);
    const g = got.dataSync();
    for (let i = 0; i < m * n; i++) {
      // k roundings of a float32 sum, each at most 2⁻²⁴ of the running |sum| ≤ Σ|x w|.
      assert.ok(Math.abs(g[i] - y[i]) <= k * 2 ** -24 * scale[i] + 1e-30, `(${Math.floor(i / n)}, ${i % n}): ${g[i]} against ${y[i]}`);
    }
    tf.dispose([x, w, got]);
  });
}

test('the windows shared with the helper thread give the bits of the caller running them all', async () => {
  const rand = prng(3);
  const x = random(64, 96, rand);
  const w = random(300, 96, rand);
  // The same product one window at a time (≤ 64 columns a call: no helper), then concatenated.
  const pieces = [0, 64, 128, 192, 256].map((c) => {
    const part = tf.slice(w, [c, 0], [Math.min(64, 300 - c), 96]) as tf.Tensor2D;
    return hostMatMulT(x, part)!;
  });
  const want = tf.concat(pieces, 1).dataSync();
  const before = helperWindows();
  for (let i = 0; i < 400 && helperWindows() === before; i++) {
    const got = hostMatMulT(x, w)!;
    assert.deepEqual(got.dataSync(), want, `call ${i}`);
    got.dispose();
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(helperWindows() > before, 'the helper thread never took a window');
});

test('tfjs runs the product under a gradient tape and for rows not a multiple of 4; applyLinear takes the kernel otherwise', () => {
  const rand = prng(5);
  const x = random(6, 16, rand);
  const w = random(24, 16, rand);
  assert.equal(hostMatMulT(x, w), undefined);
  const x4 = random(8, 16, rand);
  let inside: tf.Tensor2D | undefined | null = null;
  tf.grad((a: tf.Tensor) => {
    inside = hostMatMulT(a as tf.Tensor2D, w);
    return tf.sum(applyLinear(a as tf.Tensor2D, { kind: 'dense', w }));
  })(x4);
  assert.equal(inside, undefined);
  // Dense and factored projections: the kernel's bits.
  const direct = hostMatMulT(x4, w)!.dataSync();
  assert.deepEqual(applyLinear(x4, { kind: 'dense', w }).dataSync(), direct);
  const v = random(5, 16, rand);
  const u = random(24, 5, rand);
  assert.deepEqual(applyLinear(x4, { kind: 'factored', u, v }).dataSync(), hostMatMulT(hostMatMulT(x4, v)!, u)!.dataSync());
  assert.throws(() => hostMatMulT(x4, random(3, 15, rand)), /8×16 inputs for 3×15 weights/);
});
