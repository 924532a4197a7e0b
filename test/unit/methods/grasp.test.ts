// GRASP (Taco-SVD): the σ gradients (llama, GPT-2) against finite differences of the same loss, the selection
// rules, a hand-made layer where the loss needs small-σ directions and ignores the large ones, and
// the whole pipeline on a small generated llama (layer choice by Block Influence, ranks, untouched
// layers, determinism, cancellation, tensor bookkeeping).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { StreamingModel } from '../../../sidecar/model/model';
import { getLinalg, type SvdResult } from '../../../sidecar/linalg';
import { validatePlan } from '../../../sidecar/plan/plan';
import { compress } from '../../../sidecar/compress/run';
import { silentJob, type Job } from '../../../sidecar/compress/job';
import { calibrationWindows } from '../../../sidecar/methods/calibration';
import { Attribution, GRADIENT_BATCH } from '../../../sidecar/methods/grasp-attribution';
import { importance, installSpectrum, selectDirections, type Spectrum } from '../../../sidecar/methods/grasp';
import type { Linear } from '../../../sidecar/model/linear';
import { makeCheckpoint, prng, writeSafetensors } from '../../fixtures/checkpoints';
import { CORPORA, MODEL } from '../../helpers/paths';
import { blockInfluenceOf, mat, tempDir, tinyModel } from './helpers';

before(async () => { await initBackend('wasm'); });

const T = 32;
const SAMPLES = 16;
type Raw = Record<string, unknown>;
type Tiny = { dir: string; text: string; root: string };

let tiny: Promise<Tiny> | undefined;
const shared = () => (tiny ??= tinyModel());
let influence: Promise<number[]> | undefined;
/** Block Influence of the shared model's layers, measured here from runLayer. */
const sharedInfluence = () => (influence ??= shared().then(blockInfluence));

function plan(m: Tiny, out: string, extra: Raw) {
  return validatePlan({
    model: m.dir, output: join(m.root, out), method: 'grasp', ratio: 0.3,
    calibration: { data: m.text, samples: SAMPLES, seqLen: T, seed: 3 }, ...extra,
  }, m.root);
}

