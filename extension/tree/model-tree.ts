// The Models tree as plain data, built from the sidecar's ModelSummary: model → embedding, decoder
// layers → attention / MLP → matrices, head. No vscode import, so it is unit-tested directly.
import { basename } from 'node:path';
import type { MatrixInfo, ModelSummary, TensorSummary } from '../../sidecar/rpc/protocol';

export type NodeKind = 'checkpoint' | 'group' | 'layer' | 'matrix' | 'tensor' | 'error';

export interface TreeNode {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  kind: NodeKind;
  /** The checkpoint folder this node belongs to. */
  dir: string;
  /** Full tensor/module name for matrices and tensors. */
  name?: string;
  layer?: number;
  children?: TreeNode[];
}

export const fmtCount = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);

function matrixNode(dir: string, m: MatrixInfo): TreeNode {
  const short = m.name.split('.').slice(-1)[0];
  const rank = m.rank !== undefined ? `, rank ${m.rank}` : '';
  return {
    id: `${dir}::${m.name}`, kind: 'matrix', dir, name: m.name, label: short,
    description: `${m.shape[0]}×${m.shape[1]} ${m.dtype}${rank} · ${fmtCount(m.parameters)}`,
    tooltip: `${m.name}\nshape [out, in] = [${m.shape.join(', ')}]\ndtype ${m.dtype}\n${m.parameters.toLocaleString('en-US')} parameters${rank}`,
  };
}

function tensorNode(dir: string, t: TensorSummary): TreeNode {
  return {
    id: `${dir}::${t.name}`, kind: 'tensor', dir, name: t.name, label: t.name.split('.').slice(-2).join('.'),
    description: `[${t.shape.join(', ')}] ${t.dtype} · ${fmtCount(t.parameters)}`, tooltip: `${t.name}\n${t.parameters.toLocaleString('en-US')} parameters`,
  };
}

const sum = (xs: { parameters: number }[]) => xs.reduce((s, x) => s + x.parameters, 0);

export function buildModelTree(s: ModelSummary): TreeNode {
  const dir = s.dir;
  const group = (id: string, label: string, children: TreeNode[], params: number, layer?: number): TreeNode =>
    ({ id: `${dir}::${id}`, kind: 'group', dir, label, description: fmtCount(params), children, layer });
  const layers = s.decoder.map((l): TreeNode => ({
    id: `${dir}::layer.${l.index}`, kind: 'layer', dir, layer: l.index, label: `layer ${l.index}`,
    description: `${fmtCount(l.parameters)} parameters`,
    children: [
      group(`layer.${l.index}.attention`, 'attention', l.attention.map((m) => matrixNode(dir, m)), sum(l.attention), l.index),
      group(`layer.${l.index}.mlp`, 'mlp', l.mlp.map((m) => matrixNode(dir, m)), sum(l.mlp), l.index),
      ...l.other.map((t) => tensorNode(dir, t)),
    ],
  }));
  const removed = s.removedLayers.length ? `, ${s.removedLayers.length} removed` : '';
  return {
    id: dir, kind: 'checkpoint', dir, label: basename(dir),
    description: `${s.modelType} · ${s.layers} layers · ${fmtCount(s.parameters)} parameters · ${(s.bytes / 1e6).toFixed(1)} MB`,
    tooltip: `${dir}\n${s.modelType}, ${s.layers} layers${removed}\n${s.parameters.toLocaleString('en-US')} parameters, ${s.dtypes.join('/')}${s.sharded ? ', sharded' : ''}`,
    children: [
      group('embedding', 'embedding', s.embedding.map((t) => tensorNode(dir, t)), sum(s.embedding)),
      group('decoder', `decoder layers (${s.layers})`, layers, sum(s.decoder)),
      group('head', 'head', s.head.map((t) => tensorNode(dir, t)), sum(s.head)),
    ],
  };
}

export function errorNode(dir: string, message: string): TreeNode {
  return { id: `${dir}::error`, kind: 'error', dir, label: basename(dir), description: message, tooltip: `${dir}\n${message}` };
}
