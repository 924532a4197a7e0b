// Shared by the model tests: run the independent numpy reference and compare arrays.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { StreamingModel } from '../../../sidecar/model/model';
import { ROOT } from '../../helpers/paths';
import { tempDir } from '../../helpers/temp';

export { tempDir };

export const REF = join(ROOT, 'test', 'reference', 'model');
const PY = '/usr/bin/python3';

/** Runs make_reference.py MODE on dir for these id windows and returns its JSON. */
export function reference<T>(mode: 'logits' | 'stats', dir: string, windows: number[][]): T {
  const work = tempDir('ref');
  writeFileSync(join(work, 'ids.json'), JSON.stringify({ windows }));
  execFileSync(PY, [join(REF, 'make_reference.py'), mode, dir, join(work, 'ids.json'), join(work, 'out.json')]);
  return JSON.parse(readFileSync(join(work, 'out.json'), 'utf8')) as T;
}

/** max |ours − ref| / max |ref|: the error relative to the largest reference magnitude compared. */
export function relErr(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`length ${ours.length} vs ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(ours[i] - ref[i]));
    den = Math.max(den, Math.abs(ref[i]));
  }
  return num / den;
}

/** Full forward pass of windows (equal lengths) → logits [B·T·V] as a flat array. */
export async function forwardLogits(model: StreamingModel, windows: number[][]): Promise<Float32Array> {
  const T = windows[0].length;
  const h0 = await model.embed(Int32Array.from(windows.flat()), windows.length, T);
  const h = await model.forward(h0);
  const lg = await model.logits(h);
  const out = (await lg.data()) as Float32Array;
  tf.dispose([h0, h, lg]);
  return out;
}

export function firstColumns(logits: Float32Array, rows: number, V: number, cols = 64): number[] {
  const out: number[] = [];
  for (let t = 0; t < rows; t++) out.push(...logits.subarray(t * V, t * V + cols));
  return out;
}
