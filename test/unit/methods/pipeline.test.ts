// ASVD, SVD-LLM and layer removal through the real pipeline (compress/run.ts: calibration, streaming,
// writer) on a small GQA llama with the real tokenizer, checked from the written checkpoint alone
// against quantities computed here from the ORIGINAL model: if whitening, truncation, the update or
// the writer broke, the identities below would not hold.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { StreamingModel } from '../../../sidecar/model/model';
import { validatePlan } from '../../../sidecar/plan/plan';
import { compress } from '../../../sidecar/compress/run';
import { silentJob } from '../../../sidecar/compress/job';
import { calibrationWindows, HiddenStates } from '../../../sidecar/methods/calibration';
import type { Report } from '../../../sidecar/compress/report';
import { blockInfluenceOf, fro, layerInputs, mat, mul, outputError, sub, t, tinyModel, type Mat } from './helpers';

before(async () => { await initBackend('wasm'); });

const T = 32;
type Raw = Record<string, unknown>;

async function run(m: { dir: string; text: string; root: string }, tag: string, extra: Raw) {
  const plan = validatePlan({
    model: m.dir, output: join(m.root, tag), ratio: 0.4, calibration: { data: m.text, samples: 16, seqLen: T, seed: 3 }, ...extra,
  }, m.root);
  const outcome = await compress(plan, silentJob);
  return { plan, outcome, report: outcome.report as Report };
}

async function factors(dir: string): Promise<{ get(name: string): Promise<Mat>; config: Record<string, unknown>; close(): Promise<void> }> {
  const ck = await openCheckpoint(dir);
  return {
    config: ck.config,
    close: () => ck.close(),
    get: async (name: string) => {
      const u = ck.tensors.get(`${name}.u.weight`)!;
      const v = ck.tensors.get(`${name}.v.weight`)!;
      return mul(mat(u.shape[0], u.shape[1], await ck.read(`${name}.u.weight`)), mat(v.shape[0], v.shape[1], await ck.read(`${name}.v.weight`)));
    },
  };
}

async function dense(model: StreamingModel, name: string): Promise<Mat> {
  const e = model.ckpt.tensors.get(`${name}.weight`)!;
  return mat(e.shape[0], e.shape[1], await model.ckpt.read(`${name}.weight`));
}

test('svd-llm (whitening only): every written W_u W_v has output error √(1 − kept energy)·‖W X‖ on original inputs', async () => {
  const m = await tinyModel();
  const { plan, report } = await run(m, 'w', { method: 'svd-llm', 'svd-llm': { update: false } });
  const out = await factors(plan.output);
  const ranks = (out.config.rankwise as { ranks: Record<string, number> }).ranks;
  assert.equal(ranks['model.layers.0.self_attn.k_proj'], 6, 'GQA k_proj 16×32 at ratio 0.4: floor(0.6·512/48)');
  const model = await StreamingModel.open(m.dir);
  try {
    const ids = await calibrationWindows(plan, 128);
    let checked = 0;
    for (let i = 0; i < 3; i++) {
      const X = await layerInputs(model, ids, T, i);
      for (const { name, spec } of model.arch.projections(i)) {
        const W = await dense(model, name);
        const kept = report.matrices.find((r) => r.name === name)!.keptEnergy!;
        const x = X.get(spec.input)!;
        const err = outputError(x, W, await out.get(name));
        const expected = Math.sqrt(1 - kept) * fro(mul(x, { rows: W.cols, cols: W.rows, data: transposeData(W) }));
        // Theorem 3.2 through the whole pipeline; float32 factors and Gram: 1e-3 relative.
        assert.ok(Math.abs(err / expected - 1) < 1e-3, `${name}: ${err} vs ${expected}`);
        checked++;
      }
    }
    assert.equal(checked, 21);
  } finally {
    await model.close();
    await out.close();
  }
});

function transposeData(w: Mat): Float64Array {
  const d = new Float64Array(w.data.length);
  for (let i = 0; i < w.rows; i++) for (let j = 0; j < w.cols; j++) d[j * w.rows + i] = w.data[i * w.cols + j];
  return d;
}

