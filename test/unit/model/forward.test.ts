// The forward pass against an independent numpy implementation (test/reference/model/make_reference.py):
// the real model's committed reference logits, and generated llama (GQA, tied/untied, sharded, BF16,
// factored projections, rope_scaling) and gpt2 checkpoints run through the script on the spot.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { StreamingModel } from '../../../sidecar/model/model';
import type { Checkpoint } from '../../../sidecar/checkpoint/checkpoint';
import { LayerwiseRun } from '../../../sidecar/model/layerwise';
import { disposeLayer, layerForward, layerInputs, loadLayer } from '../../../sidecar/model/layer';
import { makeCheckpoint, writeSafetensors, type FixtureOptions } from '../../fixtures/checkpoints';
import { MODEL } from '../../helpers/paths';
import { REF, firstColumns, forwardLogits, reference, relErr, tempDir } from './helpers';

before(async () => { await initBackend('wasm'); });

interface LogitsRef { vocab: number; windows: { ids: number[]; first64: number[]; rowsum: number[]; rownorm: number[]; rows: Record<string, number[]> }[] }

function rowStats(lg: Float32Array, T: number, V: number): { sum: number[]; norm: number[] } {
  const sum: number[] = [];
  const norm: number[] = [];
  for (let t = 0; t < T; t++) {
    let s = 0;
    let n = 0;
    for (const x of lg.subarray(t * V, (t + 1) * V)) { s += x; n += x * x; }
    sum.push(s);
    norm.push(Math.sqrt(n));
  }
  return { sum, norm };
}

test('reference model: logits agree with the numpy reference to 1e-3 relative', async () => {
  const ref = JSON.parse(readFileSync(join(REF, 'logits.json'), 'utf8')) as LogitsRef;
  const model = await StreamingModel.open(MODEL);
  try {
    // Both windows in one batch: batching must not mix windows (causal mask per sequence).
    const lg = await forwardLogits(model, ref.windows.map((w) => w.ids));
    const V = ref.vocab;
    ref.windows.forEach((w, b) => {
      const T = w.ids.length;
      const mine = lg.subarray(b * T * V, (b + 1) * T * V);
      const { sum, norm } = rowStats(mine, T, V);
      // Relative error = max |ours − ref| / max |ref| over the compared entries (helpers.ts); float32
      // through 8 layers against float64: 1e-3 as the issue asks.
      for (const [label, e] of [
        ['first 64 logits at every position', relErr(firstColumns(mine, T, V), w.first64)],
        ['row norms', relErr(norm, w.rownorm)],
        ['row sums', relErr(sum, w.rowsum)],
        ...Object.entries(w.rows).map(([t, row]) => [`full row ${t}`, relErr(mine.subarray(Number(t) * V, (Number(t) + 1) * V), row)] as const),
      ] as const) assert.ok(e < 1e-3, `window ${b}, ${label}: ${e}`);
    });
  } finally {
    await model.close();
  }
});

const generated: (Omit<FixtureOptions, 'vocab' | 'seed'> & { label: string; rope?: Record<string, unknown>; factored?: boolean })[] = [
  { label: 'llama GQA tied BF16', family: 'llama', layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 40, tied: true, dtype: 'BF16' },
  { label: 'llama MHA untied sharded', family: 'llama', layers: 2, hidden: 32, heads: 4, kvHeads: 4, intermediate: 40, tied: false, shards: 2 },
  { label: 'llama factored q/down projections', family: 'llama', layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 40, factored: true },
  { label: 'llama rope_scaling linear', family: 'llama', layers: 1, hidden: 32, heads: 2, kvHeads: 1, rope: { type: 'linear', factor: 4 } },
  { label: 'llama rope_scaling llama3', family: 'llama', layers: 1, hidden: 64, heads: 2, kvHeads: 2, rope: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } },
  { label: 'gpt2 F16', family: 'gpt2', layers: 2, hidden: 32, heads: 4, dtype: 'F16' },
  { label: 'gpt2 factored c_attn', family: 'gpt2', layers: 2, hidden: 32, heads: 4, factored: true },
];

