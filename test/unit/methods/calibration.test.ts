// The calibration paths (methods/calibration.ts): their windows are embedded from the rows they look
// up, a pass makes a batch's inputs only once the pool has taken in the batch before's Gram inputs,
// and the original path runs its layers one at a time even when a caller overlaps its calls (SVD-LLM
// starts the next layer's pass ahead).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { StreamingModel } from '../../../sidecar/model/model';
import { disposeLayer } from '../../../sidecar/model/layer';
import { HiddenStates, OriginalPath } from '../../../sidecar/methods/calibration';
import { InputStats } from '../../../sidecar/stats/input-stats';
import { GramCollector, pooledGramBytes } from '../../../sidecar/stats/gram';
import { tinyModel } from './helpers';

before(async () => { await initBackend('wasm'); });

/** Layer 2's outputs on 20 windows of 16 tokens (three batches), with calls awaited in turn or overlapped. */
async function layer2Outputs(dir: string, overlap: boolean): Promise<number[]> {
  const model = await StreamingModel.open(dir);
  const ids = Int32Array.from({ length: 20 * 16 }, (_, k) => (k * 7919) % 32000);
  const path = new OriginalPath(model, await HiddenStates.embed(model, ids, 16));
  const outs: number[] = [];
  const last = { onLayer: (_: unknown, out: { dataSync(): ArrayLike<number> }) => { outs.push(...Array.from(out.dataSync())); } };
  try {
    if (overlap) {
      // Layer 1 is skipped (as a removed layer is): it runs inside the call for layer 2.
      const calls = [path.through(0), path.through(2, last)];
      for (const w of await Promise.all(calls)) disposeLayer(w);
    } else {
      disposeLayer(await path.through(0));
      disposeLayer(await path.through(2, last));
    }
    return outs;
  } finally {
    path.dispose();
    await model.close();
  }
}

test('original path: overlapping calls run one after another, as awaited calls do', async () => {
  const m = await tinyModel();
  const inTurn = await layer2Outputs(m.dir, false);
  assert.equal(inTurn.length, 20 * 16 * 32);
  assert.deepEqual(await layer2Outputs(m.dir, true), inTurn);
});

test('calibration windows are embedded from their own rows: the whole embedding table is never read', async () => {
  const m = await tinyModel();
  const ids = Int32Array.from({ length: 3 * 16 }, (_, k) => (k * 7919) % 32000);
  const model = await StreamingModel.open(m.dir);
  const reads: string[] = [];
  const read = model.ckpt.read;
  model.ckpt.read = (name) => { reads.push(name); return read(name); };
  try {
    const states = await HiddenStates.embed(model, ids, 16);
    const path = new OriginalPath(model, states);
    const expected = await model.embed(ids, 3, 16); // the whole table, read now
    const inputs: number[] = [];
    disposeLayer(await path.through(0, { onLayer: (hIn) => { inputs.push(...hIn.dataSync()); } }));
    assert.deepEqual(Float32Array.from(inputs), expected.dataSync());
    assert.deepEqual(reads.filter((n) => n.includes('embed')), ['model.embed_tokens.weight'], 'only the explicit embed() read the table');
    expected.dispose();
    path.dispose();
  } finally {
    await model.close();
  }
});

test('a pass makes a batch\'s inputs only once the pool has taken in the Gram inputs of the batches before', async () => {
  const m = await tinyModel();
  const model = await StreamingModel.open(m.dir);
  // 20 windows of 64 tokens: batches of 512, 512 and 256 rows, the first two's Grams big enough for the pool.
  const T = 64;
  const states = await HiddenStates.embed(model, Int32Array.from({ length: 20 * T }, (_, k) => (k * 7919) % 32000), T);
  const w = await model.loadLayer(0);
  try {
    for (const pass of ['run', 'capture'] as const) {
      // A 16384 × 512 Gram keeps the pool's workers busy past the first batch, as the layer before's
      // SVDs do in a compression.
      const busy = new GramCollector(512, { products: 'pool' });
      const big = tf.randomNormal([16384, 512], 0, 1, 'float32', 1) as tf.Tensor2D;
      busy.add(big);
      big.dispose();
      const stats = new InputStats({ gram: 'float64' });
      const waiting: number[] = [];
      let first = true;
      const onInput = (site: Parameters<InputStats['onInput']>[0], x: tf.Tensor2D) => {
        if (first) waiting.push(pooledGramBytes());
        first = false;
        stats.onInput(site, x);
      };
      if (pass === 'run') await states.run(model.arch, w, { onInput, onLayer: () => { first = true; } });
      else {
        // capture has no per-batch hook: a batch's first input is the attention's (site of q/k/v).
        const site = model.arch.projections(0)[0].spec.input;
        await states.capture(model.arch, w, (s, x) => { first = s === site; onInput(s, x); });
      }
      assert.equal(waiting.length, 3, pass);
      assert.ok(waiting[0] > 0, `${pass}: the pool was still busy when the first batch began`);
      assert.deepEqual(waiting.slice(1), [0, 0], `${pass}: nothing waited for the pool when a later batch began`);
      await busy.result();
      stats.dispose();
    }
  } finally {
    disposeLayer(w);
    states.dispose();
    await model.close();
  }
});

test('original path: a call for an earlier layer than the last is an error, and later calls still run', async () => {
  const m = await tinyModel();
  const model = await StreamingModel.open(m.dir);
  const path = new OriginalPath(model, await HiddenStates.embed(model, new Int32Array(32).fill(5), 16));
  try {
    const first = path.through(1);
    const early = path.through(0);
    const later = path.through(2);
    disposeLayer(await first);
    await assert.rejects(early, /layer 0 requested after layer 1/);
    disposeLayer(await later);
  } finally {
    path.dispose();
    await model.close();
  }
});