/** A job that records tf.memory().numTensors at every progress report of the gradient passes. */
function recordingJob(onGradient?: (message: string, done: number) => void): Job & { counts: Map<string, number[]> } {
  const counts = new Map<string, number[]>();
  return {
    counts,
    log: () => {},
    progress: (phase, done, _total, message) => {
      if (phase !== 'calibrate' || !message?.startsWith('GRASP gradients')) return;
      counts.set(message, [...(counts.get(message) ?? []), tf.memory().numTensors]);
      onGradient?.(message, done);
    },
  };
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const k = (m: number, n: number) => Math.floor((m * n * (1 - 0.7)) / (m + n));

// Per family: two σ of one block attributed together (as GRASP does), and one of the layer above on
// its own with `at` = 1 (layer 0 then runs untaped). GPT-2 adds biases and Conv1D's [in, out] layout.
const FD_CASES = {
  llama: [[0, ['mlp.down_proj', 'mlp.gate_proj']], [1, ['self_attn.v_proj']]],
  gpt2: [[0, ['mlp.c_proj', 'mlp.c_fc']], [1, ['attn.c_attn']]],
} as const;

for (const family of ['llama', 'gpt2'] as const) test(`attribution (${family}): ∂L/∂σ matches central finite differences of the same loss to 1e-2 relative`, async () => {
  const dir = join(tempDir('grasp-fd'), 'model');
  await makeCheckpoint(dir, { family, layers: 2, hidden: 16, heads: 2, kvHeads: family === 'llama' ? 1 : 2, intermediate: 24, vocab: 64, context: 32, seed: 11 });
  const model = await StreamingModel.open(dir);
  const rand = prng(7);
  const seqLen = 12;
  // 6 windows: batches of 4 and 2, so the sum over batches is part of what is checked.
  const ids = Int32Array.from({ length: 6 * seqLen }, () => Math.floor(rand() * 64));
  const att = await Attribution.create(model, ids, seqLen, 0);
  // Layer 0's σ stay installed (and alive) while layer 1 is checked: its passes run through them.
  const installed: Spectrum[] = [];
  try {
    assert.equal(att.batches, Math.ceil(6 / GRADIENT_BATCH));
    for (const [at, keys] of FD_CASES[family]) {
      const w = att.weights(at);
      const spectra: Spectrum[] = [];
      for (const key of keys) spectra.push(await installSpectrum(w, model.arch.projections(at).find((p) => p.spec.key === key)!));
      installed.push(...spectra);
      const { grads, loss } = await att.gradients(at, spectra.map((s) => s.sigma));
      // L ≈ 300 here (66 predictions, vocabulary 64), summed in float32: each evaluation carries
      // ~1e-4 of rounding, so the central difference with h = 0.03 has a few 1e-3 of absolute noise
      // (up to 4e-3 seen), next to an O(h²) truncation error of ~1e-4 relative. Checked where |g| ≥ 1,
      // where that noise stays below 5e-3 relative (worst measured: 1.1e-3): 1e-2 leaves a margin,
      // and a wrong gradient (a missing batch or term, a wrong sign or factor) is off by far more.
      assert.ok(loss > 100 && loss < 1000, `loss ${loss}`);
      let checked = 0;
      for (const [j, sp] of spectra.entries()) {
        const lin = w.linears.get(sp.spec.key) as Extract<Linear, { kind: 'factored' }>;
        const s0 = Float32Array.from(sp.svd.s);
        for (let i = 0; i < s0.length; i++) {
          if (Math.abs(grads[j][i]) < 1) continue;
          const lossAt = async (h: number) => {
            const s = s0.slice();
            s[i] += h;
            const t = tf.tensor1d(s);
            lin.s = t;
            try {
              return { loss: (await att.gradients(at, [t])).loss, step: s[i] - s0[i] };
            } finally {
              t.dispose();
            }
          };
          const plus = await lossAt(0.03);
          const minus = await lossAt(-0.03);
          const fd = (plus.loss - minus.loss) / (plus.step - minus.step);
          assert.ok(Math.abs(fd / grads[j][i] - 1) < 1e-2, `${sp.name} σ_${i}: tfjs ${grads[j][i]} vs finite difference ${fd}`);
          checked++;
        }
        lin.s = sp.sigma;
      }
      assert.ok(checked >= 3, `only ${checked} σ with |g| ≥ 1`);
    }
  } finally {
    att.dispose();
    tf.dispose(installed.map((s) => s.sigma));
    await model.close();
  }
});

test('selection: top k by importance with ties to the larger σ; a threshold keeps the fewest reaching it', () => {
  const sigma = Float64Array.from([4, 3, 2, 1]);
  const grad = Float64Array.from([0.01, -1, 0.5, 0.5]);
  assert.deepEqual([...importance(sigma, grad, 'taylor')], [0.04, 3, 1, 0.5]);
  assert.deepEqual([...importance(sigma, grad, 'gradient')], [0.01, 1, 0.5, 0.5]);
  assert.deepEqual(selectDirections(importance(sigma, grad, 'taylor'), { rank: 2 }), [1, 2]);
  // |g| ties between σ_2 and σ_3: the larger σ (lower index) wins.
  assert.deepEqual(selectDirections(importance(sigma, grad, 'gradient'), { rank: 2 }), [1, 2]);
  // Importances 3, 1, 0.5, 0.04 of 4.54: 0.88 of it needs 3 + 1 (88.1%), 0.9 needs 3 + 1 + 0.5.
  assert.deepEqual(selectDirections(Float64Array.from([0.04, 3, 1, 0.5]), { threshold: 0.88 }), [1, 2]);
  assert.deepEqual(selectDirections(Float64Array.from([0.04, 3, 1, 0.5]), { threshold: 0.9 }), [1, 2, 3]);
  assert.throws(() => selectDirections(Float64Array.from([1, NaN]), { rank: 1 }), /non-finite/);
});

/**
 * tinyModel's shape, with layer 1's MLP made so that its largest singular directions are dead: MLP
 * channels 0..23 get zero gate and up rows (their activation is exactly 0), and down_proj is block
 * diagonal, a large block (std 5) from the dead channels to outputs 0..15 and the original small one
 * (std 0.2) from the live channels to outputs 16..31. Every σ of the dead block (≥ 4.5 or so) is
 * above every live one (≤ 1.8 or so), so the 16 largest directions carry no signal at all.
 */
async function deadDirectionsModel(): Promise<Tiny> {
  const root = tempDir('grasp-dead');
  const dir = join(root, 'model');
  const fx = await makeCheckpoint(dir, { family: 'llama', layers: 3, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 32000, context: 128, seed: 5 });
  const p = 'model.layers.1.mlp.';
  for (const g of ['gate_proj', 'up_proj']) fx.tensors.get(`${p}${g}.weight`)!.data.fill(0, 0, 24 * 32);
  const down = fx.tensors.get(`${p}down_proj.weight`)!.data;
  for (let o = 0; o < 32; o++) {
    for (let j = 0; j < 48; j++) {
      const deadIn = j < 24;
      if (deadIn !== o < 16) down[o * 48 + j] = 0;
      else if (deadIn) down[o * 48 + j] *= 25;
    }
  }
  writeSafetensors(join(dir, 'model.safetensors'), [...fx.tensors], 'F32');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(MODEL, f), join(dir, f));
  const text = join(root, 'calib.txt');
  writeFileSync(text, readFileSync(join(CORPORA, 'brown-train.txt'), 'utf8').slice(0, 40_000));
  return { dir, text, root };
}