/** Replaces some projections by random u [out, 3] · v [3, in] factors, as the methods write them. */
function factorize(dir: string, fixture: Awaited<ReturnType<typeof makeCheckpoint>>) {
  const names = fixture.config.model_type === 'gpt2' ? ['h.0.attn.c_attn', 'h.1.mlp.c_proj'] : ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];
  const t = new Map(fixture.tensors);
  names.forEach((n, k) => {
    const w = t.get(`${n}.weight`)!;
    // Math layout [out, in]; GPT-2's Conv1D weight is stored [in, out].
    const [out, inp] = fixture.config.model_type === 'gpt2' ? [w.shape[1], w.shape[0]] : w.shape;
    const r = 3;
    const rnd = (m: number) => Float32Array.from({ length: m }, (_, i) => Math.sin(i * 1.7 + k) * 0.3);
    t.delete(`${n}.weight`);
    t.set(`${n}.u.weight`, { shape: [out, r], data: rnd(out * r) });
    t.set(`${n}.v.weight`, { shape: [r, inp], data: rnd(r * inp) });
  });
  writeSafetensors(join(dir, 'model.safetensors'), [...t], 'F32');
}

for (const o of generated) {
  test(`generated ${o.label}: logits agree with the numpy reference to 1e-4 relative`, async () => {
    const dir = join(tempDir('fwd'), 'm');
    const fixture = await makeCheckpoint(dir, { ...o, vocab: 64, context: 32, seed: 7 });
    if (o.rope) writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...fixture.config, rope_scaling: o.rope }));
    if (o.factored) factorize(dir, fixture);
    const windows = [0, 1].map((b) => Array.from({ length: 24 }, (_, i) => (i * 13 + 5 + 17 * b) % 64));
    const ref = reference<LogitsRef>('logits', dir, windows);
    const model = await StreamingModel.open(dir);
    try {
      const lg = await forwardLogits(model, windows);
      // Small float32 model against float64: 1e-4 of the largest logit leaves ~100× float32 rounding.
      windows.forEach((_, b) => {
        const e = relErr(firstColumns(lg.subarray(b * 24 * 64), 24, 64), ref.windows[b].first64);
        assert.ok(e < 1e-4, `window ${b}: ${e}`);
      });
    } finally {
      await model.close();
    }
  });
}

test('streaming: peak tensor memory is one layer plus activations, whatever the depth', async () => {
  // Same widths, 2 and 8 layers: resident bytes beyond the model's constant part must not grow with depth.
  const peaks: number[] = [];
  for (const layers of [2, 8]) {
    const dir = join(tempDir('deep'), 'm');
    await makeCheckpoint(dir, { family: 'llama', layers, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 64, context: 32, seed: 3 });
    const model = await StreamingModel.open(dir);
    try {
      const base = tf.memory().numBytes;
      let peak = 0;
      const ids = Int32Array.from({ length: 4 * 16 }, (_, i) => i % 64);
      const run = await LayerwiseRun.start(model, ids, 16, 2);
      for (let i = 0; i < layers; i++) await run.step({ onInput: () => { peak = Math.max(peak, tf.memory().numBytes - base); } });
      run.dispose();
      peaks.push(peak);
      assert.equal(tf.memory().numBytes, base, 'everything released after the run');
    } finally {
      await model.close();
    }
  }
  // Exactly equal: the same layer shapes and activations are resident at the same points of a step.
  assert.equal(peaks[1], peaks[0], `peak bytes ${peaks}`);
});

test('the head is read at its first use, once; the embedding never enters the backend, and once released cannot embed', async () => {
  for (const tied of [false, true]) {
    const dir = join(tempDir('head'), 'm');
    await makeCheckpoint(dir, { family: 'llama', layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 40, vocab: 64, context: 32, tied, seed: 9 });
    const windows = [Array.from({ length: 12 }, (_, i) => (i * 7) % 64)];
    const fresh = await StreamingModel.open(dir);
    const expected = await forwardLogits(fresh, windows);
    await fresh.close();

    const opened = tf.memory().numBytes;
    const model = await StreamingModel.open(dir);
    // Llama: only the final norm (32 floats) is on the backend; embed() uploads the rows it looks up.
    assert.equal(tf.memory().numBytes - opened, 32 * 4, 'the embedding table is not on the backend');
    try {
      const reads: string[] = [];
      const read = model.ckpt.read;
      model.ckpt.read = (name) => { reads.push(name); return read(name); };
      const headName = tied ? 'model.embed_tokens.weight' : 'lm_head.weight';
      const h0 = await model.embed(Int32Array.from(windows.flat()), 1, 12);
      // The table is read at the first embed(), once; a second embed reads nothing.
      tf.dispose(await model.embed(Int32Array.of(3), 1, 1));
      const h = await model.forward(h0);
      assert.deepEqual(reads, ['model.embed_tokens.weight'], 'embedding and layers alone read the table once and never the head');
      reads.length = 0;
      model.releaseEmbedding();
      await assert.rejects(model.embed(Int32Array.of(1), 1, 1), /embedding was released/);
      // The head does not depend on the embedding tensor (a tied one is read again from the file).
      const lg = await model.logits(h);
      assert.deepEqual(await lg.data(), expected);
      await model.nll(h, Int32Array.from(windows.flat()));
      tf.dispose([h0, h, lg]);
      assert.equal(reads.filter((n) => n === headName).length, 1, `${tied ? 'tied' : 'untied'}: head read once`);
    } finally {
      await model.close();
    }
  }
});

