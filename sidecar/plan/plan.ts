// A compression plan (`*.rankwise.json`, DESIGN.md "Plans"): parsed, validated with errors that
// name the field, and with every path resolved against the plan file's folder.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { BackendChoice } from '../rpc/protocol';
import { PlanError } from '../errors';
import { parseJsonc } from './jsonc';

export const METHODS = ['svd', 'asvd', 'svd-llm', 'layer-removal', 'grasp', 'soco'] as const;
export type Method = (typeof METHODS)[number];
export const BACKENDS: BackendChoice[] = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'];
export const DTYPES = ['keep', 'F32', 'F16', 'BF16'] as const;
export type OutputDType = (typeof DTYPES)[number];

export interface Override { match: string; ratio?: number; rank?: number }
/** `data` is required by the methods that calibrate (all but svd). */
export interface Calibration { data?: string; samples: number; seqLen: number; seed: number }
/** `windows` evaluates only the first N windows (quick looks); omitted, the whole text. */
export interface Evaluation { data: string; seqLen: number; windows?: number }

export interface Plan {
  /** Folder relative paths resolve against (the plan file's folder). */
  baseDir: string;
  model: string;
  output: string;
  method: Method;
  /** Fraction of the selected projections' parameters removed. */
  ratio: number;
  /** Globs of projections to compress; default: every decoder projection. */
  targets: string[];
  overrides: Override[];
  removeLayers: number[] | 'auto';
  calibration: Calibration;
  evaluation?: Evaluation;
  backend: BackendChoice;
  dtype: OutputDType;
  /** `factored` stores X.u/X.v; `dense` writes the product back as X.weight. */
  export: 'factored' | 'dense';
  /** Method-specific blocks, validated by each method. */
  options: Record<string, Record<string, unknown>>;
}

