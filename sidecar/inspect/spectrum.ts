// Singular values of one projection, for the spectrum panel: dense weights directly, our own
// factorized output through the product u·v (its spectrum is what the model now computes). With
// calibration text, also the spectrum SVD-LLM truncates: that of W·S, S the Cholesky factor of the
// Gram matrix of the projection's inputs in the original model (METHODS.md "SVD-LLM").
import type { Checkpoint } from '../checkpoint/checkpoint';
import type { ResolvedArch } from '../arch/table';
import { getLinalg } from '../linalg';
import { fromFloat32, matmul, matrix, type Matrix } from '../linalg/matrix';
import { RankwiseError, throwIfAborted } from '../errors';
import { ErrorCodes, type SpectrumResult } from '../rpc/protocol';
import type { Job } from '../compress/job';
import type { Calibration } from '../plan/plan';
import { readProjection } from '../methods/weights';
import { calibrationIds, HiddenStates, OriginalPath } from '../methods/calibration';
import { disposeLayer } from '../model/layer';
import { StreamingModel } from '../model/model';
import { InputStats } from '../stats/input-stats';
import { factorNames } from './summary';

export async function spectrum(ckpt: Checkpoint, arch: ResolvedArch, name: string, job: Job, backend: string,
  calibration?: Calibration & { data: string }): Promise<SpectrumResult> {
  const t0 = performance.now();
  const base = name.replace(/\.weight$/, '');
  const layer = Array.from({ length: arch.dims.layers }, (_, i) => i).find((i) => arch.projections(i).some((p) => p.name === base));
  const spec = layer === undefined ? undefined : arch.projections(layer).find((p) => p.name === base)!.spec;
  if (layer === undefined || !spec) throw new RankwiseError(ErrorCodes.NotFound, `${base} is not a decoder projection of ${ckpt.dir}`);
  const steps = calibration ? layer + 3 : 1;
  job.progress('spectrum', 0, steps, base);
  let a: Matrix;
  if (ckpt.has(`${base}.weight`)) {
    const w = await readProjection(ckpt, base, spec.transposed);
    a = fromFloat32(w.rows, w.cols, w.data);
  } else {
    const f = factorNames(base);
    const [u, v] = [ckpt.tensors.get(f.u)!, ckpt.tensors.get(f.v)!];
    a = matmul(fromFloat32(u.shape[0], u.shape[1], await ckpt.read(f.u)), fromFloat32(v.shape[0], v.shape[1], await ckpt.read(f.v)));
  }
  throwIfAborted(job.signal);
  const la = getLinalg();
  const { s } = await la.svd(a, { vectors: false });
  const out: SpectrumResult = { name: base, shape: [a.rows, a.cols], values: Array.from(s), seconds: 0, backend };
  if (calibration) {
    const g = await inputGram(ckpt.dir, layer, spec.input, calibration, job, (i) => job.progress('spectrum', 1 + i, steps, `${base}: inputs of layer ${i}`));
    const { l, shift } = await la.cholesky(g, { log: (m) => job.log('warn', `${base} Gram: ${m}`) });
    out.whitened = Array.from((await la.svd(matmul(a, l), { vectors: false })).s);
    if (shift > 0) out.whitenedShift = shift;
  }
  job.progress('spectrum', steps, steps, base);
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

/** X Xᵀ (float64) of the inputs that `site` of layer i sees in the original model on the calibration windows. */
async function inputGram(dir: string, i: number, site: Parameters<InputStats['gram']>[0], c: Calibration & { data: string }, job: Job,
  onLayer: (i: number) => void): Promise<Matrix> {
  const model = await StreamingModel.open(dir);
  const stats = new InputStats({ gram: 'float64', sites: [site] });
  let path: OriginalPath | undefined;
  try {
    path = new OriginalPath(model, await HiddenStates.embed(model, await calibrationIds(dir, c, model.arch.dims.context, job.signal), c.seqLen));
    for (let k = 0; k < i; k++) {
      onLayer(k);
      disposeLayer(await path.through(k, { signal: job.signal }));
    }
    onLayer(i);
    disposeLayer(await path.through(i, { onInput: stats.onInput, signal: job.signal }));
    const g = stats.gram(site)!;
    return matrix(g.dim, g.dim, await g.result());
  } finally {
    stats.dispose();
    path?.dispose();
    await model.close();
  }
}
