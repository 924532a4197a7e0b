// A loaded layer's projection as the SVD methods read it: the checkpoint's values in float64, in
// shared memory that Linalg.readOnly takes as it is (no second copy of every weight).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../../sidecar/tensor/backend';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { StreamingModel } from '../../../sidecar/model/model';
import { disposeLayer } from '../../../sidecar/model/layer';
import { portableLinalg } from '../../../sidecar/linalg';
import { loadedProjection, readProjection } from '../../../sidecar/methods/weights';
import { tinyModel } from './helpers';

test('loadedProjection: the checkpoint weight in float64, in shared memory readOnly() does not copy', async () => {
  await initBackend('wasm');
  const m = await tinyModel();
  const model = await StreamingModel.open(m.dir);
  const ckpt = await openCheckpoint(m.dir);
  const w = await model.loadLayer(0);
  try {
    for (const { name, spec } of model.arch.projections(0)) {
      const got = loadedProjection(w, spec.key);
      const want = await readProjection(ckpt, name, spec.transposed);
      assert.deepEqual([got.rows, got.cols], [want.rows, want.cols], name);
      assert.deepEqual(Array.from(got.data), Array.from(want.data), name);
      assert.ok(got.data.buffer instanceof SharedArrayBuffer, name);
      assert.equal(portableLinalg().readOnly(got).data, got.data, name);
    }
  } finally {
    disposeLayer(w);
    await Promise.all([model.close(), ckpt.close()]);
  }
});
