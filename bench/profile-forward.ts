// Where forward-pass time goes on the active backend: per stage, one batch of the reference model.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../sidecar/tensor/backend';
import { StreamingModel, disposePassContext } from '../sidecar/model/model';
import { join } from 'node:path';

async function main() {
  const backend = await initBackend((process.argv[2] as 'wasm') ?? 'auto');
  const model = await StreamingModel.open(join(__dirname, '..', '..', 'models', 'rankwise-brown-14m'));
  const B = 8, T = 256;
  const ids = new Int32Array(B * T).map((_, i) => (i * 7919) % 32000);
  const time = async (label: string, fn: () => Promise<unknown> | unknown) => {
    const t0 = performance.now();
    const r = await fn();
    if (r instanceof tf.Tensor) await r.data();
    console.log(`${label}: ${(performance.now() - t0).toFixed(0)} ms`);
    return r;
  };
  const ctx = model.context(B, T);
  let h = (await time('embed', () => model.embed(ids, B, T))) as tf.Tensor2D;
  for (let i = 0; i < 2; i++) h = (await time(`layer ${i}`, () => model.layer(i, h, ctx))) as tf.Tensor2D;
  await time('nll', () => model.nll(h, ids, T));
  const x = tf.randomNormal([1024, 256]) as tf.Tensor2D;
  const w = tf.randomNormal([32000, 256]) as tf.Tensor2D;
  await time('matmul 1024x256x32000', () => tf.matMul(x, w, false, true));
  const l = tf.randomNormal([1024, 32000]);
  await time('logSoftmax 1024x32000', () => tf.logSoftmax(l, -1));
  const s = tf.randomNormal([8, 8, 256, 256]);
  await time('softmax 8x8x256x256', () => tf.softmax(s, -1));
  const q = tf.randomNormal([8, 256, 8, 32]);
  await time('transpose 4d', () => tf.transpose(q, [0, 2, 1, 3]));
  await time('batched matmul qk', () => tf.matMul(tf.randomNormal([8, 8, 256, 32]), tf.randomNormal([8, 8, 256, 32]), false, true));
  disposePassContext(ctx);
  console.log('backend', backend.name);
}
main();
