// Reads a projection's dense weight in [out, in] math layout (GPT-2's Conv1D stores [in, out]).
import type { Checkpoint } from '../checkpoint/checkpoint';
import { matrix, type Matrix } from '../linalg/matrix';
import { reusedBuffer } from '../linalg/shared-memory';
import type { LayerWeights } from '../model/layer';
import { floatsNow } from '../tensor/host-data';

export interface DenseWeight { rows: number; cols: number; data: Float32Array }

export function transposeF32(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}

export async function readProjection(ckpt: Checkpoint, name: string, transposed: boolean): Promise<DenseWeight> {
  const entry = ckpt.tensors.get(`${name}.weight`);
  if (!entry || entry.shape.length !== 2) throw new Error(`${name}.weight: expected a dense 2-D weight`);
  const [a, b] = entry.shape;
  const data = await ckpt.read(`${name}.weight`);
  return transposed ? { rows: b, cols: a, data: transposeF32(data, a, b) } : { rows: a, cols: b, data };
}

/** A projection's dense weight as a loaded layer holds it ([out, in]: model/layer.ts transposes
 *  Conv1D on load), in float64: the checkpoint's values, without reading the file again. Converted
 *  straight into shared memory, which Linalg.readOnly takes without a second copy: a buffer handed
 *  back by an earlier layer's projection of the same shape when there is one. */
export function loadedProjection(w: LayerWeights, key: string): Matrix {
  const l = w.linears.get(key);
  if (l?.kind !== 'dense') throw new Error(`layer ${w.index}: projection ${key} is not loaded as a dense weight`);
  const [rows, cols] = l.w.shape;
  const m = matrix(rows, cols, new Float64Array(reusedBuffer(8 * rows * cols, false)));
  m.data.set(floatsNow(l.w));
  return m;
}
