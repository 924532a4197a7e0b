// Resume: a run keeps each finished layer's factors in a hidden folder beside the output,
// `.<output>.rankwise-resume/`, so that a run of the same plan on the same checkpoint after a crash,
// a kill or a cancel continues from there instead of starting over.
//
// What is stored is the method's result for the layer (its Factorizations, in float32 exactly as
// computed), not the written tensors: the pipeline writes a stored layer through the same code as
// a fresh one, so the output is byte-identical to an uninterrupted run whatever dtype or export
// the plan asks for. A store belongs to one resume key: a hash of everything that decides the
// factors (method and its settings, ratio, targets, overrides, removals, calibration sample,
// backend, and the sizes and mtimes of the checkpoint's and calibration text's files).
// Evaluation, dtype and export are applied after the factors and are left out, so a run that
// changes only those still resumes; the store sits beside the output, so that path must stay.
// A store made under another key is discarded, and the log says so.
//
// Which methods resume is the method's call (CompressionMethod.restore): it must be able to
// rebuild the state later layers depend on from the stored layers alone. svd (stateless), asvd
// (advances its original-model path) and svd-llm (runs the stored compressed layers to rebuild
// the inputs of the next update) resume from the first unfinished layer; layer removal, GRASP and
// SoCo do their work in prepare() and start over.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SafetensorsFile } from '../checkpoint/safetensors';
import { encode } from '../checkpoint/dtype';
import { safetensorsHeader, syncDir, writeSynced } from '../checkpoint/writer';
import { writingTo } from '../checkpoint/output-errors';
import type { Plan } from '../plan/plan';
import type { Factorization } from '../methods/types';
import type { Job } from './job';

const RESUME_MARK = '.rankwise-resume';
/** Bumped whenever a stored layer would no longer equal what this code computes. */
const FORMAT = 1;
const MANIFEST = 'resume.json';
const META_KEY = 'rankwise_factorizations';

export const resumeDirFor = (output: string) => join(dirname(resolve(output)), `.${basename(resolve(output))}${RESUME_MARK}`);
const layerFile = (i: number) => `layer-${String(i).padStart(5, '0')}.safetensors`;

/** JSON with sorted keys, so that key order in a plan file does not change the key. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** name:size:mtime of a file, or of each .txt file of a folder (how calibration text is read). */
async function stamps(path: string, files?: string[]): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return [`${path}:absent`];
  const names = files ?? (info.isDirectory() ? (await readdir(path)).filter((f) => f.endsWith('.txt')).sort() : undefined);
  if (!names) return [`${basename(path)}:${info.size}:${info.mtimeMs}`];
  return (await Promise.all(names.map((f) => stamps(join(path, f))))).flat();
}

/**
 * The resume key of a run: `inputs` are the checkpoint folder's files that the run reads (weights,
 * config, tokenizer), `backend` the backend in use (kernels differ in their last bits).
 */
export async function resumeKey(plan: Plan, backend: string, inputs: string[]): Promise<string> {
  const { method, ratio, targets, overrides, removeLayers, calibration, options } = plan;
  const identity = {
    format: FORMAT, backend, method, ratio, targets, overrides, removeLayers, calibration, options,
    checkpoint: await stamps(plan.model, inputs),
    calibrationText: calibration.data ? await stamps(calibration.data) : [],
  };
  return createHash('sha256').update(canonical(identity)).digest('hex');
}

type StoredMeta = Omit<Factorization, 'u' | 'v'>;

/** The factorizations stored in one layer file, checked against its tensors (withData false: the check alone). */
async function readLayer(path: string, withData: boolean): Promise<Factorization[]> {
  const sf = await SafetensorsFile.open(path);
  try {
    const metas = JSON.parse(sf.metadata[META_KEY] ?? 'null') as StoredMeta[] | null;
    if (!Array.isArray(metas)) throw new Error(`${path}: no ${META_KEY} metadata`);
    const out: Factorization[] = [];
    for (const m of metas) {
      const [rows, cols] = m.shape;
      const u = sf.entries.get(`${m.name}.u`);
      const v = sf.entries.get(`${m.name}.v`);
      if (!u || !v || u.shape.join() !== `${rows},${m.rank}` || v.shape.join() !== `${m.rank},${cols}`) {
        throw new Error(`${path}: factors of ${m.name} missing or misshapen`);
      }
      const empty = new Float32Array(0);
      out.push({ ...m, u: withData ? await sf.read(u.name) : empty, v: withData ? await sf.read(v.name) : empty });
    }
    return out;
  } finally {
    await sf.close();
  }
}