test('embeddingRows reads only the rows its ids look up, and embeds them as the whole table does', async () => {
  const dir = join(tempDir('rows'), 'm');
  await makeCheckpoint(dir, { family: 'llama', layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 40, vocab: 64, context: 32, seed: 4, dtype: 'BF16' });
  const ids = Int32Array.from({ length: 2 * 8 }, (_, i) => (i * 13) % 40);
  const whole = await StreamingModel.open(dir);
  const expected = await (await whole.embed(ids, 2, 8)).data();
  await whole.close();
  const model = await StreamingModel.open(dir);
  try {
    const reads: string[] = [];
    const read = model.ckpt.read;
    model.ckpt.read = (name) => { reads.push(name); return read(name); };
    const asked: number[][] = [];
    const readRows = model.ckpt.readRows;
    model.ckpt.readRows = (name, r) => { asked.push(Array.from(r)); return readRows(name, r); };
    const rows = await model.embeddingRows(ids);
    assert.deepEqual(asked, [[...new Set(ids)].sort((a, b) => a - b)], 'the distinct ids, ascending');
    assert.equal(rows.data.length, asked[0].length * 32);
    const h = await model.embed(ids, 2, 8, rows);
    assert.deepEqual(await h.data(), expected);
    h.dispose();
    assert.deepEqual(reads, [], 'the whole table is never read');
    await assert.rejects(model.embed(Int32Array.of(41), 1, 1, rows), /token id 41 is not among the rows given/);
    await assert.rejects(model.embeddingRows(Int32Array.of(64)), /token id 64 outside the vocabulary of 64/);
    model.releaseEmbedding();
    await assert.rejects(model.embeddingRows(ids), /embedding was released/);
  } finally {
    await model.close();
  }
});

test('forward() with hooks sees every layer and site; hidden states before and after chain', async () => {
  const dir = join(tempDir('hooks'), 'm');
  await makeCheckpoint(dir, { family: 'gpt2', layers: 3, hidden: 16, heads: 2, vocab: 32, context: 16, seed: 5 });
  const model = await StreamingModel.open(dir);
  try {
    const h0 = await model.embed(Int32Array.from({ length: 2 * 8 }, (_, i) => (i * 5) % 32), 2, 8);
    const seen: string[] = [];
    const states: number[][] = [];
    const h = await model.forward(h0, {
      onInput: (i, site, x) => seen.push(`${i}:${site}:${x.shape}`),
      onLayer: (i, a, b) => { states.push([i, a.dataSync()[0], b.dataSync()[0]]); },
    });
    assert.deepEqual(seen.slice(0, 4), ['0:attn_in:16,16', '0:attn_ctx:16,16', '0:mlp_in:16,16', '0:mlp_act:16,64']);
    assert.equal(seen.length, 12);
    assert.equal(states[0][1], h0.dataSync()[0]);
    for (let i = 1; i < 3; i++) assert.equal(states[i][1], states[i - 1][2], 'layer i+1 starts from layer i output');
    assert.equal(h.dataSync()[0], states[2][2]);
    tf.dispose([h0, h]);
    await assert.rejects(model.embed(Int32Array.of(1, 99), 1, 2), /outside the vocabulary/);
    await assert.rejects(model.embed(new Int32Array(17), 1, 17), /learned positions/);
  } finally {
    await model.close();
  }
});

