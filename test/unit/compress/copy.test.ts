// Tensors the pipeline copies unchanged (embedding, norms, head, the kept layers' tensors) are written
// from their stored bytes, not decoded to float32 and encoded again; a dtype change converts them.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../../sidecar/tensor/backend';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { validatePlan } from '../../../sidecar/plan/plan';
import { compress } from '../../../sidecar/compress/run';
import { silentJob } from '../../../sidecar/compress/job';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { tempDir } from '../../helpers/temp';

before(async () => { await initBackend('wasm'); });

test('a tensor copied with its dtype kept is written byte for byte; a dtype change converts it', async () => {
  const root = tempDir('copy');
  const dir = join(root, 'model');
  await makeCheckpoint(dir, { family: 'llama', layers: 2, hidden: 16, heads: 2, kvHeads: 1, intermediate: 24, vocab: 32, dtype: 'BF16' });
  const src = await openCheckpoint(dir);
  // A BF16 NaN with the quiet bit clear: a decode and re-encode would make it 0x7fc1.
  const norm = src.tensors.get('model.norm.weight')!;
  const fd = openSync(norm.file, 'r+');
  writeSync(fd, Uint8Array.of(0x81, 0x7f), 0, 2, norm.offset);
  closeSync(fd);

  const removeLast = async (tag: string, dtype: string) => {
    await compress(validatePlan({ model: dir, output: join(root, tag), method: 'layer-removal', removeLayers: [1], dtype }, root), silentJob);
    return openCheckpoint(join(root, tag));
  };
  const kept = await removeLast('kept', 'keep');
  const f32 = await removeLast('f32', 'F32');
  try {
    const copied = [...src.tensors.keys()].filter((n) => !n.startsWith('model.layers.1.'));
    assert.deepEqual([...kept.tensors.keys()].sort(), copied.sort());
    for (const name of copied) {
      assert.deepEqual(await kept.readRaw(name), await src.readRaw(name), name);
      const converted = f32.tensors.get(name)!;
      assert.equal(converted.dtype, 'F32');
      // BF16 → F32 is exact (arrays, not Float32Arrays: those never compare NaN as equal).
      assert.deepEqual(Array.from(await f32.read(name)), Array.from(await src.read(name)), name);
    }
  } finally {
    await Promise.all([src.close(), kept.close(), f32.close()]);
  }
});
