// A loaded layer's projection as the SVD methods' jobs read it: the checkpoint's values in float32,
// where tfjs holds them when its heap is shared memory (no copy of every weight), else a copy in
// shared memory that done() hands back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../../sidecar/tensor/backend';
import { heapBytes, wasmBackend } from '../../../sidecar/tensor/host-data';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { StreamingModel } from '../../../sidecar/model/model';
import { disposeLayer } from '../../../sidecar/model/layer';
import { reusedBuffer } from '../../../sidecar/linalg/shared-memory';
import { loadedProjection, readProjection } from '../../../sidecar/methods/weights';
import { tinyModel } from './helpers';

async function eachProjection(check: (name: string, got: ReturnType<typeof loadedProjection>, want: { rows: number; cols: number; data: Float32Array }) => void) {
  const m = await tinyModel();
  const model = await StreamingModel.open(m.dir);
  const ckpt = await openCheckpoint(m.dir);
  const w = await model.loadLayer(0);
  try {
    for (const { name, spec } of model.arch.projections(0)) {
      const got = loadedProjection(w, spec.key);
      const want = await readProjection(ckpt, name, spec.transposed);
      assert.deepEqual([got.m.rows, got.m.cols], [want.rows, want.cols], name);
      assert.ok(got.m.data instanceof Float32Array, name);
      assert.deepEqual(Array.from(got.m.data), Array.from(want.data), name);
      check(name, got, want);
    }
  } finally {
    disposeLayer(w);
    await Promise.all([model.close(), ckpt.close()]);
  }
}

test('loadedProjection on a shared tfjs heap: the tensor\'s own memory, not a copy', async () => {
  await initBackend('wasm');
  const heap = heapBytes(wasmBackend()!).buffer;
  if (!(heap instanceof SharedArrayBuffer)) return assert.fail('the test process runs tfjs-wasm\'s threaded build (shared heap)');
  await eachProjection((name, got) => {
    assert.equal(got.m.data.buffer, heapBytes(wasmBackend()!).buffer, name);
    got.done();
  });
});

test('loadedProjection elsewhere: a float32 copy in shared memory, handed back by done()', async () => {
  await initBackend('cpu');
  try {
    await eachProjection((name, got, want) => {
      assert.ok(got.m.data.buffer instanceof SharedArrayBuffer, name);
      const bytes = 4 * want.rows * want.cols;
      got.done();
      // The next request of that size gets the same buffer back.
      assert.equal(reusedBuffer(bytes, false), got.m.data.buffer, name);
    });
  } finally {
    await initBackend('wasm');
  }
});
