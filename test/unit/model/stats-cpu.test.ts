// The Gram collector where tfjs's memory is not shared (the cpu backend): pooled batches are copied
// into shared buffers for the workers, with the host kernel's bits (sidecar/stats/gram.ts).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { GramCollector } from '../../../sidecar/stats/gram';
import { linalgPool } from '../../../sidecar/linalg/pool';
import { floatsNow } from '../../../sidecar/tensor/host-data';

before(async () => { await initBackend('cpu'); });

test('GramCollector (pool products) without a shared heap: batches copied for the workers, the host kernel\'s bits, nothing held', async () => {
  const [rows, d] = [600, 40];
  const batches = [0, 1, 2].map((b) => tf.tensor2d(Float32Array.from({ length: rows * d }, (_, i) => Math.cos(i * 0.017 + b)), [rows, d]));
  assert.ok(!(floatsNow(batches[0]).buffer instanceof SharedArrayBuffer), 'not shared memory here');
  const host = new GramCollector(d, { products: 'host' });
  const pooled = new GramCollector(d, { products: 'pool' });
  const jobs = linalgPool().jobsDone;
  const tensors = tf.memory().numTensors;
  for (const x of batches) {
    host.add(x);
    pooled.add(x);
  }
  assert.equal(tf.memory().numTensors, tensors, 'no tensor holds a batch');
  tf.dispose(batches);
  assert.deepEqual(await pooled.result(), await host.result());
  assert.ok(linalgPool().jobsDone > jobs, 'on the pool');
});
