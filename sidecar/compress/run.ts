// The compression pipeline shared by every method: check the output location, open the checkpoint,
// decide ranks, let the method prepare (calibration), then stream layer by layer into a temporary
// output folder that is renamed into place only when complete. Each finished layer is also kept
// for resuming (resume.ts) until the output is published. The input folder is only ever read.
// Cancellation is checked between phases, tensors and layers (and inside the methods' passes).
import { basename, join } from 'node:path';
import { INDEX_FILE, openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint';
import { CheckpointWriter, COPY_CHUNK_BYTES } from '../checkpoint/writer';
import { DTYPE_BYTES, type DType } from '../checkpoint/dtype';
import { resolveArch, type ResolvedArch } from '../arch/table';
import { initBackend } from '../tensor/backend';
import { prepareLinalg } from '../linalg';
import { PlanError, throwIfAborted } from '../errors';
import type { Plan } from '../plan/plan';
import { decideRanks, type RankDecision } from '../plan/ranks';
import { methodFor } from '../methods';
import type { CompressionMethod, Factorization, MethodContext } from '../methods/types';
import { transposeF32 } from '../methods/weights';
import { projectionInfo, summarize } from '../inspect/summary';
import { PhaseTimer, type Job } from './job';
import { evaluateFolder, evaluationIds } from '../eval/evaluate';
import { REPORT_JSON, REPORT_MD, reportMarkdown, type MatrixReport, type Report } from './report';
import { preflight } from './preflight';
import { ResumeStore, resumeKey } from './resume';

export const SIDE_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model',
  'generation_config.json', 'vocab.json', 'merges.txt'];

export interface CompressOutcome {
  output: string;
  parameters_before: number;
  parameters_after: number;
  bytes_before: number;
  bytes_after: number;
  seconds: number;
  backend: string;
  reportPath: string;
  report: Report;
}

function denseProjections(ckpt: Checkpoint, arch: ResolvedArch): { name: string; shape: [number, number] }[] {
  const out: { name: string; shape: [number, number] }[] = [];
  for (let i = 0; i < arch.dims.layers; i++) {
    for (const { name, spec } of arch.projections(i)) {
      const info = projectionInfo(ckpt, name, spec.group, spec.transposed);
      if (info && info.rank === undefined) out.push({ name, shape: info.shape });
    }
  }
  return out;
}

function checkRemovals(plan: Plan, layers: number): void {
  if (plan.removeLayers === 'auto') {
    if (plan.method !== 'layer-removal' && plan.method !== 'grasp') {
      throw new PlanError(`plan: "removeLayers": "auto" needs method layer-removal or grasp, not ${plan.method}`);
    }
    return;
  }
  const bad = plan.removeLayers.find((i) => i >= layers);
  if (bad !== undefined) throw new PlanError(`plan: "removeLayers" has layer ${bad}, but the model has layers 0..${layers - 1}`);
  // GRASP replaces its layers by factors, so it may take all of them; removing all leaves no model.
  if (plan.method !== 'grasp' && plan.removeLayers.length >= layers) throw new PlanError('plan: "removeLayers" would remove every layer');
}

