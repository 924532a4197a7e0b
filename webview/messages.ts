// Messages between the extension host and the panels, shared by both sides (no vscode, no DOM).
// Nothing that crosses postMessage is trusted: every parse* function checks shape, types and ranges
// and returns undefined for anything else, so a caller can drop and log it.
import type { MatrixReport, Report } from '../sidecar/compress/report';

export type PanelKind = 'redundancy' | 'spectrum' | 'report';

export interface RedundancyLayer {
  index: number;
  /** 1 − mean cosine between the layer's input and output hidden states (ShortGPT). */
  blockInfluence: number;
  cosine: number;
}

export interface RedundancyData {
  /** Checkpoint folder. */
  model: string;
  layers: RedundancyLayer[];
  /** Layers the current plan removes. */
  removed: number[];
}

export interface SpectrumData {
  /** Checkpoint folder, when known: the host needs it to fetch another matrix's spectrum. */
  model?: string;
  name: string;
  shape: [number, number];
  /** Singular values, descending. */
  values: number[];
  /** Singular values of W·S after SVD-LLM whitening, where calibration statistics exist. */
  whitened?: number[];
  /** Indices the plan keeps: 0..r−1 for SVD methods, scattered for GRASP and SoCo. */
  kept?: number[];
  method?: string;
  /** Matrices the user may switch to from the panel's picker. */
  choices?: string[];
}

/** The sidecar's run report, the fields the panel shows: derived from `Report` so the two cannot drift. */
export type ReportData = Pick<Report, 'method' | 'ratio' | 'model' | 'output' | 'backend' | 'parametersBefore' | 'parametersAfter'
  | 'bytesBefore' | 'bytesAfter' | 'removedLayers' | 'phases' | 'seconds'> & {
  evaluation?: Omit<NonNullable<Report['evaluation']>, 'predictions'>;
  matrices: Pick<MatrixReport, 'name' | 'shape' | 'rank' | 'keptEnergy'>[];
};

export interface PanelData { redundancy: RedundancyData; spectrum: SpectrumData; report: ReportData }

/** Host → panel: the whole data set; the panel keeps it in its state. */
export interface UpdateMessage<K extends PanelKind> { type: 'update'; data: PanelData[K] }

