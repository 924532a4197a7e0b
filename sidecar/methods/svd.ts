// Plain SVD (METHODS.md): W = U Σ Vᵀ, keep the r largest triplets. No calibration data.
import { getLinalg } from '../linalg';
import { fromFloat32, toFloat32 } from '../linalg/matrix';
import { throwIfAborted } from '../errors';
import { readProjection } from './weights';
import { keptEnergy, splitFactors, topIndices } from './factors';
import { mapConcurrently } from './concurrently';
import { rankedProjections } from './svdllm';
import type { CompressionMethod, Factorization, MethodContext } from './types';

export const svdMethod: CompressionMethod = {
  async layer(ctx: MethodContext, i: number): Promise<Factorization[]> {
    return mapConcurrently(rankedProjections(ctx, i), async ({ name, spec, rank }): Promise<Factorization> => {
      throwIfAborted(ctx.job.signal);
      const w = await readProjection(ctx.ckpt, name, spec.transposed);
      const svd = await getLinalg().svd(fromFloat32(w.rows, w.cols, w.data), { top: rank });
      const kept = topIndices(rank);
      const { u, vt } = splitFactors(svd, kept);
      return { name, shape: [w.rows, w.cols], rank, u: toFloat32(u), v: toFloat32(vt), keptEnergy: keptEnergy(svd.s, kept), kept };
    });
  },
  // Each layer's factors depend on its own weights only: nothing to rebuild.
  async restore(): Promise<void> {},
};
