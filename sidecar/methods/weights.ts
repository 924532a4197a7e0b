// Reads a projection's dense weight in [out, in] math layout (GPT-2's Conv1D stores [in, out]).
import type { Checkpoint } from '../checkpoint/checkpoint';
import type { ReadMatrix } from '../linalg/matrix';
import { lend, lendView, recycle, reusedBuffer } from '../linalg/shared-memory';
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

/**
 * A projection's dense weight as a loaded layer holds it ([out, in]: model/layer.ts transposes
 * Conv1D on load), in float32 for linear-algebra jobs to read, and done() to call once they have
 * settled. Their products widen it exactly as they pack it, so they give what a float64 copy gave,
 * to the bit. Where tfjs's heap is shared memory (tfjs-wasm's threaded build) the jobs read the
 * tensor where it lies: a shared heap grows in place, and the caller keeps the layer loaded until
 * they settle. Elsewhere they read a copy in shared memory, which done() hands back. Each
 * projection used to be copied into float64: at the peak of bench/scaling's 4 × 512 those copies
 * held about 27 MiB (an allocation trace).
 */
export function loadedProjection(w: LayerWeights, key: string): { m: ReadMatrix; done(): void } {
  const l = w.linears.get(key);
  if (l?.kind !== 'dense') throw new Error(`layer ${w.index}: projection ${key} is not loaded as a dense weight`);
  const [rows, cols] = l.w.shape;
  const data = floatsNow(l.w);
  if (data.buffer instanceof SharedArrayBuffer) return { m: { rows, cols, data: lendView(data) }, done: () => {} };
  const copy = lend(new Float32Array(reusedBuffer(4 * rows * cols, false)));
  copy.set(data);
  return { m: { rows, cols, data: copy }, done: () => recycle(copy.buffer) };
}