const KNOWN = new Set(['$schema', 'model', 'output', 'method', 'ratio', 'targets', 'overrides', 'removeLayers',
  'calibration', 'evaluation', 'backend', 'dtype', 'export', 'svd', 'asvd', 'svd-llm', 'layer-removal', 'grasp', 'soco']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(o: Obj, key: string, field: string, d: number | undefined, check: (v: number) => boolean, rule: string): number {
  const v = o[key];
  if (v === undefined) {
    if (d === undefined) throw new PlanError(`plan: "${field}" is required (${rule})`);
    return d;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) throw new PlanError(`plan: "${field}" must be ${rule}, got ${JSON.stringify(v)}`);
  return v;
}

function str(o: Obj, key: string, field: string, d?: string): string {
  const v = o[key];
  if (v === undefined && d !== undefined) return d;
  if (typeof v !== 'string' || v.length === 0) throw new PlanError(`plan: "${field}" must be a non-empty string${v === undefined ? ' (missing)' : ''}`);
  return v;
}

function oneOf<T extends string>(o: Obj, key: string, allowed: readonly T[], d?: T): T {
  const v = o[key] ?? d;
  if (!allowed.includes(v as T)) throw new PlanError(`plan: "${key}" must be one of ${allowed.join(', ')}, got ${JSON.stringify(o[key])}`);
  return v as T;
}

const isRatio = (v: number) => v >= 0 && v < 1;
const isPosInt = (v: number) => Number.isInteger(v) && v > 0;
const RATIO_RULE = 'a number in [0, 1): the fraction of parameters removed';

export function validatePlan(raw: unknown, baseDir: string): Plan {
  if (!isObj(raw)) throw new PlanError('plan: must be a JSON object');
  for (const k of Object.keys(raw)) {
    if (!KNOWN.has(k)) throw new PlanError(`plan: unknown field "${k}" (known: ${[...KNOWN].filter((x) => x !== '$schema').join(', ')})`);
  }
  const path = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const method = oneOf(raw, 'method', METHODS);
  const model = path(str(raw, 'model', 'model'));
  const output = path(str(raw, 'output', 'output'));
  const inside = relative(model, output);
  if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
    throw new PlanError(`plan: "output" (${output}) must not be the model folder or inside it`);
  }
  if (relative(output, model).split(sep)[0] !== '..' && !isAbsolute(relative(output, model))) {
    throw new PlanError(`plan: "output" (${output}) must not contain the model folder`);
  }
  // Layer choice can be explicit for these two, so no ratio is needed; the methods say when it is.
  const ratio = num(raw, 'ratio', 'ratio', method === 'layer-removal' || method === 'grasp' ? 0 : undefined, isRatio, RATIO_RULE);

  const overrides: Override[] = [];
  if (raw.overrides !== undefined) {
    if (!Array.isArray(raw.overrides)) throw new PlanError('plan: "overrides" must be a list of { match, ratio | rank }');
    raw.overrides.forEach((o, i) => {
      const f = `overrides[${i}]`;
      if (!isObj(o)) throw new PlanError(`plan: "${f}" must be an object { match, ratio | rank }`);
      const match = str(o, 'match', `${f}.match`);
      const has = (k: string) => o[k] !== undefined;
      if (has('ratio') === has('rank')) throw new PlanError(`plan: "${f}" needs exactly one of "ratio" or "rank"`);
      overrides.push(has('ratio')
        ? { match, ratio: num(o, 'ratio', `${f}.ratio`, undefined, isRatio, RATIO_RULE) }
        : { match, rank: num(o, 'rank', `${f}.rank`, undefined, isPosInt, 'a positive integer') });
    });
  }

  let targets: string[] = ['**'];
  if (raw.targets !== undefined) {
    if (!Array.isArray(raw.targets) || raw.targets.some((t) => typeof t !== 'string' || !t)) {
      throw new PlanError('plan: "targets" must be a list of glob strings');
    }
    targets = raw.targets as string[];
  }

  let removeLayers: number[] | 'auto' = [];
  if (raw.removeLayers !== undefined) {
    if (raw.removeLayers === 'auto') removeLayers = 'auto';
    else if (Array.isArray(raw.removeLayers) && raw.removeLayers.every((n) => Number.isInteger(n) && (n as number) >= 0)) {
      removeLayers = [...new Set(raw.removeLayers as number[])].sort((a, b) => a - b);
    } else throw new PlanError('plan: "removeLayers" must be "auto" or a list of layer indices (integers ≥ 0)');
  }

  const cal = raw.calibration ?? {};
  if (!isObj(cal)) throw new PlanError('plan: "calibration" must be an object { data, samples, seqLen, seed }');
  const calibration: Calibration = {
    data: cal.data === undefined ? undefined : path(str(cal, 'data', 'calibration.data')),
    samples: num(cal, 'samples', 'calibration.samples', 128, isPosInt, 'a positive integer'),
    seqLen: num(cal, 'seqLen', 'calibration.seqLen', 256, isPosInt, 'a positive integer'),
    seed: num(cal, 'seed', 'calibration.seed', 0, Number.isInteger, 'an integer'),
  };

  let evaluation: Evaluation | undefined;
  if (raw.evaluation !== undefined && raw.evaluation !== null) {
    if (!isObj(raw.evaluation)) throw new PlanError('plan: "evaluation" must be an object { data, seqLen } or null');
    evaluation = {
      data: path(str(raw.evaluation, 'data', 'evaluation.data')),
      seqLen: num(raw.evaluation, 'seqLen', 'evaluation.seqLen', 256, (v) => isPosInt(v) && v >= 2, 'an integer ≥ 2'),
      windows: raw.evaluation.windows === undefined ? undefined : num(raw.evaluation, 'windows', 'evaluation.windows', undefined, isPosInt, 'a positive integer'),
    };
  }

  const options: Plan['options'] = {};
  for (const m of METHODS) {
    const block = raw[m];
    if (block === undefined) continue;
    if (!isObj(block)) throw new PlanError(`plan: "${m}" must be an object of ${m} settings`);
    options[m] = block;
  }

  return {
    baseDir, model, output, method, ratio, targets, overrides, removeLayers, calibration, evaluation, options,
    backend: oneOf(raw, 'backend', BACKENDS, 'auto'),
    dtype: oneOf(raw, 'dtype', DTYPES, 'keep'),
    export: oneOf(raw, 'export', ['factored', 'dense'] as const, 'factored'),
  };
}

export async function loadPlan(planPath: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(planPath, 'utf8');
  } catch (e) {
    throw new PlanError(`plan: cannot read ${planPath} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = parseJsonc(text, planPath);
  } catch (e) {
    throw new PlanError((e as Error).message);
  }
  return validatePlan(raw, dirname(resolve(planPath)));
}