async function svdOf(dir: string, name: string): Promise<SvdResult & { m: number; n: number }> {
  const ck = await openCheckpoint(dir);
  try {
    const [m, n] = ck.tensors.get(`${name}.weight`)!.shape;
    return { ...(await getLinalg().svd(mat(m, n, await ck.read(`${name}.weight`)))), m, n };
  } finally {
    await ck.close();
  }
}

/** Asserts u = U_K Σ_K^½ and v = Σ_K^½ V_Kᵀ column by column (each direction's sign is free). */
function assertSplit(svd: SvdResult & { m: number; n: number }, kept: number[], u: Float32Array, v: Float32Array, what: string): void {
  const r = kept.length;
  kept.forEach((idx, j) => {
    const root = Math.sqrt(svd.s[idx]);
    let dot = 0;
    for (let i = 0; i < svd.m; i++) dot += u[i * r + j] * svd.u!.data[i * svd.u!.cols + idx];
    const sign = Math.sign(dot);
    // Float32 storage of O(1) values: 1e-5 absolute.
    for (let i = 0; i < svd.m; i++) assert.ok(Math.abs(u[i * r + j] - sign * root * svd.u!.data[i * svd.u!.cols + idx]) < 1e-5, `${what} u[${i}, ${j}]`);
    for (let i = 0; i < svd.n; i++) assert.ok(Math.abs(v[j * svd.n + i] - sign * root * svd.v!.data[i * svd.v!.cols + idx]) < 1e-5, `${what} v[${j}, ${i}]`);
  });
}

