// The model tree's data: every tensor of a checkpoint classified by the architecture table into
// embedding, decoder layers (attention / MLP / other) and head, with shapes and parameter counts.
import type { Checkpoint } from '../checkpoint/checkpoint';
import { resolveArch, type ResolvedArch } from '../arch/table';
import type { LayerSummary, MatrixInfo, ModelSummary, TensorSummary } from '../rpc/protocol';
import { DTYPE_BYTES, type DType } from '../checkpoint/dtype';

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The factorized form a projection may have in our own output. */
export const factorNames = (name: string) => ({ u: `${name}.u.weight`, v: `${name}.v.weight` });

/** Matrix view of a decoder projection, dense or factorized; undefined if absent. */
export function projectionInfo(ckpt: Checkpoint, name: string, group: 'attention' | 'mlp', transposed: boolean): MatrixInfo | undefined {
  const dense = ckpt.tensors.get(`${name}.weight`);
  if (dense) {
    const [a, b] = dense.shape;
    const shape: [number, number] = transposed ? [b, a] : [a, b];
    return { name, shape, dtype: dense.dtype, parameters: count(dense.shape), group };
  }
  const f = factorNames(name);
  const u = ckpt.tensors.get(f.u);
  const v = ckpt.tensors.get(f.v);
  if (!u || !v) return undefined;
  return { name, shape: [u.shape[0], v.shape[1]], dtype: u.dtype, parameters: count(u.shape) + count(v.shape), group, rank: u.shape[1] };
}

export function summarize(ckpt: Checkpoint, arch: ResolvedArch = resolveArch(ckpt.config, ckpt.tensors.keys())): ModelSummary {
  const claimed = new Set<string>();
  const tensor = (name: string): TensorSummary => {
    const t = ckpt.tensors.get(name)!;
    claimed.add(name);
    return { name, shape: t.shape, dtype: t.dtype, parameters: count(t.shape) };
  };
  const decoder: LayerSummary[] = [];
  for (let i = 0; i < arch.dims.layers; i++) {
    const layer: LayerSummary = { index: i, parameters: 0, attention: [], mlp: [], other: [] };
    for (const { name, spec } of arch.projections(i)) {
      const info = projectionInfo(ckpt, name, spec.group, spec.transposed);
      if (!info) continue;
      for (const n of [`${name}.weight`, factorNames(name).u, factorNames(name).v]) claimed.add(n);
      layer[spec.group].push(info);
    }
    const prefix = arch.layer(i);
    for (const name of ckpt.tensors.keys()) {
      if (name.startsWith(prefix) && !claimed.has(name)) layer.other.push(tensor(name));
    }
    layer.parameters = [...layer.attention, ...layer.mlp, ...layer.other].reduce((s, t) => s + t.parameters, 0);
    decoder.push(layer);
  }
  const embedding = [arch.embed, arch.positions]
    .filter((n): n is string => !!n && ckpt.has(`${n}.weight`))
    .map((n) => tensor(`${n}.weight`));
  const head = [...ckpt.tensors.keys()].filter((n) => !claimed.has(n)).map(tensor);
  const all = [...embedding, ...head, ...decoder];
  const dtypes = [...new Set([...ckpt.tensors.values()].map((t) => t.dtype))];
  const bytes = [...ckpt.tensors.values()].reduce((s, t) => s + count(t.shape) * DTYPE_BYTES[t.dtype as DType], 0);
  const meta = ckpt.config.rankwise as { removed_layers?: number[] } | undefined;
  return {
    dir: ckpt.dir,
    modelType: String(ckpt.config.model_type),
    layers: arch.dims.layers,
    context: arch.dims.context,
    parameters: all.reduce((s, t) => s + t.parameters, 0),
    bytes,
    dtypes,
    sharded: ckpt.sharded,
    embedding,
    decoder,
    head,
    removedLayers: meta?.removed_layers ?? [],
  };
}
