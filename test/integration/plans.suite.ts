// Plan files in a real VS Code: diagnostics against the plan's own checkpoint, completion of its
// module names, the size lens, and the redundancy and spectrum panels they open.
import * as vscode from 'vscode';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RankwiseApi } from '../../extension/extension';

const ROOT = resolve(__dirname, '..', '..', '..');
const MODEL_NAME = 'rankwise-brown-14m';

function workspace(): string {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(root, 'the runner opened a workspace folder');
  return root;
}

async function api(): Promise<RankwiseApi> {
  const ext = vscode.extensions.getExtension<RankwiseApi>('rankwise.rankwise');
  assert.ok(ext);
  return ext.activate();
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function writePlan(name: string, plan: Record<string, unknown>): vscode.Uri {
  const file = join(workspace(), name);
  writeFileSync(file, JSON.stringify({ model: `./${MODEL_NAME}`, output: `./out/${name.replace('.rankwise.json', '')}`, ...plan }, null, 2));
  return vscode.Uri.file(file);
}

describe('Plan files', () => {
  it('a module name that matches nothing gets a diagnostic on that string', async () => {
    await api();
    const uri = writePlan('wrong.rankwise.json', { method: 'svd', ratio: 0.2, overrides: [{ match: 'model.layers.*.mlp.fc1', ratio: 0.5 }] });
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    const diags = await until('a rankwise diagnostic', () => {
      const d = vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'rankwise');
      return d.length ? d : undefined;
    });
    assert.equal(diags.length, 1);
    assert.match(diags[0].message, /"model\.layers\.\*\.mlp\.fc1" matches no projection of rankwise-brown-14m/);
    assert.equal(doc.getText(diags[0].range), '"model.layers.*.mlp.fc1"');
    assert.equal(diags[0].severity, vscode.DiagnosticSeverity.Error);
  });

  it('completion in "match" offers the checkpoint\'s module names; the lens shows the estimate', async () => {
    const uri = writePlan('complete.rankwise.json', { method: 'svd', ratio: 0.2, overrides: [{ match: 'model.layers.*.mlp.down_proj', ratio: 0.5 }] });
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc);
    const pos = doc.positionAt(doc.getText().indexOf('model.layers.*.mlp') + 'model.layers.'.length);
    editor.selection = new vscode.Selection(pos, pos);
    const list = await until('module completions', async () => {
      const l = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', uri, pos);
      return l.items.some((i) => i.label === 'model.layers.0.self_attn.k_proj') ? l : undefined;
    });
    const labels = list.items.map((i) => (typeof i.label === 'string' ? i.label : i.label.label));
    assert.ok(labels.includes('model.layers.*.mlp.down_proj'));
    assert.ok(labels.includes('model.layers.7.mlp.up_proj'));
    const lenses = await until('the estimate lens', async () => {
      const l = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri);
      return l.some((x) => /parameters/.test(x.command?.title ?? '')) ? l : undefined;
    });
    assert.match(lenses.find((x) => /parameters/.test(x.command?.title ?? ''))!.command!.title, /^14\.00M → \d+\.\d+M parameters \(-\d+\.\d%\)/);
    assert.ok(lenses.some((x) => x.command?.command === 'rankwise.compressPlan'));
    // The README's picture of a plan being edited: suggestions open under the cursor.
    await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
    await vscode.commands.executeCommand('editor.action.triggerSuggest');
    await new Promise((r) => setTimeout(r, 1500));
    console.log('[rankwise-screenshot] plan-editing');
    await new Promise((r) => setTimeout(r, 1500));
    await vscode.commands.executeCommand('hideSuggestWidget');
  });

  it('"Show layer redundancy" from a plan measures Block Influence per layer and marks the plan\'s removals', async () => {
    const calib = join(workspace(), 'calibration.txt');
    writeFileSync(calib, readFileSync(join(ROOT, 'corpora', 'brown-train.txt'), 'utf8').slice(0, 30_000));
    const uri = writePlan('removal.rankwise.json', {
      method: 'layer-removal', removeLayers: [3, 5], calibration: { data: './calibration.txt', samples: 4, seqLen: 64, seed: 0 },
    });
    const r = await vscode.commands.executeCommand<{ layers: { index: number; blockInfluence: number }[] } | undefined>('rankwise.showRedundancy', uri);
    assert.ok(r, 'the redundancy request finished');
    assert.equal(r.layers.length, 8);
    assert.ok(r.layers.every((l) => l.blockInfluence >= 0 && l.blockInfluence <= 2));
  });
});