test('importance, not σ: the dead large-σ directions are dropped and small live ones kept, factors U_k Σ_k^½, Σ_k^½ V_kᵀ', async () => {
  const m = await deadDirectionsModel();
  const name = 'model.layers.1.mlp.down_proj';
  const svd = await svdOf(m.dir, name);
  // The construction: the 16 largest directions read only dead channels, the others only live ones.
  for (let idx = 0; idx < 32; idx++) {
    let live = 0;
    for (let j = 24; j < 48; j++) live += svd.v!.data[j * svd.v!.cols + idx] ** 2;
    assert.ok(idx < 16 ? live < 1e-20 : live > 1 - 1e-12, `direction ${idx}: ${live} of its weight on live channels`);
  }
  const { report } = await compress(plan(m, 'out', { removeLayers: [1] }), silentJob);
  assert.deepEqual(report.removedLayers, []);
  const entry = report.matrices.find((r) => r.name === name)!;
  assert.equal(entry.rank, k(32, 48));
  // Top 5 by σ would be 0..4, all dead; GRASP's kept directions are all live (so not a prefix).
  assert.ok(entry.kept, 'kept is reported when it is not a prefix');
  assert.equal(entry.kept!.length, 5);
  assert.ok(entry.kept!.every((i) => i >= 16), `kept ${entry.kept}`);
  assert.deepEqual(entry.kept, [...entry.kept!].sort((a, b) => a - b));
  const out = await openCheckpoint(join(m.root, 'out'));
  try {
    assertSplit(svd, entry.kept!, await out.read(`${name}.u.weight`), await out.read(`${name}.v.weight`), name);
    assert.deepEqual(out.tensors.get(`${name}.u.weight`)!.shape, [32, 5]);
    assert.ok(!out.tensors.has(`${name}.weight`));
  } finally {
    await out.close();
  }
});

async function blockInfluence(m: Tiny): Promise<number[]> {
  return blockInfluenceOf(m.dir, await calibrationWindows(plan(m, 'x', {}), 128), SAMPLES, T);
}

test('compress: the lowest-BI layer is replaced at rank k, the rest is byte-identical, ranks in config, deterministic', async () => {
  const m = await shared();
  const bi = await sharedInfluence();
  const lowest = bi.indexOf(Math.min(...bi));
  assert.equal(new Set(bi).size, 3);
  const a = await compress(plan(m, 'a', { grasp: { layers: 1 } }), silentJob);
  const layer = `model.layers.${lowest}.`;
  const expected: Record<string, number> = {
    [`${layer}self_attn.q_proj`]: k(32, 32), [`${layer}self_attn.k_proj`]: k(16, 32), [`${layer}self_attn.v_proj`]: k(16, 32),
    [`${layer}self_attn.o_proj`]: k(32, 32), [`${layer}mlp.gate_proj`]: k(48, 32), [`${layer}mlp.up_proj`]: k(48, 32), [`${layer}mlp.down_proj`]: k(32, 48),
  };
  const config = JSON.parse(readFileSync(join(m.root, 'a', 'config.json'), 'utf8'));
  assert.deepEqual(config.rankwise.ranks, expected);
  assert.deepEqual(config.rankwise.removed_layers, []);
  assert.equal(config.num_hidden_layers, 3);
  // Only the replaced matrices are in the report: GRASP makes no rank decision for the others.
  assert.deepEqual(a.report.matrices.map((r) => [r.name, r.rank]).sort(), Object.entries(expected).sort());

  const src = await openCheckpoint(m.dir);
  const out = await openCheckpoint(join(m.root, 'a'));
  try {
    for (const name of src.tensors.keys()) {
      const base = name.replace(/\.weight$/, '');
      const rank = expected[base];
      if (rank === undefined) {
        assert.ok(bytes(await out.read(name)).equals(bytes(await src.read(name))), `${name} changed`);
        continue;
      }
      assert.ok(!out.tensors.has(name));
      const [rows, cols] = src.tensors.get(name)!.shape;
      assert.deepEqual(out.tensors.get(`${base}.u.weight`)!.shape, [rows, rank]);
      assert.deepEqual(out.tensors.get(`${base}.v.weight`)!.shape, [rank, cols]);
      const kept = a.report.matrices.find((r) => r.name === base)!.kept ?? [...Array(rank).keys()];
      assertSplit(await svdOf(m.dir, base), kept, await out.read(`${base}.u.weight`), await out.read(`${base}.v.weight`), base);
    }
  } finally {
    await src.close();
    await out.close();
  }

  const b = await compress(plan(m, 'b', { grasp: { layers: 1 } }), silentJob);
  assert.deepEqual(b.report.matrices, a.report.matrices);
  const ca = await openCheckpoint(join(m.root, 'a'));
  const cb = await openCheckpoint(join(m.root, 'b'));
  try {
    for (const base of Object.keys(expected)) {
      for (const f of [`${base}.u.weight`, `${base}.v.weight`]) assert.ok(bytes(await ca.read(f)).equals(bytes(await cb.read(f))), `${f} differs between runs`);
    }
  } finally {
    await ca.close();
    await cb.close();
  }
});

