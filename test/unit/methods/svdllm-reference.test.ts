// SVD-LLM on real weights against an independent numpy computation
// (test/reference/methods/svdllm_reference.py, /usr/bin/python3): layer 0 projections of the
// reference model, calibration inputs taken from our forward pass on Brown text and handed to both
// sides as the same float32 values. Compared: the top-r singular values of W S and the products
// W_u W_v before and after the closed-form update (products: singular vectors have arbitrary signs).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { StreamingModel } from '../../../sidecar/model/model';
import { loadTokenizer } from '../../../sidecar/tokenizer/tokenizer';
import { GramCollector } from '../../../sidecar/stats/gram';
import { getLinalg } from '../../../sidecar/linalg';
import { fromFloat32, matrix } from '../../../sidecar/linalg/matrix';
import { rankForRatio } from '../../../sidecar/plan/ranks';
import { readProjection } from '../../../sidecar/methods/weights';
import { updatedU, whitenedTruncation } from '../../../sidecar/methods/whitened-svd';
import { CORPORA, MODEL, ROOT } from '../../helpers/paths';
import { layerInputs, mat, mul, outputError, sub, fro, tempDir, type Mat } from './helpers';

before(async () => { await initBackend('wasm'); });

interface Ref { sigma: number[]; product: number[]; product_updated: number[]; error: number; error_updated: number }

const relFro = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
};

const gramOf = async (x: Mat) => {
  const g = new GramCollector(x.cols);
  const tx = tf.tensor2d(Float32Array.from(x.data), [x.rows, x.cols]);
  g.add(tx);
  tx.dispose();
  return matrix(x.cols, x.cols, await g.result());
};

test('SVD-LLM factors of layer 0 k_proj (GQA, 128×256) and down_proj (256×688) match numpy to 1e-4', async () => {
  const T = 256;
  const ids = (await loadTokenizer(MODEL)).encode(readFileSync(join(CORPORA, 'brown-valid.txt'), 'utf8').slice(0, 40_000));
  assert.ok(ids.length >= 8 * T);
  const model = await StreamingModel.open(MODEL);
  const work = tempDir('svdllm-ref');
  try {
    // Whitening on 4 windows (1024 tokens ≥ 688 inputs of down_proj), update on 4 others.
    const X = await layerInputs(model, ids.subarray(0, 4 * T), T, 0);
    const Xh = await layerInputs(model, ids.subarray(4 * T, 8 * T), T, 0);
    for (const [key, site] of [['self_attn.k_proj', 'attn_in'], ['mlp.down_proj', 'mlp_act']] as const) {
      const name = `model.layers.0.${key}`;
      const w = await readProjection(model.ckpt, name, false);
      const W = fromFloat32(w.rows, w.cols, w.data);
      const r = rankForRatio(w.rows, w.cols, 0.4);
      const x = X.get(site)!;
      const xh = Xh.get(site)!;
      const S = (await getLinalg().cholesky(await gramOf(x))).l;
      const f = await whitenedTruncation(W, S, r);
      const u2 = await updatedU(W, f.v, await gramOf(xh));

      writeFileSync(join(work, 'x.bin'), Float32Array.from(x.data));
      writeFileSync(join(work, 'xh.bin'), Float32Array.from(xh.data));
      execFileSync('/usr/bin/python3', [join(ROOT, 'test/reference/methods/svdllm_reference.py'), MODEL, `${name}.weight`,
        join(work, 'x.bin'), join(work, 'xh.bin'), String(r), join(work, 'out.json')]);
      const ref = JSON.parse(readFileSync(join(work, 'out.json'), 'utf8')) as Ref;

      // The brief's bar, 1e-4 relative: both sides start from identical float32 inputs; ours sums
      // the Gram from float32 products (~1e-7) and then works in float64, numpy in float64 throughout.
      assert.ok(relFro(f.sigma.subarray(0, r), ref.sigma) < 1e-4, `${key} σ ${relFro(f.sigma.subarray(0, r), ref.sigma)}`);
      const p = mul(mat(f.u.rows, r, f.u.data), mat(r, f.v.cols, f.v.data));
      const p2 = mul(mat(u2.rows, r, u2.data), mat(r, f.v.cols, f.v.data));
      assert.ok(relFro(p.data, ref.product) < 1e-4, `${key} W_u W_v ${relFro(p.data, ref.product)}`);
      assert.ok(relFro(p2.data, ref.product_updated) < 1e-4, `${key} updated W_u W_v ${relFro(p2.data, ref.product_updated)}`);
      // The update exists to lower the output error on its inputs: it must, on both sides.
      const Wm = mat(w.rows, w.cols, W.data);
      const e = outputError(xh, Wm, p);
      const e2 = outputError(xh, Wm, p2);
      assert.ok(Math.abs(e / ref.error - 1) < 1e-4 && Math.abs(e2 / ref.error_updated - 1) < 1e-4, `${key} errors ${e}, ${e2} vs ${ref.error}, ${ref.error_updated}`);
      assert.ok(e2 < e, `${key}: update ${e2} ≥ whitening only ${e}`);
      assert.ok(fro(sub(p2, p)) > 0);
    }
  } finally {
    await model.close();
  }
});
