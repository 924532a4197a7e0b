// A process that compresses gets a warm linear-algebra pool: compress() starts it before reading the
// model. (A process that only loads the backend, as every test process, eval and inspect do, gets
// a cold one on first use: linalgPool().)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initBackend } from '../../../sidecar/tensor/backend';
import { linalgPool } from '../../../sidecar/linalg/pool';
import { validatePlan } from '../../../sidecar/plan/plan';
import { compress } from '../../../sidecar/compress/run';
import { silentJob } from '../../../sidecar/compress/job';
import { tinyModel } from '../methods/helpers';

test('compress() starts the process pool warm on the portable backend', async () => {
  await initBackend('wasm');
  const m = await tinyModel();
  await compress(validatePlan({ model: m.dir, output: join(m.root, 'out'), method: 'svd', ratio: 0.4 }, m.root), silentJob);
  assert.equal(linalgPool().warm, true);
});