export async function compress(plan: Plan, job: Job): Promise<CompressOutcome> {
  const t0 = performance.now();
  const timer = new PhaseTimer();
  await preflight(plan, job);
  const backend = await initBackend(plan.backend, (m) => job.log('info', m));
  prepareLinalg();
  job.progress('load', 0, 1, plan.model);
  const ckpt = await timer.time('load', () => openCheckpoint(plan.model));
  let method: CompressionMethod | undefined;
  // What the catch below cleans up; the body uses the non-optional `resume` and `out`.
  let store: ResumeStore | undefined;
  let writer: CheckpointWriter | undefined;
  try {
    throwIfAborted(job.signal);
    const arch = resolveArch(ckpt.config, ckpt.tensors.keys());
    const before = summarize(ckpt, arch);
    checkRemovals(plan, arch.dims.layers);
    method = methodFor(plan.method);
    if (!method) throw new PlanError(`plan: method "${plan.method}" is not available in this version of Rankwise`);
    // Layer removal factorizes nothing; GRASP chooses its own ranks (grasp.compression) in its own layers.
    const decisions = plan.method === 'layer-removal' || plan.method === 'grasp' ? [] : decideRanks(plan, denseProjections(ckpt, arch));
    const ranks = new Map<string, RankDecision>(decisions.map((d) => [d.name, d]));
    const ctx: MethodContext = { plan, ckpt, arch, ranks, job };
    const inputs = [...ckpt.files.map((f) => basename(f)), 'config.json', ...(ckpt.sharded ? [INDEX_FILE] : []), ...SIDE_FILES];
    const resume = store = await ResumeStore.open(plan.output, await resumeKey(plan, backend.name, inputs), job);

    const m = method;
    const evalIds = plan.evaluation ? await evaluationIds(plan.model, plan.evaluation, job.signal) : undefined;
    const pplBefore = plan.evaluation && evalIds
      ? await timer.time('evaluate', () => evaluateFolder(plan.model, evalIds, plan.evaluation!, job, 'original'))
      : undefined;
    if (m.prepare) {
      throwIfAborted(job.signal);
      job.progress('calibrate', 0, 1, plan.method);
      await timer.time('calibrate', () => m.prepare!(ctx));
    }
    throwIfAborted(job.signal);
    const removed = m.removedLayers ? await m.removedLayers(ctx) : (plan.removeLayers as number[]);
    const keptLayers = [...Array(arch.dims.layers).keys()].filter((i) => !removed.includes(i));
    // Stored layers count from the first kept layer up to the first missing one: a method that
    // resumes rebuilds its state by replaying them in order.
    let resumed = 0;
    if (m.restore) while (resumed < keptLayers.length && resume.has(keptLayers[resumed])) resumed++;
    if (resumed) {
      job.log('info', `resume: ${resumed} of ${keptLayers.length} layers come from ${resume.dir}; ` +
        (resumed < keptLayers.length ? `resuming from layer ${keptLayers[resumed]}` : 'every layer is done, writing the output'));
    }

    const out = writer = await CheckpointWriter.create(plan.output);
    // Counted from what is written, so the report cannot drift from the files.
    let paramsAfter = 0;
    let bytesAfter = 0;
    const count = (shape: number[], dtype: DType) => {
      const n = shape.reduce((x, y) => x * y, 1);
      paramsAfter += n;
      bytesAfter += n * DTYPE_BYTES[dtype];
    };
    const add = async (name: string, shape: number[], data: Float32Array, dtype: DType) => {
      count(shape, dtype);
      await out.add(name, shape, data, dtype);
    };
    const outDtype = (name: string): DType => (plan.dtype === 'keep' ? ckpt.tensors.get(name)!.dtype : plan.dtype) as DType;
    const copy = async (name: string, outName = name) => {
      throwIfAborted(job.signal);
      const t = ckpt.tensors.get(name)!;
      const dtype = outDtype(name);
      if (dtype !== t.dtype) return add(outName, t.shape, await ckpt.read(name), dtype);
      // Same dtype: the stored bytes as they are, in chunks, never the whole tensor (the embedding
      // and head are the largest tensors of many models) nor a float32 copy of it.
      count(t.shape, dtype);
      await out.addEncoded(outName, t.shape, dtype, ckpt.readRawChunks(name, COPY_CHUNK_BYTES));
    };
    const layerNames = (i: number) => [...ckpt.tensors.keys()].filter((n) => n.startsWith(arch.layer(i)));
    const inLayer = new Set(keptLayers.concat(removed).flatMap(layerNames));
    const outside = [...ckpt.tensors.keys()].filter((n) => !inLayer.has(n));
    const embeds = outside.filter((n) => n.startsWith(arch.embed) || (arch.positions && n.startsWith(arch.positions)));

    await timer.time('write', async () => { for (const n of embeds) await copy(n); });
    const matrices: MatrixReport[] = [];
    const ranksOut: Record<string, number> = {};
    for (const [j, i] of keptLayers.entries()) {
      throwIfAborted(job.signal);
      job.progress('factorize', j, keptLayers.length, `layer ${i}`);
      let factors: Factorization[];
      if (j < resumed) {
        factors = await timer.time('resume', async () => {
          const stored = await resume.load(i);
          await m.restore!(ctx, i, stored);
          return stored;
        });
      } else {
        factors = await timer.time('factorize', () => m.layer(ctx, i));
        if (m.restore) await timer.time('write', () => resume.save(i, factors));
      }
      const byName = new Map<string, Factorization>(factors.map((f) => [f.name, f]));
      const rename = (n: string) => arch.layer(j) + n.slice(arch.layer(i).length);
      await timer.time('write', async () => {
        for (const n of layerNames(i)) {
          const base = n.replace(/\.weight$/, '');
          const f = byName.get(base);
          if (!f) {
            await copy(n, rename(n));
            continue;
          }
          const spec = arch.projections(i).find((p) => p.name === base)!.spec;
          const dtype = outDtype(n);
          if (plan.export === 'dense') {
            const w = denseProduct(f);
            const entry = ckpt.tensors.get(n)!;
            await add(rename(n), entry.shape, spec.transposed ? transposeF32(w, f.shape[0], f.shape[1]) : w, dtype);
          } else {
            await add(`${rename(base)}.u.weight`, [f.shape[0], f.rank], f.u, dtype);
            await add(`${rename(base)}.v.weight`, [f.rank, f.shape[1]], f.v, dtype);
          }
          ranksOut[rename(base)] = f.rank;
        }
      });
      for (const { name } of arch.projections(i)) {
        const f = byName.get(name);
        const d = ranks.get(name);
        if (f) {
          const contiguous = f.kept.every((k, idx) => k === idx);
          matrices.push({ name, shape: f.shape, rank: f.rank, keptEnergy: f.keptEnergy, ...(contiguous ? {} : { kept: f.kept }) });
        } else if (d) matrices.push({ name, shape: d.shape, rank: null, keptEnergy: null, reason: d.reason });
      }
    }
    job.progress('factorize', keptLayers.length, keptLayers.length);
    job.progress('write', 0, 1, 'remaining tensors, config and tokenizer');
    await timer.time('write', async () => { for (const n of outside.filter((x) => !embeds.includes(x))) await copy(n); });

    const layersKey = arch.spec.keys.layers.find((k) => k in ckpt.config) ?? arch.spec.keys.layers[0];
    const config: Record<string, unknown> = {
      ...ckpt.config,
      [layersKey]: keptLayers.length,
      rankwise: {
        version: 1,
        method: plan.method,
        ratio: plan.ratio,
        source: plan.model,
        export: plan.export,
        removed_layers: removed,
        // Output names (after renumbering) → rank; X.weight became X.u.weight [out,r] and X.v.weight [r,in].
        ranks: plan.export === 'factored' ? ranksOut : {},
      },
    };
    if (plan.dtype !== 'keep') config.torch_dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[plan.dtype];
    await out.copyFiles(plan.model, SIDE_FILES);
    await timer.time('write', () => out.finalize(config));
    throwIfAborted(job.signal);
    const pplAfter = plan.evaluation && evalIds
      ? await timer.time('evaluate', () => evaluateFolder(out.tempDir, evalIds, plan.evaluation!, job, 'compressed'))
      : undefined;

    const report: Report = {
      method: plan.method, ratio: plan.ratio, model: plan.model, output: plan.output, backend: backend.name,
      parametersBefore: before.parameters, parametersAfter: paramsAfter,
      bytesBefore: before.bytes, bytesAfter,
      removedLayers: removed,
      evaluation: pplBefore && pplAfter ? {
        data: plan.evaluation!.data, seqLen: plan.evaluation!.seqLen, windows: pplAfter.windows, predictions: pplAfter.predictions,
        perplexityBefore: pplBefore.perplexity, perplexityAfter: pplAfter.perplexity,
      } : undefined,
      calibration: m.prepare && plan.calibration.data ? { ...plan.calibration, data: plan.calibration.data } : undefined,
      phases: timer.phases(), seconds: (performance.now() - t0) / 1000, matrices, createdAt: new Date().toISOString(),
    };
    await out.addFile(REPORT_JSON, JSON.stringify(report, null, 2) + '\n');
    await out.addFile(REPORT_MD, reportMarkdown(report));
    throwIfAborted(job.signal);
    await out.publish();
    await resume.discard().catch((e: unknown) => job.log('warn', `could not remove ${resume.dir}: ${(e as Error).message}`));
    return {
      output: plan.output, parameters_before: report.parametersBefore, parameters_after: report.parametersAfter,
      bytes_before: report.bytesBefore, bytes_after: report.bytesAfter, seconds: report.seconds,
      backend: backend.name, reportPath: join(plan.output, REPORT_MD), report,
    };
  } catch (e) {
    const temp = writer?.tempDir;
    await writer?.abort().catch((x: unknown) => job.log('warn', `could not remove the temporary folder ${temp}: ${(x as Error).message}`));
    // Cancel and failure keep the finished layers (not a checkpoint, hidden, named in the message)
    // so that the next run of the plan resumes: the issue asks for resume after a cancel too.
    const kept = await store?.settle().catch(() => 0);
    if (kept && e instanceof Error) {
      const note = `${kept} finished layer${kept === 1 ? ' is' : 's are'} kept in ${store!.dir}; running the same plan again resumes from there (delete that folder to start over)`;
      job.log('info', note);
      e.message += `; ${note}`;
    }
    throw e;
  } finally {
    method?.dispose?.();
    await ckpt.close();
  }
}

function denseProduct(f: Factorization): Float32Array {
  const [m, n] = f.shape;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < f.rank; k++) {
      const a = f.u[i * f.rank + k];
      if (a === 0) continue;
      const row = k * n;
      for (let j = 0; j < n; j++) out[i * n + j] += a * f.v[row + j];
    }
  }
  return out;
}
