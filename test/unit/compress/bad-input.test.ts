// Bad configs and plans through the real entry points (compress() and the CLI): each gets an error
// that names the field, before any calibration runs, and leaves nothing behind.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../../sidecar/tensor/backend';
import { validatePlan } from '../../../sidecar/plan/plan';
import { compress } from '../../../sidecar/compress/run';
import { OutputError, PlanError } from '../../../sidecar/errors';
import { ErrorCodes } from '../../../sidecar/rpc/protocol';
import { ArchError } from '../../../sidecar/arch/table';
import type { Job } from '../../../sidecar/compress/job';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { CLI } from '../../helpers/paths';
import { tempDir } from '../../helpers/temp';

before(async () => { await initBackend('wasm'); });

const SMALL = { family: 'llama', layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64 } as const;

async function workspace(): Promise<string> {
  const root = tempDir('bad');
  await makeCheckpoint(join(root, 'model'), SMALL);
  writeFileSync(join(root, 'calib.txt'), 'the quick brown fox jumps over the lazy dog '.repeat(200));
  return root;
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
}

/** A job that records the phases it saw. */
function recording(): Job & { phases: string[]; logs: string[] } {
  const phases: string[] = [];
  const logs: string[] = [];
  return { phases, logs, progress: (p) => phases.push(p), log: (_l, m) => logs.push(m) };
}

test('config.json: an unknown model_type and a missing field are named; nothing is written', async () => {
  const root = await workspace();
  const plan = () => validatePlan({ model: 'model', output: 'out', method: 'svd', ratio: 0.2 }, root);
  editConfig(join(root, 'model'), (c) => { c.model_type = 'bert'; });
  await assert.rejects(compress(plan(), recording()), (e: unknown) => e instanceof ArchError && /model_type "bert" is not supported/.test(e.message));
  editConfig(join(root, 'model'), (c) => { c.model_type = 'llama'; delete c.num_attention_heads; });
  await assert.rejects(compress(plan(), recording()), (e: unknown) => e instanceof ArchError && /missing numeric field num_attention_heads/.test(e.message));
  assert.deepEqual(readdirSync(root).sort(), ['calib.txt', 'model']);
});

test('plan: ratios out of range and ranks larger than the matrix are named', async () => {
  const root = await workspace();
  const base = { model: 'model', output: 'out', method: 'svd', ratio: 0.2 };
  assert.throws(() => validatePlan({ ...base, ratio: 1.5 }, root), /"ratio" must be a number in \[0, 1\)/);
  assert.throws(() => validatePlan({ ...base, overrides: [{ match: '**.q_proj', ratio: -0.5 }] }, root), /"overrides\[0\]\.ratio" must be/);
  // k_proj is 16×32: rank 17 cannot be kept.
  const plan = validatePlan({ ...base, overrides: [{ match: '**.k_proj', rank: 17 }] }, root);
  await assert.rejects(compress(plan, recording()), (e: unknown) => e instanceof PlanError && /"overrides\[0\]\.rank" 17 exceeds min\(16, 32\) of model\.layers\.0\.self_attn\.k_proj/.test(e.message));
  assert.deepEqual(readdirSync(root).sort(), ['calib.txt', 'model']);
});

test('output: equal to, inside or containing the model folder, also through a symbolic link, is refused naming "output"', async () => {
  const root = await workspace();
  const refused = (raw: Record<string, unknown>) => (async () => compress(validatePlan({ method: 'svd', ratio: 0.2, ...raw }, root), recording()))();
  await assert.rejects(refused({ model: 'model', output: 'model' }), /"output" .* must not be the model folder or inside it/);
  await assert.rejects(refused({ model: 'model', output: 'model/sub' }), /"output" .* must not be the model folder or inside it/);
  await assert.rejects(refused({ model: 'model', output: '.' }), /"output" .* must not contain the model folder/);
  // Paths that differ as written but not once links are resolved.
  mkdirSync(join(root, 'links'));
  symlinkSync(join(root, 'model'), join(root, 'links', 'model'));
  symlinkSync(root, join(root, 'links', 'root'));
  await assert.rejects(refused({ model: 'links/model', output: 'model/compressed' }),
    (e: unknown) => e instanceof PlanError && /"output" \(.*model\/compressed\) resolves to .*, inside the model folder/.test(e.message));
  await assert.rejects(refused({ model: 'model', output: 'links/root' }),
    (e: unknown) => e instanceof PlanError && /"output" \(.*links\/root\) resolves to .*, which contains the model folder/.test(e.message));
  assert.deepEqual(readdirSync(join(root, 'model')).sort(), ['config.json', 'model.safetensors']);
});

test('an existing output folder is refused before any calibration, naming the folder', async () => {
  const root = await workspace();
  mkdirSync(join(root, 'out'));
  const job = recording();
  const plan = validatePlan({ model: 'model', output: 'out', method: 'svd-llm', ratio: 0.2, calibration: { data: 'calib.txt', samples: 2, seqLen: 16 } }, root);
  await assert.rejects(compress(plan, job), (e: unknown) => e instanceof OutputError && e.code === ErrorCodes.OutputExists && e.message.startsWith(`${join(root, 'out')}: output folder exists`));
  assert.deepEqual(job.phases, [], 'failed before loading or calibrating');
  assert.deepEqual(readdirSync(join(root, 'out')), []);
});

test('temporary folders of dead runs are removed before a run; one whose process is alive is left alone', async () => {
  const root = await workspace();
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const stale = join(root, `.out.rankwise-tmp-${dead}-0123abcd`);
  const live = join(root, `.out.rankwise-tmp-${process.pid}-89abcdef`);
  mkdirSync(stale);
  writeFileSync(join(stale, 'shard-0.partial'), 'half');
  mkdirSync(live);
  const job = recording();
  await compress(validatePlan({ model: 'model', output: 'out', method: 'svd', ratio: 0.2 }, root), job);
  assert.deepEqual(readdirSync(root).sort(), ['.out.rankwise-tmp-' + `${process.pid}-89abcdef`, 'calib.txt', 'model', 'out']);
  assert.ok(job.logs.some((l) => l === `removed ${stale}: the unfinished output of an earlier run (process ${dead}) that did not end cleanly`), job.logs.join('\n'));
  assert.ok(job.logs.some((l) => l.startsWith(`left ${live} in place: process ${process.pid}`)));
});

test('CLI: a bad config or plan is one line on stderr naming the field, exit 1, nothing created', async () => {
  const root = await workspace();
  editConfig(join(root, 'model'), (c) => { c.model_type = 'bert'; });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ model: 'model', output: 'out', method: 'svd', ratio: 0.2 }, /^rankwise: config\.json: model_type "bert" is not supported \(known: /],
    [{ model: 'model', output: 'out', method: 'svd', ratio: 2 }, /^rankwise: plan: "ratio" must be a number in \[0, 1\)/],
    [{ model: 'model', output: 'model/x', method: 'svd', ratio: 0.2 }, /^rankwise: plan: "output" .* must not be the model folder or inside it/],
  ];
  for (const [plan, re] of cases) {
    writeFileSync(join(root, 'p.rankwise.json'), JSON.stringify(plan));
    const r = spawnSync(process.execPath, [CLI, 'compress', join(root, 'p.rankwise.json'), '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
  assert.deepEqual(readdirSync(root).sort(), ['calib.txt', 'model', 'p.rankwise.json']);
});
