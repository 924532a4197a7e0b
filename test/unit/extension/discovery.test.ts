// Checkpoint discovery and default plan naming for "Compress model" (no VS Code needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCheckpoints, isCheckpointListing } from '../../../extension/checkpoints/discover';
import { defaultOutput, defaultPlan } from '../../../extension/commands/default-plan';
import { tempDir } from '../../helpers/temp';

test('checkpoint discovery finds config.json + safetensors folders, skips node_modules and hidden folders', async () => {
  const root = tempDir('disc');
  const mk = (rel: string, files: string[]) => {
    mkdirSync(join(root, rel), { recursive: true });
    for (const f of files) writeFileSync(join(root, rel, f), '{}');
  };
  mk('a', ['config.json', 'model.safetensors']);
  mk('b/c', ['config.json', 'model-00001-of-00002.safetensors']);
  mk('d', ['config.json']);
  mk('node_modules/x', ['config.json', 'model.safetensors']);
  mk('.hidden/y', ['config.json', 'model.safetensors']);
  mk('1/2/3/4/5/6', ['config.json', 'model.safetensors']);
  assert.deepEqual(await findCheckpoints(root), [join(root, 'a'), join(root, 'b/c')]);
});

test('default plan: plain SVD at 20% into a new sibling folder, never an existing one', () => {
  const taken = new Set(['/m/brown-svd-20', '/m/brown-svd-20-2']);
  assert.equal(defaultOutput('/m/brown', 'svd-20', (p) => taken.has(p)), '/m/brown-svd-20-3');
  assert.deepEqual(defaultPlan('/m/x', () => false), { model: '/m/x', output: '/m/x-svd-20', method: 'svd', ratio: 0.2 });
});

test('a folder is a checkpoint with config.json and at least one safetensors file, single or sharded', () => {
  assert.equal(isCheckpointListing(['config.json', 'model.safetensors', 'tokenizer.json']), true);
  assert.equal(isCheckpointListing(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors']), true);
  assert.equal(isCheckpointListing(['config.json', 'pytorch_model.bin']), false);
  assert.equal(isCheckpointListing(['model.safetensors']), false);
});
