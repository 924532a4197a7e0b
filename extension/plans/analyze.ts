// What a plan file means for its own checkpoint, as plain data (no vscode import, unit-tested):
// diagnostics the JSON Schema cannot give (module names that match nothing, layer indices out of
// range, the engine's own validation errors placed on the field they name), completion of module
// names and globs, and the estimated size after the plan. The engine's validatePlan and
// decideRanks are reused, so the editor and a run can never disagree about a plan.
import { dirname, isAbsolute, resolve } from 'node:path';
import { findNodeAtLocation, getLocation, getNodeValue, parseTree, type Node, type ParseError } from 'jsonc-parser';
import { validatePlan, type Plan } from '../../sidecar/plan/plan';
import { decideRanks, rankForRatio, type RankDecision } from '../../sidecar/plan/ranks';
import { globToRegExp } from '../../sidecar/plan/glob';
import { autoCount, byInfluence } from '../../sidecar/plan/removal';
import type { ModelSummary } from '../../sidecar/rpc/protocol';

export interface PlanDiagnostic { offset: number; length: number; message: string; severity: 'error' | 'warning' }

export interface Estimate {
  parametersBefore: number;
  parametersAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  /** True when the result depends on calibration (Block Influence) and this is the typical value. */
  approximate: boolean;
}

export interface PlanAnalysis {
  /** The plan's model folder, resolved against the plan file's folder (when the plan names one). */
  modelDir?: string;
  plan?: Plan;
  diagnostics: PlanDiagnostic[];
  estimate?: Estimate;
  /** Per projection: its rank under the plan, or undefined when it stays dense. */
  ranks: Map<string, number | undefined>;
}

export interface Projection { name: string; shape: [number, number]; dtype: string; layer: number }

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** The dense decoder projections of a checkpoint (factored ones are not compressed again). */
export function projections(s: ModelSummary): Projection[] {
  return s.decoder.flatMap((l) => [...l.attention, ...l.mlp].filter((m) => m.rank === undefined)
    .map((m) => ({ name: m.name, shape: m.shape, dtype: m.dtype, layer: l.index })));
}

/** The model folder named by the plan text, resolved against the plan's folder. */
export function planModelDir(text: string, planPath: string): string | undefined {
  const root = parseTree(text, [], { allowTrailingComma: true });
  const node = root && findNodeAtLocation(root, ['model']);
  const v = node?.type === 'string' ? (node.value as string) : undefined;
  if (!v) return undefined;
  return isAbsolute(v) ? v : resolve(dirname(planPath), v);
}