test('memory and order: blocks in descending layers, MLP first; the tensor count is flat across batches and restored after', async () => {
  const m = await shared();
  const job = recordingJob();
  const before = tf.memory().numTensors;
  // "auto" at ratio 0.34 chooses what layer removal would remove: 2 of the 3 equal-sized layers.
  await compress(plan(m, 'mem', { removeLayers: 'auto', ratio: 0.34 }), job);
  assert.equal(tf.memory().numTensors, before);
  // The authors' order: the two lowest-BI layers, the higher one first, MLP before attention.
  const bi = await sharedInfluence();
  const [hi, lo] = [0, 1, 2].sort((a, b) => bi[a] - bi[b]).slice(0, 2).sort((a, b) => b - a);
  assert.deepEqual([...job.counts.keys()], [`layer ${hi} mlp`, `layer ${hi} attention`, `layer ${lo} mlp`, `layer ${lo} attention`].map((b) => `GRASP gradients, ${b}`));
  // Each block is reported before its σ are installed and after every batch: the count after each
  // batch must not move.
  for (const [message, counts] of job.counts) {
    const after = counts.slice(1);
    assert.equal(after.length, SAMPLES / GRADIENT_BATCH, message);
    assert.ok(after.every((c) => c === after[0]), `${message}: ${after.join(', ')}`);
  }
});

test('cancellation during the gradient passes stops compress, writes nothing and releases every tensor', async () => {
  const m = await shared();
  const ac = new AbortController();
  const job = { ...recordingJob((_, done) => { if (done === 2) ac.abort(); }), signal: ac.signal };
  const before = tf.memory().numTensors;
  const entries = readdirSync(m.root).sort();
  await assert.rejects(compress(plan(m, 'cancelled', { grasp: { layers: 1 } }), job), (e: Error) => e.name === 'AbortError');
  assert.equal(job.counts.size, 1, 'stopped in the first block');
  assert.ok(!existsSync(join(m.root, 'cancelled')));
  assert.deepEqual(readdirSync(m.root).sort(), entries);
  assert.equal(tf.memory().numTensors, before);
});

test('plan errors name the grasp fields', async () => {
  const m = await shared();
  const bad = (extra: Raw) => compress(plan(m, 'e', extra), silentJob);
  await assert.rejects(bad({ grasp: { compression: 0.5, threshold: 0.9 } }), /either "grasp.compression" or "grasp.threshold"/);
  await assert.rejects(bad({ grasp: { layers: 1 }, removeLayers: [0] }), /either "removeLayers" indices or "grasp.layers"/);
  await assert.rejects(bad({ grasp: { layers: 1 }, removeLayers: 'auto' }), /"removeLayers": "auto" and "grasp.layers"/);
  await assert.rejects(bad({ ratio: 0 }), /grasp needs "grasp.layers"/);
  await assert.rejects(bad({ grasp: { layers: 4 } }), /"grasp.layers" is 4, but the model has 3 layers/);
  await assert.rejects(bad({ grasp: { layers: 1 }, overrides: [{ match: '**', rank: 2 }] }), /"overrides" do not apply to grasp/);
  await assert.rejects(bad({ grasp: { layer: 1 } }), /unknown field "grasp.layer"/);
  await assert.rejects(bad({ grasp: { importance: 'fisher' } }), /"grasp.importance" must be "taylor" or "gradient"/);
  await assert.rejects(bad({ grasp: { compression: 1 } }), /"grasp.compression" must be a number in \(0, 1\)/);
  await assert.rejects(bad({ removeLayers: [0], grasp: { compression: 0.99 } }), /"grasp.compression" 0.99 leaves rank 0 for model.layers.0.mlp.gate_proj/);
  await assert.rejects(bad({ removeLayers: [0], targets: ['lm_head'] }), /"targets" match no dense projection of layers 0/);
  assert.ok(!existsSync(join(m.root, 'e')));
});