export class ResumeStore {
  private manifestWritten: boolean;

  private constructor(readonly dir: string, private readonly key: string, private readonly finished: Set<number>) {
    this.manifestWritten = finished.size > 0;
  }

  /** The store for this output and key: its finished layers if it was made under the same key, else empty. */
  static async open(output: string, key: string, job: Job): Promise<ResumeStore> {
    const dir = resumeDirFor(output);
    const manifest = await readFile(join(dir, MANIFEST), 'utf8').then((t) => JSON.parse(t) as { key?: unknown }, () => undefined);
    const exists = await stat(dir).then(() => true, () => false);
    if (exists && manifest?.key !== key) {
      job.log('info', `resume: discarding ${dir}: it was made by a different plan, checkpoint or Rankwise version`);
      await rm(dir, { recursive: true, force: true });
    }
    const finished = new Set<number>();
    if (exists && manifest?.key === key) {
      for (const name of await readdir(dir)) {
        const i = /^layer-(\d+)\.safetensors$/.exec(name)?.[1];
        if (i === undefined) continue;
        // Layer files are renamed into place complete; one that does not read back is dropped, not trusted.
        const ok = await readLayer(join(dir, name), false).then(() => true, (e: unknown) => {
          job.log('warn', `resume: dropping ${join(dir, name)}: ${(e as Error).message}`);
          return false;
        });
        if (ok) finished.add(Number(i));
        else await rm(join(dir, name), { force: true });
      }
    }
    return new ResumeStore(dir, key, finished);
  }

  has(i: number): boolean {
    return this.finished.has(i);
  }

  get size(): number {
    return this.finished.size;
  }

  async load(i: number): Promise<Factorization[]> {
    return readLayer(join(this.dir, layerFile(i)), true);
  }

  /** Stores layer i's factors: written beside, flushed, then renamed into place, so a file present is complete. */
  async save(i: number, factors: Factorization[]): Promise<void> {
    const file = layerFile(i);
    await writingTo(this.dir, file, async () => {
      if (!this.manifestWritten) {
        await mkdir(this.dir, { recursive: true });
        await writeFile(join(this.dir, MANIFEST), JSON.stringify({ format: FORMAT, key: this.key }) + '\n');
        this.manifestWritten = true;
      }
      const tensors = factors.flatMap((f) => [
        { name: `${f.name}.u`, dtype: 'F32' as const, shape: [f.shape[0], f.rank], data: f.u },
        { name: `${f.name}.v`, dtype: 'F32' as const, shape: [f.rank, f.shape[1]], data: f.v },
      ]);
      const metas: StoredMeta[] = factors.map(({ name, shape, rank, keptEnergy, kept }) => ({ name, shape, rank, keptEnergy, kept }));
      const head = safetensorsHeader(tensors.map((t) => ({ ...t, byteLength: t.data.byteLength })), { [META_KEY]: JSON.stringify(metas) });
      await writeSynced(join(this.dir, `${file}.partial`), head, ...tensors.map((t) => encode('F32', t.data)));
      await rename(join(this.dir, `${file}.partial`), join(this.dir, file));
      await syncDir(this.dir);
    });
    this.finished.add(i);
  }

  /**
   * After a run that did not finish: drops a half-written layer and returns how many finished
   * layers stay for the next run (the folder goes when none do).
   */
  async settle(): Promise<number> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => n.endsWith('.partial')).map((n) => rm(join(this.dir, n), { force: true })));
    if (this.finished.size === 0) await rm(this.dir, { recursive: true, force: true });
    return this.finished.size;
  }

  /** After the output is published: nothing is left to resume. */
  async discard(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    this.finished.clear();
  }
}