test('svd-llm update: same W_v as whitening only, new W_u, lower error on the update inputs', async () => {
  const m = await tinyModel();
  const a = await run(m, 'w', { method: 'svd-llm', 'svd-llm': { update: false } });
  const b = await run(m, 'u', { method: 'svd-llm', 'svd-llm': { update: true, updateSamples: 4 } });
  const ckA = await openCheckpoint(a.plan.output);
  const ckB = await openCheckpoint(b.plan.output);
  const model = await StreamingModel.open(m.dir);
  try {
    for (let i = 0; i < 3; i++) {
      for (const { name } of model.arch.projections(i)) {
        const va = await ckA.read(`${name}.v.weight`);
        const vb = await ckB.read(`${name}.v.weight`);
        // W_v depends only on the original-model whitening: identical float32 computations.
        assert.deepEqual(vb, va, `${name} W_v`);
        assert.notDeepEqual(await ckB.read(`${name}.u.weight`), await ckA.read(`${name}.u.weight`), `${name} W_u unchanged`);
      }
    }
    // Layer 0's update inputs are the original inputs of the first 4 windows: the refit W_u is the
    // least-squares optimum there, so its error must be below whitening-only's for every projection.
    const ids = (await calibrationWindows(a.plan, 128)).subarray(0, 4 * T);
    const X = await layerInputs(model, ids, T, 0);
    const fa = await factors(a.plan.output);
    const fb = await factors(b.plan.output);
    for (const { name, spec } of model.arch.projections(0)) {
      const W = await dense(model, name);
      const x = X.get(spec.input)!;
      const ea = outputError(x, W, await fa.get(name));
      const eb = outputError(x, W, await fb.get(name));
      assert.ok(eb < ea, `${name}: updated ${eb} vs ${ea}`);
    }
    await fa.close();
    await fb.close();
  } finally {
    await model.close();
    await ckA.close();
    await ckB.close();
  }
});

test('svd-llm update on every calibration window: layer 0 refits on the whitening inputs with no capture pass; the last layer advances neither path', async () => {
  const m = await tinyModel();
  const calls = { capture: 0, run: 0 };
  const proto = HiddenStates.prototype;
  const { capture, run: runStates } = proto;
  proto.capture = function (...a) { calls.capture++; return capture.apply(this, a); };
  proto.run = function (...a) { calls.run++; return runStates.apply(this, a); };
  const counted = async (tag: string, updateSamples: number) => {
    calls.capture = calls.run = 0;
    const r = await run(m, tag, { method: 'svd-llm', 'svd-llm': { update: true, updateSamples } });
    return { ...r, calls: { ...calls } };
  };
  let all, some;
  try {
    all = await counted('all', 16);
    some = await counted('some', 4);
  } finally {
    Object.assign(proto, { capture, run: runStates });
  }
  // Three layers: the original path runs layers 0 and 1 and captures layer 2's inputs (its outputs
  // are never read), the update path runs layers 0 and 1 and captures layers 1 and 2; layer 0's
  // capture pass is the whitening pass's when the windows are the same.
  assert.deepEqual(all.calls, { capture: 3, run: 4 });
  assert.deepEqual(some.calls, { capture: 4, run: 4 });
  // The refit W_u of layer 0 is the least-squares optimum on all 16 windows' inputs X (G = XᵀX):
  // the normal equations' residual (W_u W_v − W) G W_vᵀ vanishes up to the float32 factors. The
  // run on 4 windows is optimal elsewhere, which this check must tell apart.
  const model = await StreamingModel.open(m.dir);
  const residual = async (dir: string) => {
    const X = await layerInputs(model, await calibrationWindows(all.plan, 128), T, 0);
    const ck = await openCheckpoint(dir);
    let worst = 0;
    for (const { name, spec } of model.arch.projections(0)) {
      const W = await dense(model, name);
      const x = X.get(spec.input)!;
      const v = ck.tensors.get(`${name}.v.weight`)!;
      const V = mat(v.shape[0], v.shape[1], await ck.read(`${name}.v.weight`));
      const u = ck.tensors.get(`${name}.u.weight`)!;
      const P = mul(mat(u.shape[0], u.shape[1], await ck.read(`${name}.u.weight`)), V);
      const GVt = mul(t(x), mul(x, t(V)));
      worst = Math.max(worst, fro(mul(sub(P, W), GVt)) / fro(mul(W, GVt)));
    }
    await ck.close();
    return worst;
  };
  try {
    const [rAll, rSome] = [await residual(all.plan.output), await residual(some.plan.output)];
    assert.ok(rAll < 1e-4, `normal equations' residual ${rAll}`);
    assert.ok(rSome > 100 * rAll, `4-window refit ${rSome} vs ${rAll}`);
  } finally {
    await model.close();
  }
});

