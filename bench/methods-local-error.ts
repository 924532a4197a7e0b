// Why the methods rank as they do on the reference model: per layer, the relative output error
// ‖W X − W′ X‖_F / ‖W X‖_F of plain SVD, ASVD and SVD-LLM(W) at one ratio, on the original model's
// inputs of held-out windows (brown-valid), with factors from brown-train statistics; and the spread
// of per-channel mean |x| (ASVD's only signal: uniform channels make ASVD plain SVD).
//   node out/bench/methods-local-error.js [--ratio 0.4] [--samples 16]
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../sidecar/tensor/backend';
import { StreamingModel } from '../sidecar/model/model';
import { loadTokenizer } from '../sidecar/tokenizer/tokenizer';
import { sampleWindows } from '../sidecar/data/text';
import { InputStats } from '../sidecar/stats/input-stats';
import { getLinalg } from '../sidecar/linalg';
import { fromFloat32, identity, matmul, matrix, type Matrix } from '../sidecar/linalg/matrix';
import { rankForRatio } from '../sidecar/plan/ranks';
import { readProjection } from '../sidecar/methods/weights';
import { scaledTruncation, whitenedTruncation } from '../sidecar/methods/whitened-svd';
import { asvdScale } from '../sidecar/methods/asvd';
import type { InputSite } from '../sidecar/arch/table';

const ROOT = resolve(__dirname, '..', '..');
const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};

async function main() {
  await initBackend('auto');
  const ratio = arg('ratio', 0.4);
  const samples = arg('samples', 16);
  const T = 256;
  const model = await StreamingModel.open(join(ROOT, 'models', 'rankwise-brown-14m'));
  const tok = await loadTokenizer(model.ckpt.dir);
  const train = tok.encode(readFileSync(join(ROOT, 'corpora', 'brown-train.txt'), 'utf8').slice(0, 400_000));
  const valid = tok.encode(readFileSync(join(ROOT, 'corpora', 'brown-valid.txt'), 'utf8').slice(0, 100_000)).subarray(0, 8 * T);
  let hTrain = await model.embed(sampleWindows(train, samples, T, 0), samples, T);
  let hValid = await model.embed(valid, 8, T);
  const la = getLinalg();
  console.log(`ratio ${ratio}; statistics from ${samples} × ${T} train tokens, errors on 8 × ${T} valid tokens`);
  console.log('| layer | projection | mean|x| max/min | svd | asvd | svd-llm(W) |\n| --- | --- | --- | --- | --- | --- |');
  const total = { svd: 0, asvd: 0, svdllm: 0 };
  for (let i = 0; i < model.layerCount; i++) {
    const stats = new InputStats({ meanAbs: true });
    const held = new Map<InputSite, Matrix>();
    const nextTrain = await model.runLayer(i, hTrain, { onInput: stats.onInput });
    const nextValid = await model.runLayer(i, hValid, { onInput: (site, x) => held.set(site, fromFloat32(x.shape[0], x.shape[1], x.dataSync() as Float32Array)) });
    tf.dispose([hTrain, hValid]);
    hTrain = nextTrain;
    hValid = nextValid;
    for (const { name, spec } of model.arch.projections(i)) {
      const w = await readProjection(model.ckpt, name, false);
      const W = fromFloat32(w.rows, w.cols, w.data);
      const r = rankForRatio(w.rows, w.cols, ratio);
      const mean = stats.meanAbs(spec.input)!.result();
      const g = stats.gram(spec.input)!;
      const S = (await la.cholesky(matrix(g.dim, g.dim, await g.result()))).l;
      const X = held.get(spec.input)!;
      const err = (u: Matrix, v: Matrix) => {
        const d = matmul(u, v);
        for (let k = 0; k < d.data.length; k++) d.data[k] = W.data[k] - d.data[k];
        return fro(matmul(X, d, { transB: true })) / fro(matmul(X, W, { transB: true }));
      };
      const plain = await whitenedTruncation(W, identity(w.cols), r);
      const asvd = await scaledTruncation(W, asvdScale(mean, 0.5), r);
      const white = await whitenedTruncation(W, S, r);
      const e = { svd: err(plain.u, plain.v), asvd: err(asvd.u, asvd.v), svdllm: err(white.u, white.v) };
      total.svd += e.svd;
      total.asvd += e.asvd;
      total.svdllm += e.svdllm;
      console.log(`| ${i} | ${spec.key} | ${(Math.max(...mean) / Math.min(...mean)).toFixed(1)} | ${e.svd.toFixed(4)} | ${e.asvd.toFixed(4)} | ${e.svdllm.toFixed(4)} |`);
    }
    stats.dispose();
  }
  const n = model.layerCount * model.arch.projections(0).length;
  console.log(`\nmean relative output error: svd ${(total.svd / n).toFixed(4)}, asvd ${(total.asvd / n).toFixed(4)}, svd-llm(W) ${(total.svdllm / n).toFixed(4)}`);
  tf.dispose([hTrain, hValid]);
  await model.close();
}

function fro(a: Matrix): number {
  let s = 0;
  for (const x of a.data) s += x * x;
  return Math.sqrt(s);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
