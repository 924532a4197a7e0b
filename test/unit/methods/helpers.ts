// Shared by the method tests: a small llama checkpoint that the real tokenizer can feed, its
// calibration text, plain float64 matrix helpers, and the inputs a layer's projections see.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { InputSite } from '../../../sidecar/arch/table';
import { StreamingModel as StreamingModelClass, type StreamingModel } from '../../../sidecar/model/model';
import { BlockInfluence } from '../../../sidecar/stats/block-influence';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { CORPORA, MODEL } from '../../helpers/paths';
import { tempDir } from '../../helpers/temp';

export { tempDir };

/**
 * 3 layers, hidden 32, GQA (4 heads, 2 kv heads: k/v are 16×32), MLP 48, with the real model's
 * 32000-token vocabulary and tokenizer so plans can calibrate on real text. Plus a 40 kB slice of
 * the Brown training text as calibration data.
 */
export async function tinyModel(seed = 5): Promise<{ dir: string; text: string; root: string }> {
  const root = tempDir('methods');
  const dir = join(root, 'model');
  await makeCheckpoint(dir, { family: 'llama', layers: 3, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 32000, context: 128, seed });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(MODEL, f), join(dir, f));
  const text = join(root, 'calib.txt');
  writeFileSync(text, readFileSync(join(CORPORA, 'brown-train.txt'), 'utf8').slice(0, 40_000));
  return { dir, text, root };
}

export interface Mat { rows: number; cols: number; data: Float64Array }

export function mat(rows: number, cols: number, data: ArrayLike<number>): Mat {
  return { rows, cols, data: Float64Array.from(data) };
}

export function mul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error('shape');
  const c = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let k = 0; k < a.cols; k++) {
      const x = a.data[i * a.cols + k];
      for (let j = 0; j < b.cols; j++) c[i * b.cols + j] += x * b.data[k * b.cols + j];
    }
  }
  return { rows: a.rows, cols: b.cols, data: c };
}

export function t(a: Mat): Mat {
  const d = new Float64Array(a.data.length);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) d[j * a.rows + i] = a.data[i * a.cols + j];
  return { rows: a.cols, cols: a.rows, data: d };
}

export function sub(a: Mat, b: Mat): Mat {
  return { rows: a.rows, cols: a.cols, data: a.data.map((x, i) => x - b.data[i]) };
}

export function fro(a: Mat): number {
  let s = 0;
  for (const x of a.data) s += x * x;
  return Math.sqrt(s);
}

export function randn(rows: number, cols: number, rand: () => number): Mat {
  const d = new Float64Array(rows * cols);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  return { rows, cols, data: d };
}

/** Every input site of layer i on the model's original path, as tokens × dim matrices. */
export async function layerInputs(model: StreamingModel, ids: Int32Array, seqLen: number, layer: number): Promise<Map<InputSite, Mat>> {
  const B = ids.length / seqLen;
  let h = await model.embed(ids, B, seqLen);
  const out = new Map<InputSite, Mat>();
  for (let i = 0; i <= layer; i++) {
    const next = await model.runLayer(i, h, i === layer ? { onInput: (site, x) => out.set(site, mat(x.shape[0], x.shape[1], x.dataSync())) } : undefined);
    h.dispose();
    h = next;
  }
  h.dispose();
  return out;
}

/** W X̂ᵀ-style output error ‖X Wᵀ − X W′ᵀ‖_F for tokens × n inputs X. */
export function outputError(x: Mat, w: Mat, wPrime: Mat): number {
  return fro(mul(x, t(sub(w, wPrime))));
}

export { tf };

/** Block Influence of every layer, by running the model layer by layer over these windows (the tests' own path). */
export async function blockInfluenceOf(dir: string, ids: Int32Array, windows: number, seqLen: number): Promise<number[]> {
  const model = await StreamingModelClass.open(dir);
  const bi: number[] = [];
  try {
    let h = await model.embed(ids, windows, seqLen);
    for (let i = 0; i < model.layerCount; i++) {
      const next = await model.runLayer(i, h);
      const b = new BlockInfluence();
      b.add(h, next);
      bi.push(b.value());
      h.dispose();
      h = next;
    }
    h.dispose();
  } finally {
    await model.close();
  }
  return bi;
}
