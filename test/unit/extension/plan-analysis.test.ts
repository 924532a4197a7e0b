// Plan-file intelligence without VS Code (TESTING.md layer 3): diagnostics placed on the field
// they are about, completion of the plan model's module names, and a size estimate that must
// equal what the engine then writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzePlan, planCompletions, projectionAt } from '../../../extension/plans/analyze';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { summarize } from '../../../sidecar/inspect/summary';
import { validatePlan } from '../../../sidecar/plan/plan';
import { compress } from '../../../sidecar/compress/run';
import { silentJob } from '../../../sidecar/compress/job';
import { initBackend } from '../../../sidecar/tensor/backend';
import type { ModelSummary } from '../../../sidecar/rpc/protocol';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { tempDir } from '../methods/helpers';
import { MODEL } from '../../helpers/paths';

async function summaryOf(dir: string): Promise<ModelSummary> {
  const ckpt = await openCheckpoint(dir);
  try {
    return summarize(ckpt);
  } finally {
    await ckpt.close();
  }
}

const PLAN_PATH = join(MODEL, '..', 'p.rankwise.json');
const plan = (o: Record<string, unknown>) => JSON.stringify({ model: './rankwise-brown-14m', output: '../out/x', method: 'svd', ratio: 0.2, ...o }, null, 2);
const textAt = (text: string, d: { offset: number; length: number }) => text.slice(d.offset, d.offset + d.length);

test('diagnostics: a glob matching nothing, a layer out of range and an engine error sit on their own field', async () => {
  const s = await summaryOf(MODEL);
  const text = plan({ overrides: [{ match: 'model.layers.*.mlp.gate_proj', ratio: 0.1 }, { match: 'model.layers.*.mlp.fc1', rank: 8 }], removeLayers: [2, 8] });
  const a = analyzePlan(text, PLAN_PATH, s);
  assert.equal(a.modelDir, MODEL);
  assert.deepEqual(a.diagnostics.map((d) => [textAt(text, d), d.severity]), [
    ['"model.layers.*.mlp.fc1"', 'error'],
    ['8', 'error'],
  ]);
  assert.match(a.diagnostics[0].message, /matches no projection of rankwise-brown-14m/);
  assert.match(a.diagnostics[1].message, /layers 0\.\.7/);

  const bad = plan({ calibration: { data: 'x.txt', samples: 0 } });
  const b = analyzePlan(bad, PLAN_PATH, s);
  assert.equal(b.diagnostics.length, 1);
  assert.equal(textAt(bad, b.diagnostics[0]), '0', 'the error is on calibration.samples');
  assert.match(b.diagnostics[0].message, /"calibration.samples" must be a positive integer/);

  const big = plan({ overrides: [{ match: 'model.layers.0.self_attn.k_proj', rank: 300 }] });
  const c = analyzePlan(big, PLAN_PATH, s);
  assert.equal(textAt(big, c.diagnostics[0]), '300', 'a rank larger than the matrix is flagged on the rank');

  const warn = plan({ targets: ['model.layers.*.mlp.*', 'model.layers.*.attn.*'] });
  assert.deepEqual(analyzePlan(warn, PLAN_PATH, s).diagnostics.map((d) => [textAt(warn, d), d.severity]), [['"model.layers.*.attn.*"', 'warning']]);
  assert.deepEqual(analyzePlan(plan({}), PLAN_PATH, s).diagnostics, []);
  assert.deepEqual(analyzePlan('{ "model": ', PLAN_PATH, s).diagnostics, [], 'syntax errors are left to the JSON language service');
});

test('estimate: parameters and bytes after the plan equal what compress() writes', async () => {
  await initBackend('cpu');
  const root = tempDir('plan-estimate');
  const dir = join(root, 'model');
  await makeCheckpoint(dir, { family: 'llama', layers: 3, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64, dtype: 'BF16' });
  const s = await summaryOf(dir);
  const planPath = join(root, 'p.rankwise.json');
  for (const [k, extra] of [
    { method: 'svd', ratio: 0.3, overrides: [{ match: 'model.layers.*.mlp.down_proj', rank: 4 }] },
    { method: 'svd', ratio: 0.5, removeLayers: [1], dtype: 'F32' },
    { method: 'layer-removal', removeLayers: [0, 2] },
  ].entries()) {
    const raw = { model: './model', output: `./out-${k}`, ...extra };
    const a = analyzePlan(JSON.stringify(raw), planPath, s);
    assert.deepEqual(a.diagnostics, []);
    const outcome = await compress(validatePlan(raw, root), silentJob);
    assert.equal(a.estimate!.parametersAfter, outcome.parameters_after, `plan ${k}: parameters`);
    assert.equal(a.estimate!.bytesAfter, outcome.bytes_after, `plan ${k}: bytes`);
    assert.equal(a.estimate!.approximate, false);
  }
  const auto = analyzePlan(JSON.stringify({ model: './model', output: './o', method: 'layer-removal', removeLayers: 'auto', ratio: 0.3 }), planPath, s);
  assert.equal(auto.estimate!.approximate, true, 'which layers go depends on calibration');
  assert.equal(auto.estimate!.parametersBefore - auto.estimate!.parametersAfter, s.decoder[0].parameters, 'ceil(0.3 × 3) = 1 layer');
});

test('completion offers the checkpoint\'s module names and per-layer globs in match/targets, layer indices in removeLayers', async () => {
  const s = await summaryOf(MODEL);
  const text = '{ "model": "./rankwise-brown-14m", "overrides": [{ "match": "" }], "targets": [""], "removeLayers": [ ] }';
  const inMatch = text.indexOf('""') + 1;
  const items = planCompletions(text, inMatch, s)!;
  const labels = items.map((i) => i.label);
  assert.ok(labels.includes('model.layers.0.self_attn.k_proj'));
  assert.ok(labels.includes('model.layers.*.mlp.down_proj'));
  assert.ok(labels.includes('model.layers.*.self_attn.*'));
  assert.equal(items.find((i) => i.label === 'model.layers.*.mlp.down_proj')!.detail, '8 projections');
  assert.equal(items.filter((i) => i.kind === 'module').length, 56);
  assert.ok(planCompletions(text, text.lastIndexOf('""') + 1, s)!.some((i) => i.label === 'model.layers.7.mlp.up_proj'));
  const layers = planCompletions(text, text.indexOf('[ ]') + 1, s)!;
  assert.deepEqual(layers.map((l) => l.label), ['0', '1', '2', '3', '4', '5', '6', '7']);
  assert.equal(planCompletions(text, 3, s), undefined, 'property keys are the schema\'s');
  assert.equal(projectionAt('{ "overrides": [{ "match": "model.layers.*.mlp.down_proj" }] }', 30, s), 'model.layers.0.mlp.down_proj');
});
