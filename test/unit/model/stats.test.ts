// Calibration statistics collected through layer hooks (sidecar/stats) against the numpy reference's
// own activations: per-site Gram X Xᵀ and mean |x| accumulated across batches, and Block Influence.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { StreamingModel } from '../../../sidecar/model/model';
import { LayerwiseRun } from '../../../sidecar/model/layerwise';
import { InputStats } from '../../../sidecar/stats/input-stats';
import { BlockInfluence } from '../../../sidecar/stats/block-influence';
import { GramCollector, gramBands, pooledGramBytes, pooledGramsSettled } from '../../../sidecar/stats/gram';
import { linalgPool, POOL_SIZE } from '../../../sidecar/linalg/pool';
import { floatsNow } from '../../../sidecar/tensor/host-data';
import type { InputSite } from '../../../sidecar/arch/table';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { reference, relErr, tempDir } from './helpers';

before(async () => { await initBackend('wasm'); });

type SiteRef = { gram: number[]; meanabs: number[]; dim: number };
type StatsRef = { layers: (Record<InputSite, SiteRef> & { bi: number })[] };
const SITES: InputSite[] = ['attn_in', 'attn_ctx', 'mlp_in', 'mlp_act'];

for (const family of ['llama', 'gpt2'] as const) {
  test(`${family}: Gram, mean |x| and Block Influence per layer agree with numpy`, async () => {
    const dir = join(tempDir('stats'), 'm');
    await makeCheckpoint(dir, { family, layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64, context: 32, seed: 11 });
    const windows = [0, 1, 2].map((b) => Array.from({ length: 16 }, (_, i) => (i * 7 + 3 + 11 * b) % 64));
    const ref = reference<StatsRef>('stats', dir, windows);
    const model = await StreamingModel.open(dir);
    // Batches of one window: the statistics must accumulate across batches.
    const run = await LayerwiseRun.start(model, Int32Array.from(windows.flat()), 16, 1);
    try {
      for (let i = 0; i < model.layerCount; i++) {
        const f64 = new InputStats({ meanAbs: true });
        const f32 = new InputStats({ gram: 'float32', sites: ['mlp_act'] });
        const bi = new BlockInfluence();
        await run.step({ onInput: (site, x) => { f64.onInput(site, x); f32.onInput(site, x); }, onLayer: (a, b) => bi.add(a, b) });
        for (const site of SITES) {
          const r = ref.layers[i][site];
          const g = f64.gram(site)!;
          assert.equal(g.tokens, 48);
          // float32 products of O(1) inputs over 48 tokens against float64: 1e-5 of the largest entry.
          const got = await g.result();
          assert.ok(relErr(got, r.gram) < 1e-5, `layer ${i} ${site} gram ${relErr(got, r.gram)}`);
          assert.ok(relErr(f64.meanAbs(site)!.result(), r.meanabs) < 1e-5, `layer ${i} ${site} mean |x|`);
        }
        assert.ok(relErr(await f32.gram('mlp_act')!.result(), ref.layers[i].mlp_act.gram) < 1e-5, 'device-accumulated float32 Gram');
        assert.equal(f32.gram('attn_in'), undefined, 'sites filter');
        // BI is 1 − mean cos, a difference of O(1) numbers: 1e-5 absolute.
        assert.ok(Math.abs(bi.value() - ref.layers[i].bi) < 1e-5, `layer ${i} BI ${bi.value()} vs ${ref.layers[i].bi}`);
        f64.dispose();
        f32.dispose();
      }
    } finally {
      run.dispose();
      await model.close();
    }
  });
}

for (const products of ['backend', 'host', 'pool'] as const) {
  test(`GramCollector (${products} products): float64 accumulation beats float32 summation`, async () => {
    // 50k rows of a constant 1 + tiny signal: G[0][0] = Σ (1 + 1e-4 i mod 7)² needs more than float32's 24 bits.
    const n = 50000;
    const data = Float32Array.from({ length: n }, (_, i) => 1 + 1e-4 * (i % 7));
    let exact = 0;
    for (const v of data) exact += v * v;
    const x = tf.tensor2d(data, [n, 1]);
    const g = new GramCollector(1, { products, chunkRows: 40 });
    const g32 = new GramCollector(1, { accumulate: 'float32', chunkRows: 40 });
    g.add(x);
    g32.add(x);
    x.dispose();
    const err = async (c: GramCollector) => Math.abs((await c.result())[0] / exact - 1);
    // 1250 chunks of 40 rows (or 391 host slabs of 128): the float32 running sum loses bits at every
    // add (measured 4.5e-6), the float64 one does not (6e-8); require 1e-6 and a 4× margin.
    const [e64, e32] = [await err(g), await err(g32)];
    assert.ok(e64 < 1e-6 && e64 * 4 < e32, `float64 ${e64}, float32 ${e32}`);
    g32.dispose();
    assert.throws(() => g.add(tf.zeros([2, 3]) as tf.Tensor2D), /dimension 1/);
    // result() hands over the sum itself: nothing may be added after it.
    assert.throws(() => g.add(tf.zeros([2, 1]) as tf.Tensor2D), /after its result was read/);
  });

  test(`GramCollector (${products} products): the float64 Gram is the whole XᵀX, exactly symmetric`, async () => {
    // 300 rows in backend chunks of 32 and a rest, or host slabs of 128 and a rest; a width that is
    // not a multiple of the host kernel's 8-column blocks.
    const rows = 300;
    const d = 301;
    const data = Float32Array.from({ length: rows * d }, (_, i) => Math.sin(i * 0.37) + ((i % d) === 5 ? 3 : 0));
    const x = tf.tensor2d(data, [rows, d]);
    const g = new GramCollector(d, { products, chunkRows: 32 });
    const head = tf.slice(x, [0, 0], [7, d]);
    g.add(x);
    g.add(head);
    tf.dispose([x, head]);
    const got = await g.result();
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let exact = 0;
        for (let t = 0; t < rows; t++) exact += data[t * d + i] * data[t * d + j];
        for (let t = 0; t < 7; t++) exact += data[t * d + i] * data[t * d + j];
        worst = Math.max(worst, Math.abs(got[i * d + j] - exact));
        scale = Math.max(scale, Math.abs(exact));
        assert.equal(got[i * d + j], got[j * d + i], `G[${i}][${j}] = G[${j}][${i}]`);
      }
    }
    // Float32 products of O(1) inputs summed over at most 128 rows: 1e-5 of G's largest entry.
    assert.ok(worst < 1e-5 * scale, `largest error ${worst} of ${scale}`);
    assert.equal(g.tokens, rows + 7);
  });
}

