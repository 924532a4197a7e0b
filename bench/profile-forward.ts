// Where forward-pass time goes on the active backend: per stage, one batch of the reference model.
//   node out/bench/profile-forward.js [wasm|cpu|...]
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { initBackend } from '../sidecar/tensor/backend';
import type { BackendChoice } from '../sidecar/rpc/protocol';
import { StreamingModel } from '../sidecar/model/model';
import { disposeLayer, layerForward } from '../sidecar/model/layer';

async function main() {
  const backend = await initBackend((process.argv[2] as BackendChoice) ?? 'auto');
  const model = await StreamingModel.open(join(__dirname, '..', '..', 'models', 'rankwise-brown-14m'));
  const B = 8, T = 256;
  const ids = new Int32Array(B * T).map((_, i) => (i * 7919) % 32000);
  const time = async <R>(label: string, fn: () => Promise<R> | R): Promise<R> => {
    const t0 = performance.now();
    const r = await fn();
    if (r instanceof tf.Tensor) await r.data();
    console.log(`${label}: ${(performance.now() - t0).toFixed(0)} ms`);
    return r;
  };
  let h = await time('embed', () => model.embed(ids, B, T));
  for (let i = 0; i < 2; i++) {
    const w = await time(`load layer ${i}`, () => model.loadLayer(i));
    const next = await time(`layer ${i}`, () => layerForward(model.arch, w, h));
    disposeLayer(w);
    h.dispose();
    h = next;
  }
  await time('nll (final norm, lm_head, logsumexp)', () => model.nll(h, ids));
  h.dispose();
  const x = tf.randomNormal([1024, 256]) as tf.Tensor2D;
  const w = tf.randomNormal([256, 32000]) as tf.Tensor2D;
  await time('matmul 1024x256x32000', () => tf.matMul(x, w));
  const l = tf.randomNormal([1024, 32000]);
  await time('logSumExp 1024x32000', () => tf.logSumExp(l, -1));
  const s = tf.randomNormal([8, 8, 256, 256]);
  await time('softmax 8x8x256x256', () => tf.softmax(s, -1));
  tf.dispose([x, w, l, s]);
  await model.close();
  console.log('backend', backend.name);
}
main();
