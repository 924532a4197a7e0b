// Resume (compress/resume.ts): a run stopped after layer k continues from layer k when the plan
// and checkpoint are unchanged, and writes exactly the bytes an uninterrupted run writes; a store
// made under another plan or checkpoint is discarded, said in the log.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../../sidecar/tensor/backend';
import { validatePlan } from '../../../sidecar/plan/plan';
import { compress } from '../../../sidecar/compress/run';
import { resumeDirFor } from '../../../sidecar/compress/resume';
import { isCancel } from '../../../sidecar/errors';
import type { Job } from '../../../sidecar/compress/job';
import { tinyModel } from '../methods/helpers';

before(async () => { await initBackend('wasm'); });

type Model = Awaited<ReturnType<typeof tinyModel>>;

/** Compresses, cancelling once `cancelAfter` layers are done; returns the log and the error if any. */
async function run(m: Model, output: string, extra: Record<string, unknown>, cancelAfter?: number) {
  const plan = validatePlan({ model: m.dir, output, ratio: 0.4, calibration: { data: m.text, samples: 8, seqLen: 32, seed: 3 }, ...extra }, m.root);
  const controller = new AbortController();
  const logs: string[] = [];
  const job: Job = {
    signal: controller.signal,
    progress: (phase, done) => { if (phase === 'factorize' && done === cancelAfter) controller.abort(); },
    log: (_level, message) => logs.push(message),
  };
  const error = await compress(plan, job).then(() => undefined, (e: unknown) => e as Error);
  return { logs, error };
}

const bytes = (dir: string) => Object.fromEntries(['model.safetensors', 'config.json'].map((f) => [f, readFileSync(join(dir, f))]));

test('svd-llm cancelled after layer 2 resumes from layer 2 and writes the same bytes as an uninterrupted run', async () => {
  const m = await tinyModel();
  // The update makes layer 2 depend on compressed layers 0 and 1; F16 output means the stored
  // float32 factors, not the written tensors, must be what the restored layers run with.
  const plan = { method: 'svd-llm', 'svd-llm': { updateSamples: 4 }, dtype: 'F16' };
  const whole = await run(m, join(m.root, 'whole'), plan);
  assert.equal(whole.error, undefined);

  const out = join(m.root, 'out');
  const stopped = await run(m, out, plan, 2);
  assert.ok(stopped.error && isCancel(stopped.error), `cancelled: ${stopped.error}`);
  assert.match(stopped.error.message, /^cancelled; 2 finished layers are kept in .*\.out\.rankwise-resume; running the same plan again resumes/);
  assert.ok(!existsSync(out), 'nothing published');
  assert.deepEqual(readdirSync(m.root).filter((n) => n.includes('rankwise-tmp')), [], 'temporary output removed');
  assert.deepEqual(readdirSync(resumeDirFor(out)).filter((n) => n.startsWith('layer-')).sort(), ['layer-00000.safetensors', 'layer-00001.safetensors']);

  const resumed = await run(m, out, plan);
  assert.equal(resumed.error, undefined);
  assert.ok(resumed.logs.some((l) => /^resume: 2 of 3 layers come from .*; resuming from layer 2$/.test(l)), resumed.logs.join('\n'));
  assert.deepEqual(bytes(out), bytes(join(m.root, 'whole')));
  assert.ok(!existsSync(resumeDirFor(out)), 'the store goes once the output is published');
});

test('svd-llm with a removed layer: the resumed run writes the same bytes as an uninterrupted one', async () => {
  const m = await tinyModel();
  // Layer 1 is removed: the uninterrupted run's pass ahead for layer 1 (started during layer 0)
  // must end before layer 2's own pass, or the original path would run two layers at once; the
  // resumed run computes layer 2 with no pass ahead.
  const plan = { method: 'svd-llm', 'svd-llm': { updateSamples: 4 }, removeLayers: [1] };
  const whole = await run(m, join(m.root, 'whole'), plan);
  assert.equal(whole.error, undefined);
  const out = join(m.root, 'out');
  const stopped = await run(m, out, plan, 1);
  assert.ok(stopped.error && isCancel(stopped.error), `cancelled: ${stopped.error}`);
  const resumed = await run(m, out, plan);
  assert.equal(resumed.error, undefined);
  assert.ok(resumed.logs.some((l) => /^resume: 1 of 2 layers come from .*; resuming from layer 2$/.test(l)), resumed.logs.join('\n'));
  assert.deepEqual(bytes(out), bytes(join(m.root, 'whole')));
});

test('a store from another plan or an edited checkpoint is discarded with a log line', async () => {
  const m = await tinyModel();
  const out = join(m.root, 'out');
  const discarded = /^resume: discarding .*\.out\.rankwise-resume: it was made by a different plan, checkpoint or Rankwise version$/;
  assert.ok((await run(m, out, { method: 'svd' }, 1)).error);
  assert.ok(existsSync(resumeDirFor(out)));
  const otherRatio = await run(m, out, { method: 'svd', ratio: 0.3 }, 1);
  assert.ok(otherRatio.logs.some((l) => discarded.test(l)), otherRatio.logs.join('\n'));
  assert.ok(!otherRatio.logs.some((l) => /^resume: \d+ of/.test(l)), 'nothing reused');

  // The store now belongs to ratio 0.3; touching the weights (new mtime) must invalidate it too.
  const later = new Date(Date.now() + 5000);
  utimesSync(join(m.dir, 'model.safetensors'), later, later);
  const touched = await run(m, out, { method: 'svd', ratio: 0.3 });
  assert.equal(touched.error, undefined);
  assert.ok(touched.logs.some((l) => discarded.test(l)), touched.logs.join('\n'));
  assert.ok(!touched.logs.some((l) => /^resume: \d+ of/.test(l)), 'nothing reused');
});

test('a method whose prepare() computes every layer (layer removal) keeps nothing to resume from', async () => {
  const m = await tinyModel();
  const out = join(m.root, 'out');
  const stopped = await run(m, out, { method: 'layer-removal', 'layer-removal': { layers: 1 } }, 1);
  assert.ok(stopped.error && isCancel(stopped.error));
  assert.equal(stopped.error.message, 'cancelled');
  assert.ok(!existsSync(resumeDirFor(out)));
});
