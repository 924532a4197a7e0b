// The Models tree and "Compress model" in a real VS Code, on a workspace holding a copy of the
// reference model (the runner makes that copy, so the repository is never written to).
import * as vscode from 'vscode';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RankwiseApi } from '../../extension/extension';
import type { TreeNode } from '../../extension/tree/model-tree';

const MODEL_NAME = 'rankwise-brown-14m';

async function api(): Promise<RankwiseApi> {
  const ext = vscode.extensions.getExtension<RankwiseApi>('rankwise.rankwise');
  assert.ok(ext, 'the extension under development is loaded');
  return ext.activate();
}

function modelDir(): string {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(root, 'the runner opened a workspace folder');
  return join(root, MODEL_NAME);
}

describe('Models tree', () => {
  it('shows the reference model: embedding, 8 decoder layers with attention/MLP matrices, head', async () => {
    const rankwise = await api();
    assert.deepEqual(rankwise.checkpointFolders(), [modelDir()]);
    await vscode.commands.executeCommand('rankwise.models.focus'); // the view is contributed and opens
    const roots = await rankwise.tree.snapshot();
    assert.equal(roots.length, 1);
    const root = roots[0];
    assert.equal(root.kind, 'checkpoint', root.description);
    assert.equal(root.label, MODEL_NAME);
    assert.match(root.description ?? '', /llama · 8 layers · 14\.00M parameters/);
    const [embedding, decoder, head] = root.children ?? [];
    assert.deepEqual([embedding.label, decoder.label, head.label], ['embedding', 'decoder layers (8)', 'head']);
    const layer0 = decoder.children![0];
    const [attention, mlp] = layer0.children!;
    const labels = (n: TreeNode) => n.children!.map((c) => c.label).join(',');
    assert.equal(labels(attention), 'q_proj,k_proj,v_proj,o_proj');
    assert.equal(labels(mlp), 'gate_proj,up_proj,down_proj');
    assert.match(attention.children![1].description ?? '', /^128×256 BF16 · 32\.8K$/);
    const item = rankwise.tree.getTreeItem(root);
    assert.equal(item.contextValue, 'checkpoint', '"Compress model" shows on the root item');
  });
});

describe('Compress model', () => {
  it('writes <model>-svd-20 with config.json and safetensors and refreshes the tree', async () => {
    const rankwise = await api();
    const dir = modelDir();
    const result = await vscode.commands.executeCommand<{ output: string; parameters_after: number; parameters_before: number } | undefined>(
      'rankwise.compressModel', vscode.Uri.file(dir));
    assert.ok(result, 'the compression finished (see the Rankwise output channel otherwise)');
    assert.equal(result.output, `${dir}-svd-20`);
    const files = readdirSync(result.output);
    assert.ok(files.includes('config.json'), files.join());
    assert.ok(files.some((f) => f.endsWith('.safetensors')), files.join());
    assert.ok(result.parameters_after < result.parameters_before);
    assert.ok(rankwise.checkpointFolders().includes(result.output), 'the output folder joins the Models tree');
  });
});
