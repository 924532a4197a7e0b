// The Models tree built from a ModelSummary (plain data, no VS Code): on the reference model's real
// summary, and on a hand-made summary with a factorized matrix and removed layers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModelTree, errorNode, fmtCount } from '../../../extension/tree/model-tree';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { summarize } from '../../../sidecar/inspect/summary';
import type { ModelSummary } from '../../../sidecar/rpc/protocol';
import { MODEL } from '../../helpers/paths';

test('model tree of the reference model: layers → attention/MLP → matrices with shapes and totals', async () => {
  const ckpt = await openCheckpoint(MODEL);
  const s = summarize(ckpt);
  await ckpt.close();
  const root = buildModelTree(s);
  assert.equal(root.kind, 'checkpoint');
  assert.match(root.description!, /llama · 8 layers · 14\.00M parameters/);
  const [embedding, decoder, head] = root.children!;
  assert.equal(embedding.children![0].name, 'model.embed_tokens.weight');
  assert.equal(decoder.children!.length, 8);
  const attention = decoder.children![0].children![0];
  assert.equal(attention.label, 'attention');
  const k = attention.children!.find((n) => n.label === 'k_proj')!;
  assert.match(k.description!, /^128×256 BF16 · 32\.8K$/);
  assert.equal(head.children!.map((n) => n.name).join(), 'model.norm.weight');
  const layerTotal = decoder.children!.reduce((a, l) => a + Number(s.decoder[l.layer!].parameters), 0);
  assert.equal(layerTotal + 32000 * 256 + 256, s.parameters);
});

test('factorized matrices show their rank; removed layers and sharding appear in the root tooltip', () => {
  const s: ModelSummary = {
    dir: '/m/tiny-svd', modelType: 'llama', layers: 1, context: 64, parameters: 1_234_567, bytes: 2_469_134, dtypes: ['F16'], sharded: true,
    embedding: [{ name: 'model.embed_tokens.weight', shape: [100, 8], dtype: 'F16', parameters: 800 }],
    decoder: [{
      index: 0, parameters: 96,
      attention: [{ name: 'model.layers.0.self_attn.q_proj', shape: [8, 8], dtype: 'F16', parameters: 32, group: 'attention', rank: 2 }],
      mlp: [{ name: 'model.layers.0.mlp.down_proj', shape: [8, 8], dtype: 'F16', parameters: 64, group: 'mlp' }],
      other: [],
    }],
    head: [], removedLayers: [1, 2],
  };
  const root = buildModelTree(s);
  const [, decoder] = root.children!;
  const [attention, mlp] = decoder.children![0].children!;
  assert.equal(attention.children![0].description, '8×8 F16, rank 2 · 32');
  assert.equal(attention.description, '32');
  assert.equal(mlp.description, '64');
  assert.match(root.tooltip!, /1 layers, 2 removed/);
  assert.match(root.tooltip!, /1,234,567 parameters, F16, sharded/);
  assert.equal(root.description, 'llama · 1 layers · 1.23M parameters · 2.5 MB');
  const err = errorNode('/m/broken', 'config.json: not valid JSON');
  assert.deepEqual([err.kind, err.label, err.description], ['error', 'broken', 'config.json: not valid JSON']);
  assert.deepEqual([fmtCount(999), fmtCount(32_768), fmtCount(14_000_000), fmtCount(7_240_000_000)], ['999', '32.8K', '14.00M', '7.24B']);
});