/** Panel → host. `ready` asks for data; the others are the panel's user actions. */
export type ReadyMessage = { type: 'ready' };
export type PanelToHost = {
  redundancy: ReadyMessage | { type: 'revealLayer'; index: number };
  spectrum: ReadyMessage | { type: 'select'; name: string };
  report: ReadyMessage | { type: 'openOutput' };
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;
const isIndex = (v: unknown, below = Number.MAX_SAFE_INTEGER): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < below;
const isCount = (v: unknown): v is number => isIndex(v);
const arrayOf = <T>(v: unknown, item: (x: unknown) => x is T, max = 1 << 20): v is T[] => Array.isArray(v) && v.length <= max && v.every(item);
const isShape = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every((d) => isIndex(d) && d > 0);
/** Tensor names as the sidecar spells them (`model.layers.3.self_attn.q_proj`). */
const isTensorName = (v: unknown): v is string => isStr(v, 256) && /^[\w.-]+$/.test(v);

function isDescending(v: number[]): boolean {
  return v.every((x, i) => x >= 0 && (i === 0 || x <= v[i - 1] * (1 + 1e-9)));
}

function isIndexSet(v: unknown, below: number): v is number[] {
  return arrayOf(v, (x): x is number => isIndex(x, below)) && new Set(v).size === v.length;
}

export function parseRedundancyData(v: unknown): RedundancyData | undefined {
  if (!isObj(v) || !isStr(v.model) || !Array.isArray(v.layers) || v.layers.length > 4096) return undefined;
  const layers = v.layers;
  const ok = layers.every((l, i) => isObj(l) && l.index === i && isNum(l.blockInfluence) && isNum(l.cosine)
    && l.cosine >= -1 - 1e-9 && l.cosine <= 1 + 1e-9);
  if (!ok || !isIndexSet(v.removed, layers.length)) return undefined;
  return { model: v.model, layers: layers as RedundancyLayer[], removed: v.removed };
}

export function parseSpectrumData(v: unknown): SpectrumData | undefined {
  if (!isObj(v) || !isTensorName(v.name) || !isShape(v.shape)) return undefined;
  const k = Math.min(...v.shape);
  const values = (x: unknown): x is number[] => arrayOf(x, isNum, k) && x.length > 0 && isDescending(x);
  if (!values(v.values)) return undefined;
  if (v.whitened !== undefined && !values(v.whitened)) return undefined;
  if (v.kept !== undefined && !isIndexSet(v.kept, v.values.length)) return undefined;
  if (v.method !== undefined && !isStr(v.method, 64)) return undefined;
  if (v.model !== undefined && !isStr(v.model)) return undefined;
  if (v.choices !== undefined && !arrayOf(v.choices, isTensorName, 100_000)) return undefined;
  const out: SpectrumData = { name: v.name, shape: v.shape, values: v.values };
  if (v.model !== undefined) out.model = v.model;
  if (v.whitened !== undefined) out.whitened = v.whitened;
  if (v.kept !== undefined) out.kept = v.kept;
  if (v.method !== undefined) out.method = v.method;
  if (v.choices !== undefined) out.choices = v.choices;
  return out;
}

export function parseReportData(v: unknown): ReportData | undefined {
  if (!isObj(v)) return undefined;
  const strings = ['method', 'model', 'output', 'backend'].every((k) => isStr(v[k]));
  const counts = ['parametersBefore', 'parametersAfter', 'bytesBefore', 'bytesAfter'].every((k) => isCount(v[k]));
  if (!strings || !counts || !isNum(v.ratio) || !isNum(v.seconds) || v.seconds < 0) return undefined;
  if (!arrayOf(v.removedLayers, (x): x is number => isIndex(x))) return undefined;
  const phase = (p: unknown): p is ReportData['phases'][number] => isObj(p) && isStr(p.name, 64) && isNum(p.seconds) && p.seconds >= 0;
  if (!arrayOf(v.phases, phase, 64)) return undefined;
  const nullable = (x: unknown, ok: (y: unknown) => boolean) => x === null || ok(x);
  const matrix = (m: unknown): m is ReportData['matrices'][number] => isObj(m) && isTensorName(m.name) && isShape(m.shape)
    && nullable(m.rank, (r) => isIndex(r) && r > 0) && nullable(m.keptEnergy, (e) => isNum(e) && e >= 0 && e <= 1 + 1e-9);
  if (!arrayOf(v.matrices, matrix, 100_000)) return undefined;
  const e = v.evaluation;
  const evaluation = e === undefined || (isObj(e) && isStr(e.data) && isIndex(e.seqLen) && isIndex(e.windows)
    && isNum(e.perplexityBefore) && isNum(e.perplexityAfter));
  if (!evaluation) return undefined;
  const out: ReportData = {
    method: v.method as string, ratio: v.ratio, model: v.model as string, output: v.output as string, backend: v.backend as string,
    parametersBefore: v.parametersBefore as number, parametersAfter: v.parametersAfter as number,
    bytesBefore: v.bytesBefore as number, bytesAfter: v.bytesAfter as number,
    removedLayers: v.removedLayers, phases: v.phases, seconds: v.seconds, matrices: v.matrices,
  };
  if (e !== undefined) out.evaluation = e as ReportData['evaluation'];
  return out;
}

export const parseData: { [K in PanelKind]: (v: unknown) => PanelData[K] | undefined } = {
  redundancy: parseRedundancyData,
  spectrum: parseSpectrumData,
  report: parseReportData,
};

/** What the host knows about the panel's current data, to range-check the panel's messages. */
export type HostContext = { [K in PanelKind]: PanelData[K] | undefined };

/** Validates a message from a panel against the data the host last sent it. */
export function parsePanelMessage<K extends PanelKind>(kind: K, raw: unknown, current: HostContext[K]): PanelToHost[K] | undefined {
  if (!isObj(raw) || typeof raw.type !== 'string') return undefined;
  const keys = Object.keys(raw).sort().join();
  if (raw.type === 'ready') return keys === 'type' ? ({ type: 'ready' } as PanelToHost[K]) : undefined;
  if (kind === 'redundancy' && raw.type === 'revealLayer' && keys === 'index,type') {
    const layers = (current as RedundancyData | undefined)?.layers.length ?? 0;
    return isIndex(raw.index, layers) ? ({ type: 'revealLayer', index: raw.index } as PanelToHost[K]) : undefined;
  }
  if (kind === 'spectrum' && raw.type === 'select' && keys === 'name,type') {
    const choices = (current as SpectrumData | undefined)?.choices ?? [];
    return isTensorName(raw.name) && choices.includes(raw.name) ? ({ type: 'select', name: raw.name } as PanelToHost[K]) : undefined;
  }
  if (kind === 'report' && raw.type === 'openOutput' && keys === 'type') {
    return current !== undefined ? ({ type: 'openOutput' } as PanelToHost[K]) : undefined;
  }
  return undefined;
}

/** Host → panel messages, checked on the panel side too (the panel trusts nothing it did not draw). */
export function parseUpdate<K extends PanelKind>(kind: K, raw: unknown): UpdateMessage<K> | undefined {
  if (!isObj(raw) || raw.type !== 'update') return undefined;
  const data = parseData[kind](raw.data);
  return data === undefined ? undefined : ({ type: 'update', data } as UpdateMessage<K>);
}