for (const family of ['llama', 'gpt2'] as const) {
  test(`layerForward (${family}): an MLP wide enough to run in row pieces gives each window's own result`, async () => {
    // Intermediate 4096: 8 MiB holds 512 rows of it (model/layer.ts MLP_PIECE_BYTES), so 2 windows of
    // 300 tokens run their MLP in two pieces of 300, and one window alone in one piece.
    const dir = join(tempDir(`pieces-${family}`), 'm');
    await makeCheckpoint(dir, { family, layers: 1, hidden: 16, heads: 4, kvHeads: family === 'llama' ? 2 : undefined, intermediate: 4096, vocab: 32, context: 300, seed: 8 });
    const model = await StreamingModel.open(dir);
    const w = await model.loadLayer(0);
    const ids = Int32Array.from({ length: 600 }, (_, i) => (i * 11) % 32);
    const h = await model.embed(ids, 2, 300);
    try {
      const acts: number[] = [];
      let both!: tf.Tensor3D;
      const profile = await tf.profile(() => {
        both = layerForward(model.arch, w, h, { onInput: (site, x) => { if (site === 'mlp_act') acts.push(...x.shape); } });
        return both;
      });
      assert.deepEqual(acts, [600, 4096]);
      // The activation's nonlinearity ran once a piece.
      const nonlinear = profile.kernels.filter((k) => k.name === (family === 'llama' ? 'Sigmoid' : 'Tanh'));
      assert.deepEqual(nonlinear.map((k) => k.outputShapes), [[[300, 4096]], [[300, 4096]]]);
      const got = both.dataSync();
      for (let b = 0; b < 2; b++) {
        const one = tf.slice(h, [b, 0, 0], [1, -1, -1]) as tf.Tensor3D;
        const alone = layerForward(model.arch, w, one);
        const want = alone.dataSync();
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[b * want.length + i] - want[i]) / (Math.abs(want[i]) + 1e-3));
        assert.ok(worst < 1e-5, `window ${b}: relative difference ${worst}`);
        tf.dispose([one, alone]);
      }
      both.dispose();
    } finally {
      tf.dispose(h);
      disposeLayer(w);
      await model.close();
    }
  });
}

for (const family of ['llama', 'gpt2'] as const) {
  test(`layerInputs (${family}): the same inputs at every site as layerForward's hooks, without the last projection, nothing left allocated`, async () => {
    const dir = join(tempDir(`inputs-${family}`), 'm');
    await makeCheckpoint(dir, { family, layers: 2, hidden: 16, heads: 4, kvHeads: family === 'llama' ? 2 : undefined, vocab: 32, context: 16, seed: 7 });
    const model = await StreamingModel.open(dir);
    const w = await model.loadLayer(1);
    const h = await model.embed(Int32Array.from({ length: 2 * 8 }, (_, i) => (i * 7) % 32), 2, 8);
    try {
      const full = new Map<string, Float32Array>();
      tf.dispose(layerForward(model.arch, w, h, { onInput: (site, x) => full.set(site, x.dataSync() as Float32Array) }));
      const before = tf.memory().numTensors;
      // The last projection is not loaded at all: layerInputs must not need it.
      const last = family === 'llama' ? 'mlp.down_proj' : 'mlp.c_proj';
      const kept = w.linears.get(last)!;
      w.linears.delete(last);
      const seen = new Map<string, Float32Array>();
      try {
        layerInputs(model.arch, w, h, (site, x) => seen.set(site, x.dataSync() as Float32Array));
        assert.throws(() => layerForward(model.arch, w, h), /not loaded/);
      } finally {
        w.linears.set(last, kept);
      }
      assert.equal(tf.memory().numTensors, before);
      assert.deepEqual([...seen.keys()], [...full.keys()]);
      for (const [site, x] of full) assert.ok(seen.get(site)!.every((v, i) => Object.is(v, x[i])), `${site} differs`);
    } finally {
      h.dispose();
      disposeLayer(w);
      await model.close();
    }
  });
}

/** ckpt whose reads into a tensor fail, with "disk gone", for the tensors whose names end in `suffix`. */
const failingOn = (ckpt: Checkpoint, suffix: string): Checkpoint => ({
  ...ckpt,
  has: (n: string) => ckpt.has(n),
  readInto: async (n: string, out: Float32Array) => {
    if (n.endsWith(suffix)) throw new Error('disk gone');
    return ckpt.readInto(n, out);
  },
});