/** `overrides[0].match` → ['overrides', 0, 'match']. */
function fieldPath(field: string): (string | number)[] {
  return field.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** The node an engine error is about: the longest prefix of its quoted field that exists. */
function nodeForMessage(root: Node, message: string): Node {
  const field = /"([A-Za-z$][\w.[\]-]*)"/.exec(message)?.[1];
  if (field) {
    const path = fieldPath(field);
    for (let n = path.length; n > 0; n--) {
      const node = findNodeAtLocation(root, path.slice(0, n));
      if (node) return node;
    }
  }
  return root;
}

const at = (node: Node, message: string, severity: PlanDiagnostic['severity'] = 'error'): PlanDiagnostic =>
  ({ offset: node.offset, length: node.length, message, severity });

function estimateOf(plan: Plan, s: ModelSummary, decisions: RankDecision[]): Estimate {
  const dtypeOf = new Map(projections(s).map((p) => [p.name, p.dtype]));
  const bytesPer = (dtype: string) => BYTES[plan.dtype === 'keep' ? dtype : plan.dtype] ?? 4;
  let saved = 0;
  let savedBytes = 0;
  let approximate = false;
  const removeLayer = (i: number) => {
    const l = s.decoder.find((d) => d.index === i);
    if (!l) return;
    for (const t of [...l.attention, ...l.mlp, ...l.other]) {
      saved += t.parameters;
      savedBytes += t.parameters * bytesPer(t.dtype);
    }
  };
  const factorSaving = (d: { name: string; shape: [number, number] }, r: number) => {
    const [m, n] = d.shape;
    const p = m * n - r * (m + n);
    if (p <= 0) return;
    saved += p;
    savedBytes += p * bytesPer(dtypeOf.get(d.name) ?? 'F32');
  };
  const explicit = Array.isArray(plan.removeLayers) && plan.removeLayers.length ? plan.removeLayers : undefined;
  if (plan.method === 'layer-removal' || plan.method === 'grasp') {
    // Which layers depends on calibration (Block Influence), but every decoder layer of these
    // families has the same shapes, so the count (given, or the fewest reaching the ratio) fixes the size.
    const layers = plan.options[plan.method]?.layers;
    const count = typeof layers === 'number' ? layers : Math.ceil(plan.ratio * s.layers - 1e-9);
    const chosen = explicit ?? s.decoder.slice(0, count).map((l) => l.index);
    approximate = !explicit && chosen.length > 0;
    if (plan.method === 'layer-removal') chosen.forEach(removeLayer);
    else {
      const c = typeof plan.options.grasp?.compression === 'number' ? plan.options.grasp.compression : 0.7;
      for (const l of s.decoder.filter((d) => chosen.includes(d.index))) {
        for (const m of [...l.attention, ...l.mlp]) factorSaving(m, rankForRatio(m.shape[0], m.shape[1], c));
      }
    }
  } else {
    explicit?.forEach(removeLayer);
    for (const d of decisions) {
      const layer = Number(/\.layers\.(\d+)\./.exec(d.name)?.[1]);
      if (d.rank !== undefined && !explicit?.includes(layer)) factorSaving(d, d.rank);
    }
  }
  const bytesBefore = s.bytes;
  const rewritten = plan.dtype === 'keep' ? bytesBefore : (s.parameters * (BYTES[plan.dtype] ?? 4));
  return {
    parametersBefore: s.parameters, parametersAfter: s.parameters - saved,
    bytesBefore, bytesAfter: rewritten - savedBytes, approximate,
  };
}

/** Everything the editor shows for a plan; summary is the plan model's, when it could be opened. */
export function analyzePlan(text: string, planPath: string, summary?: ModelSummary): PlanAnalysis {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  const out: PlanAnalysis = { diagnostics: [], ranks: new Map(), modelDir: planModelDir(text, planPath) };
  // Syntax errors are VS Code's JSON language service's to report.
  if (!root || errors.length || root.type !== 'object') return out;
  let plan: Plan;
  try {
    plan = validatePlan(getNodeValue(root), dirname(planPath));
  } catch (e) {
    out.diagnostics.push(at(nodeForMessage(root, (e as Error).message), (e as Error).message.replace(/^plan: /, '')));
    return out;
  }
  out.plan = plan;
  if (!summary) return out;
  const all = projections(summary);
  const name = (summary.dir.split(/[\\/]/).pop() ?? summary.dir);
  plan.overrides.forEach((o, i) => {
    const re = globToRegExp(o.match);
    const node = findNodeAtLocation(root, ['overrides', i, 'match']);
    if (node && !all.some((p) => re.test(p.name))) out.diagnostics.push(at(node, `"${o.match}" matches no projection of ${name}`));
  });
  plan.targets.forEach((t, i) => {
    const re = globToRegExp(t);
    const node = findNodeAtLocation(root, ['targets', i]);
    if (node && !all.some((p) => re.test(p.name))) out.diagnostics.push(at(node, `"${t}" matches no projection of ${name}`, 'warning'));
  });
  const removeNode = findNodeAtLocation(root, ['removeLayers']);
  if (removeNode?.type === 'array') {
    for (const item of removeNode.children ?? []) {
      if (typeof item.value === 'number' && item.value >= summary.layers) {
        out.diagnostics.push(at(item, `layer ${item.value} is out of range: ${name} has layers 0..${summary.layers - 1}`));
      }
    }
  }
  if (out.diagnostics.some((d) => d.severity === 'error')) return out;
  try {
    const decisions = plan.method === 'layer-removal' ? [] : decideRanks(plan, all);
    for (const d of decisions) out.ranks.set(d.name, d.rank);
    out.estimate = estimateOf(plan, summary, decisions);
  } catch (e) {
    out.diagnostics.push(at(nodeForMessage(root, (e as Error).message), (e as Error).message.replace(/^plan: /, '')));
  }
  return out;
}

export interface PlanCompletion { label: string; detail: string; kind: 'module' | 'glob' | 'layer' }

/** Globs that select the same projection in every layer, and whole blocks. */
function globs(all: Projection[]): string[] {
  const out = new Set<string>(['**']);
  for (const p of all) {
    const parts = p.name.replace(/\.layers\.\d+\./, '.layers.*.').split('.');
    out.add(parts.join('.'));
    out.add([...parts.slice(0, -1), '*'].join('.'));
  }
  return [...out];
}

/**
 * Completions for the string under offset when it is a module glob (overrides[].match, targets[])
 * or a layer index (removeLayers[]); undefined elsewhere (the schema's completion applies there).
 */
export function planCompletions(text: string, offset: number, summary: ModelSummary): PlanCompletion[] | undefined {
  const loc = getLocation(text, offset);
  const p = loc.path;
  const isGlob = (p[0] === 'overrides' && typeof p[1] === 'number' && p[2] === 'match') || (p[0] === 'targets' && typeof p[1] === 'number');
  if (isGlob && !loc.isAtPropertyKey) {
    const all = projections(summary);
    const count = (g: string) => all.filter((x) => globToRegExp(g).test(x.name)).length;
    return [
      ...globs(all).map((g): PlanCompletion => ({ label: g, detail: `${count(g)} projections`, kind: 'glob' })),
      ...all.map((x): PlanCompletion => ({ label: x.name, detail: `${x.shape[0]}×${x.shape[1]} ${x.dtype}`, kind: 'module' })),
    ];
  }
  if (p[0] === 'removeLayers' && typeof p[1] === 'number') {
    return summary.decoder.map((l) => ({ label: String(l.index), detail: `layer ${l.index}, ${l.parameters.toLocaleString('en-US')} parameters`, kind: 'layer' }));
  }
  return undefined;
}

/** The projection named (exactly, or first matched by the glob) in the string under offset. */
export function projectionAt(text: string, offset: number, summary: ModelSummary): string | undefined {
  const root = parseTree(text, [], { allowTrailingComma: true });
  if (!root) return undefined;
  const loc = getLocation(text, offset);
  const node = findNodeAtLocation(root, loc.path);
  if (node?.type !== 'string') return undefined;
  const re = globToRegExp(node.value as string);
  return projections(summary).find((x) => re.test(x.name))?.name;
}

/**
 * The layers a plan removes (layer removal) or replaces (GRASP), given the measured Block
 * Influence: explicit indices as written; otherwise the lowest-BI layers, as many as the method's
 * "layers" setting or, for "auto", the fewest whose projections reach the ratio (the engine's rule).
 */
export function plannedLayers(plan: Plan, blockInfluence: number[], summary: ModelSummary): number[] {
  if (Array.isArray(plan.removeLayers) && plan.removeLayers.length) return plan.removeLayers;
  if (plan.method !== 'layer-removal' && plan.method !== 'grasp') return [];
  const order = byInfluence(blockInfluence);
  const layers = plan.options[plan.method]?.layers;
  const params = summary.decoder.map((l) => [...l.attention, ...l.mlp].reduce((a, m) => a + m.parameters, 0));
  const n = typeof layers === 'number' ? layers : plan.ratio > 0 ? autoCount(order, params, plan.ratio) : 0;
  return order.slice(0, n).sort((a, b) => a - b);
}
