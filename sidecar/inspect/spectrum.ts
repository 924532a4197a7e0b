// Singular values of one projection, for the spectrum panel: dense weights directly, our own
// factorized output through the product u·v (its spectrum is what the model now computes).
import type { Checkpoint } from '../checkpoint/checkpoint';
import type { ResolvedArch } from '../arch/table';
import { getLinalg } from '../linalg';
import { fromFloat32, matmul } from '../linalg/matrix';
import { RankwiseError, throwIfAborted } from '../errors';
import { ErrorCodes, type SpectrumResult } from '../rpc/protocol';
import type { Job } from '../compress/job';
import { readProjection } from '../methods/weights';
import { factorNames } from './summary';

export async function spectrum(ckpt: Checkpoint, arch: ResolvedArch, name: string, job: Job, backend: string): Promise<SpectrumResult> {
  const t0 = performance.now();
  const base = name.replace(/\.weight$/, '');
  const spec = Array.from({ length: arch.dims.layers }, (_, i) => arch.projections(i)).flat().find((p) => p.name === base)?.spec;
  if (!spec) throw new RankwiseError(ErrorCodes.NotFound, `${base} is not a decoder projection of ${ckpt.dir}`);
  job.progress('spectrum', 0, 1, base);
  let a;
  if (ckpt.has(`${base}.weight`)) {
    const w = await readProjection(ckpt, base, spec.transposed);
    a = fromFloat32(w.rows, w.cols, w.data);
  } else {
    const f = factorNames(base);
    const [u, v] = [ckpt.tensors.get(f.u)!, ckpt.tensors.get(f.v)!];
    a = matmul(fromFloat32(u.shape[0], u.shape[1], await ckpt.read(f.u)), fromFloat32(v.shape[0], v.shape[1], await ckpt.read(f.v)));
  }
  throwIfAborted(job.signal);
  const { s } = await getLinalg().svd(a, { vectors: false });
  job.progress('spectrum', 1, 1, base);
  return { name: base, shape: [a.rows, a.cols], values: Array.from(s), seconds: (performance.now() - t0) / 1000, backend };
}