test('asvd: written factors are the best rank-r fit of W diag(s), s = (mean|x|)^½ + 1e-6 from original inputs', async () => {
  const m = await tinyModel();
  const { plan, report } = await run(m, 'a', { method: 'asvd' });
  const out = await factors(plan.output);
  const model = await StreamingModel.open(m.dir);
  try {
    const ids = await calibrationWindows(plan, 128);
    for (let i = 0; i < 3; i++) {
      const X = await layerInputs(model, ids, T, i);
      for (const { name, spec } of model.arch.projections(i)) {
        const W = await dense(model, name);
        const x = X.get(spec.input)!;
        const s = new Float64Array(x.cols);
        for (let r = 0; r < x.rows; r++) for (let j = 0; j < x.cols; j++) s[j] += Math.abs(x.data[r * x.cols + j]) / x.rows;
        const scale = (a: Mat) => mat(a.rows, a.cols, a.data.map((v, k) => v * (Math.sqrt(s[k % a.cols]) + 1e-6)));
        const kept = report.matrices.find((r) => r.name === name)!.keptEnergy!;
        const err = fro(scale(sub(W, await out.get(name))));
        // Eckart–Young in the scaled space; float32 factors: 1e-3 relative.
        assert.ok(Math.abs(err / (Math.sqrt(1 - kept) * fro(scale(W))) - 1) < 1e-3, `${name}`);
      }
    }
  } finally {
    await model.close();
    await out.close();
  }
});

test('layer removal: lowest Block Influence goes, layers renumbered, "auto" reaches the ratio', async () => {
  const m = await tinyModel();
  const plan = validatePlan({ model: m.dir, output: join(m.root, 'x'), method: 'layer-removal', calibration: { data: m.text, samples: 16, seqLen: T, seed: 3 } }, m.root);
  const bi = await blockInfluenceOf(m.dir, await calibrationWindows(plan, 128), 16, T);
  const lowest = bi.indexOf(Math.min(...bi));
  const one = await run(m, 'one', { method: 'layer-removal', 'layer-removal': { layers: 1 } });
  assert.deepEqual(one.report.removedLayers, [lowest]);
  const ck = await openCheckpoint(one.plan.output);
  const src = await openCheckpoint(m.dir);
  assert.equal(ck.config.num_hidden_layers, 2);
  const kept = [0, 1, 2].filter((i) => i !== lowest);
  for (const [j, i] of kept.entries()) {
    assert.deepEqual(await ck.read(`model.layers.${j}.mlp.down_proj.weight`), await src.read(`model.layers.${i}.mlp.down_proj.weight`));
    assert.deepEqual(await ck.read(`model.layers.${j}.input_layernorm.weight`), await src.read(`model.layers.${i}.input_layernorm.weight`));
  }
  assert.ok(!ck.tensors.has('model.layers.2.mlp.down_proj.weight'));
  await ck.close();
  await src.close();
  // Equal layers: ratio 0.3 needs 1 of 3 (33%), 0.34 needs 2.
  assert.equal((await run(m, 'a30', { method: 'layer-removal', removeLayers: 'auto', ratio: 0.3 })).report.removedLayers.length, 1);
  assert.equal((await run(m, 'a34', { method: 'layer-removal', removeLayers: 'auto', ratio: 0.34 })).report.removedLayers.length, 2);
  // Explicit indices need no calibration text.
  const list = validatePlan({ model: m.dir, output: join(m.root, 'l'), method: 'layer-removal', removeLayers: [2] }, m.root);
  assert.deepEqual((await compress(list, silentJob)).report.removedLayers, [2]);
  assert.equal(JSON.parse(readFileSync(join(m.root, 'l', 'config.json'), 'utf8')).rankwise.removed_layers[0], 2);
});

