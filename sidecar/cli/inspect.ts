import { openCheckpoint } from '../checkpoint/checkpoint';
import { summarize } from '../inspect/summary';

export async function inspectCommand(dir: string): Promise<{ json: unknown; text: string }> {
  const ckpt = await openCheckpoint(dir);
  try {
    const s = summarize(ckpt);
    const matrices = s.decoder.flatMap((l) => [...l.attention, ...l.mlp]).map((m) => ({ name: m.name, shape: m.shape, dtype: m.dtype, ...(m.rank ? { rank: m.rank } : {}) }));
    const json = { model_type: s.modelType, layers: s.layers, parameters: s.parameters, bytes: s.bytes, dtypes: s.dtypes, sharded: s.sharded, removed_layers: s.removedLayers, matrices };
    const lines = [
      `${dir}`,
      `  model_type ${s.modelType}, ${s.layers} layers, ${s.parameters.toLocaleString('en-US')} parameters, ${(s.bytes / 1e6).toFixed(1)} MB (${s.dtypes.join(', ')})${s.sharded ? ', sharded' : ''}`,
      ...s.embedding.map((t) => `  ${t.name} [${t.shape.join(', ')}] ${t.dtype}`),
      ...s.decoder.map((l) => `  layer ${l.index}: ${l.parameters.toLocaleString('en-US')} parameters; ${[...l.attention, ...l.mlp].map((m) => `${m.name.split('.').pop()} ${m.shape.join('×')}${m.rank ? ` r${m.rank}` : ''}`).join(', ')}`),
      ...s.head.map((t) => `  ${t.name} [${t.shape.join(', ')}] ${t.dtype}`),
    ];
    return { json, text: lines.join('\n') + '\n' };
  } finally {
    await ckpt.close();
  }
}
