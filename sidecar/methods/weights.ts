// Reads a projection's dense weight in [out, in] math layout (GPT-2's Conv1D stores [in, out]).
import type { Checkpoint } from '../checkpoint/checkpoint';

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