test('between layers a calibrating method holds only its calibration states and the final norm (SVD-LLM: and the layer its pass ahead read): no embedding, no head', async () => {
  const m = await tinyModel();
  const H = 32;
  const states = (windows: number) => windows * T * H * 4;
  // q, o 32×32; k, v 16×32; gate, up 48×32; down 32×48; two norms: float32.
  const layer = 4 * (2 * 32 * 32 + 2 * 16 * 32 + 3 * 48 * 32 + 2 * 32);
  // Layer removal measures Block Influence layer by layer in prepare(); the others stream in layer().
  const cases = [
    { method: 'svd-llm', 'svd-llm': { updateSamples: 4 }, between: 'factorize', bytes: states(16 + 4), ahead: layer },
    { method: 'asvd', between: 'factorize', bytes: states(16), ahead: 0 },
    { method: 'layer-removal', 'layer-removal': { layers: 1 }, between: 'calibrate', bytes: states(16), ahead: 0 },
  ];
  for (const { between, bytes, ahead, ...extra } of cases) {
    const plan = validatePlan({ model: m.dir, output: join(m.root, `mem-${extra.method}`), ratio: 0.4, calibration: { data: m.text, samples: 16, seqLen: T, seed: 3 }, ...extra }, m.root);
    const base = tf.memory().numBytes;
    const held: number[] = [];
    await compress(plan, { ...silentJob, progress: (phase, _done, _total, message) => {
      if (phase === between && (between === 'factorize' || message?.startsWith('Block Influence'))) held.push(tf.memory().numBytes - base);
    } });
    assert.ok(held.length >= 3, `${extra.method}: ${held.length} points between layers`);
    // SVD-LLM's whitening pass for layer i+1 runs during layer i: its weights may be resident, no more.
    const allowed = new Set([bytes + H * 4, bytes + H * 4 + ahead]);
    assert.equal(held[0], bytes + H * 4, `${extra.method}: before the first layer`);
    assert.ok(held.every((b) => allowed.has(b)), `${extra.method}: bytes resident between layers ${held.join(', ')}, allowed ${[...allowed].join(', ')}`);
  }
});

test('plan errors: missing calibration text, unknown or invalid method settings', async () => {
  const m = await tinyModel();
  const bad = (extra: Raw) => validatePlan({ model: m.dir, output: join(m.root, 'e'), ratio: 0.4, ...extra }, m.root);
  await assert.rejects(compress(bad({ method: 'svd-llm' }), silentJob), /calibration\.data/);
  await assert.rejects(compress(bad({ method: 'asvd' }), silentJob), /calibration\.data/);
  const cal = { data: m.text, samples: 2, seqLen: T };
  await assert.rejects(compress(bad({ method: 'svd-llm', calibration: cal, 'svd-llm': { updat: true } }), silentJob), /unknown field "svd-llm.updat"/);
  await assert.rejects(compress(bad({ method: 'svd-llm', calibration: cal, 'svd-llm': { updateSamples: 0 } }), silentJob), /"svd-llm.updateSamples" must be a positive integer/);
  await assert.rejects(compress(bad({ method: 'layer-removal', ratio: 0, calibration: cal }), silentJob), /layer-removal needs/);
  await assert.rejects(compress(bad({ method: 'layer-removal', calibration: cal, 'layer-removal': { layers: 3 } }), silentJob), /would leave none/);
});