test('GramCollector: pooled batches, and batches computed here while others are pooled, sum to the host kernel\'s bits', async () => {
  // Six batches of 600 × 40 (each worth a worker); a pool budget of one batch's copy sends a batch
  // to the pool only while none is in flight, so the others run here between pooled ones. Each
  // batch's scale is 1/30 of the last's: the float64 sums round, so an order other than the
  // batches' gives other bits.
  const [rows, d] = [600, 40];
  const batches = [0, 1, 2, 3, 4, 5].map((b) => tf.tensor2d(Float32Array.from({ length: rows * d }, (_, i) => Math.sin(i * 0.013 + b) / 30 ** b), [rows, d]));
  const pool = linalgPool();
  const sums: Float64Array[] = [];
  const jobs: number[] = [];
  for (const o of [{ products: 'host' as const }, { products: 'pool' as const }, { products: 'pool' as const, poolInputBytes: 4 * rows * d }]) {
    const before = pool.jobsDone;
    const g = new GramCollector(d, o);
    for (const x of batches) g.add(x);
    sums.push(await g.result());
    jobs.push(pool.jobsDone - before);
  }
  tf.dispose(batches);
  // Each pooled batch is a job per band of G's rows.
  const bands = gramBands(d, POOL_SIZE).length;
  assert.deepEqual(jobs, [0, 6 * bands, bands], 'pool jobs: none, every batch, the first only');
  assert.deepEqual(sums[1], sums[0], 'every batch pooled');
  assert.deepEqual(sums[2], sums[0], 'the first batch pooled, the others here, added in order');
  assert.ok(sums[0].some((v) => v !== 0));
});

test('gramBands: k bands of a Gram\'s rows at multiples of 8, covering every row once, with about equal work', () => {
  const work = (from: number, to: number, dim: number) => (to - from) * (dim - (from + to) / 2);
  for (const [dim, k] of [[1376, 2], [1376, 4], [688, 3], [40, 2]]) {
    const bands = gramBands(dim, k);
    assert.equal(bands[0][0], 0);
    assert.equal(bands[bands.length - 1][1], dim);
    bands.forEach(([from, to], i) => {
      assert.ok(from < to && from % 8 === 0, `${dim}/${k}: band ${from}..${to}`);
      if (i) assert.equal(from, bands[i - 1][1]);
    });
    assert.equal(bands.length, k, `${dim} in ${k}`);
    const w = bands.map(([from, to]) => work(from, to, dim));
    // Within the rounding to 8 rows (40 columns is only five blocks of 8).
    assert.ok(Math.max(...w) / Math.min(...w) < (dim > 100 ? 1.05 : 2), `${dim}/${k}: ${w}`);
  }
  assert.deepEqual(gramBands(12, 2), [[0, 12]], 'too narrow to split');
});

test('GramCollector (pool products): a batch is read where it lies in the threaded heap, held until its jobs are done, then let go, which pooledGramsSettled awaits', async (t) => {
  const [rows, d] = [600, 40];
  const data = Float32Array.from({ length: rows * d }, (_, i) => Math.sin(i * 0.011));
  const x = tf.tensor2d(data, [rows, d]);
  if (!(floatsNow(x).buffer instanceof SharedArrayBuffer)) {
    x.dispose();
    return t.skip('the backend\'s heap is not shared memory here');
  }
  const host = new GramCollector(d, { products: 'host' });
  host.add(x);
  const before = tf.memory().numTensors;
  const g = new GramCollector(d, { products: 'pool' });
  g.add(x);
  assert.equal(tf.memory().numTensors, before + 1, 'one tensor holds the batch');
  // Disposed by its owner and its memory asked for again at once: the jobs still see the batch.
  x.dispose();
  const others = [0, 1, 2, 3].map(() => tf.fill([rows, d], 99));
  assert.equal(pooledGramBytes(), 4 * rows * d);
  await pooledGramsSettled();
  assert.equal(pooledGramBytes(), 0);
  assert.equal(tf.memory().numTensors, before + 4 - 1, 'released once the jobs settled');
  assert.deepEqual(await g.result(), await host.result());
  tf.dispose(others);
  await pooledGramsSettled(); // nothing waits: at once
});