test('loadLayer reads a layer\'s tensors at once; one that fails leaves none of the others allocated', async () => {
  const dir = join(tempDir('load-fail'), 'm');
  await makeCheckpoint(dir, { family: 'llama', layers: 2, hidden: 16, heads: 4, kvHeads: 2, vocab: 32, context: 16, seed: 4 });
  const model = await StreamingModel.open(dir);
  try {
    const whole = await loadLayer(model.ckpt, model.arch, 1);
    assert.equal(whole.linears.size, 7);
    assert.deepEqual([...whole.linears.keys()], model.arch.projections(1).map((p) => p.spec.key), 'in the projections\' order');
    disposeLayer(whole);
    const before = tf.memory().numTensors;
    // The up projection's read fails after the ones before it (and maybe after) have their tensors,
    // and after its own tensor was made to be read into.
    await assert.rejects(loadLayer(failingOn(model.ckpt, 'mlp.up_proj.weight'), model.arch, 1), /disk gone/);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await model.close();
  }
});

test('loadLayer: a projection whose weight fails after its bias was read leaves no tensor; values as read()', async () => {
  const dir = join(tempDir('load-fail-bias'), 'm');
  await makeCheckpoint(dir, { family: 'gpt2', layers: 1, hidden: 16, heads: 4, vocab: 32, context: 16, seed: 5 });
  const model = await StreamingModel.open(dir);
  try {
    const w = await loadLayer(model.ckpt, model.arch, 0);
    const fc = w.linears.get('mlp.c_fc');
    assert.ok(fc?.kind === 'dense' && fc.b);
    // Conv1D [in, out] transposed on load; the bias as stored.
    const stored = await model.ckpt.read(`${model.arch.layer(0)}mlp.c_fc.weight`);
    const [i, o] = model.ckpt.tensors.get(`${model.arch.layer(0)}mlp.c_fc.weight`)!.shape;
    const got = await fc.w.data();
    for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) assert.equal(got[r * i + c], stored[c * o + r]);
    assert.deepEqual(await fc.b.data(), await model.ckpt.read(`${model.arch.layer(0)}mlp.c_fc.bias`));
    disposeLayer(w);
    const before = tf.memory().numTensors;
    await assert.rejects(loadLayer(failingOn(model.ckpt, 'attn.c_attn.weight'), model.arch, 0), /disk gone/);
    assert.equal(tf.memory().numTensors, before, 'c_attn\'s bias, read first, is disposed');
  } finally {
    await model.close();
  }
});

for (const family of ['llama', 'gpt2'] as const) {
  test(`layerForward (${family}): each intermediate is freed once read, so the residual sum finds only the attention's residual and the down projection held`, async () => {
    // tfjs-wasm's heap never shrinks, so what the pass holds at its end adds to its high-water mark.
    // Here the MLP's activation alone (256 × 512) is 8 times each hidden-wide tensor (256 × 64).
    const dir = join(tempDir(`held-${family}`), 'm');
    const [H, I, B, T] = [64, 512, 2, 128];
    await makeCheckpoint(dir, { family, layers: 1, hidden: H, heads: 4, kvHeads: family === 'llama' ? 2 : undefined, intermediate: I, vocab: 32, context: T, seed: 9 });
    const model = await StreamingModel.open(dir);
    const w = await model.loadLayer(0);
    const h = await model.embed(Int32Array.from({ length: B * T }, (_, i) => (i * 7) % 32), B, T);
    try {
      const base = tf.memory().numBytes;
      const profile = await tf.profile(() => layerForward(model.arch, w, h));
      (profile.result as tf.Tensor).dispose();
      const last = profile.kernels.filter((k) => k.name === 'Add').pop()!;
      assert.deepEqual(last.outputShapes, [[B * T, H]]);
      // As the sum is made, tfjs counts four hidden-wide tensors (the input's [B·T, H] view, the
      // attention's residual, down_proj's output, the sum) and llama's rope tables (8 KiB): less
      // than one more hidden-wide tensor, and far less than the activation's 8.
      const hiddenWide = B * T * H * 4;
      const held = last.totalBytesSnapshot - base;
      assert.ok(held >= 4 * hiddenWide && held < 5 * hiddenWide, `${held} bytes held at the residual sum, ${held / hiddenWide} hidden-wide tensors`);
      assert.equal(tf.memory().numBytes, base, 'nothing left allocated');
    } finally {
      tf.dispose(h);
      disposeLayer(w);
      await model.close();
    }
  });
}
