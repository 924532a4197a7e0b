// Rankwise's VS Code side: the Models tree, the commands, and the sidecar that does all tensor work.
import * as vscode from 'vscode';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SidecarClient, describeExit, type LogLevel, type SidecarOptions } from './sidecar/client';
import { ModelTreeProvider } from './tree/provider';
import type { TreeNode } from './tree/model-tree';
import { findCheckpoints, isCheckpointListing } from './checkpoints/discover';
import { compressModel } from './commands/compress';
import { newPlanPath, planTemplate } from './commands/new-plan';
import { PanelCommands } from './commands/panels';
import { SummaryCache } from './checkpoints/summaries';
import { PlanLanguage, isPlanDocument } from './plans/language';
import { planModelDir, projectionAt } from './plans/analyze';
import { openPanel, registerPanels } from './panels';
import { Requests, type CompressResult } from '../sidecar/rpc/protocol';

/** What activate() returns: used by the integration tests and open to other extensions. */
export interface RankwiseApi {
  tree: ModelTreeProvider;
  plans: PlanLanguage;
  checkpointFolders(): string[];
  compress(dir: string, planPath?: string): Promise<CompressResult | undefined>;
}

let client: SidecarClient | undefined;

function sidecarOptions(context: vscode.ExtensionContext, output: vscode.OutputChannel): SidecarOptions {
  const cfg = vscode.workspace.getConfiguration('rankwise');
  const script = cfg.get<string>('sidecar.path') || join(context.extensionPath, 'dist', 'sidecar.js');
  // process.execPath is VS Code's Electron on the desktop (ELECTRON_RUN_AS_NODE makes it plain
  // Node) and a real Node binary in remote and web hosts such as code-server, where the flag is ignored.
  const env = { ...process.env, ELECTRON_RUN_AS_NODE: '1' };
  return {
    command: cfg.get<string>('sidecar.nodePath') || process.execPath,
    script, env, args: ['--backend', cfg.get<string>('backend', 'auto')], logLevel: cfg.get<LogLevel>('logLevel', 'info'),
    log: (l) => output.appendLine(l),
    onExit: ({ willRestart, ...exit }) => {
      if (willRestart) return;
      void vscode.window.showErrorMessage(`The Rankwise sidecar stopped twice (${describeExit(exit)}).`, 'Restart', 'Show log').then(async (pick) => {
        if (pick === 'Restart') await vscode.commands.executeCommand('rankwise.restartSidecar');
        if (pick === 'Show log') output.show();
      });
    },
  };
}

/** The folder a command was invoked on: an Explorer Uri or a Models tree node. */
function folderOf(arg: unknown): string | undefined {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (arg && typeof arg === 'object' && 'dir' in arg) return (arg as TreeNode).dir;
  return undefined;
}

export async function activate(context: vscode.ExtensionContext): Promise<RankwiseApi> {
  const output = vscode.window.createOutputChannel('Rankwise');
  const sidecar = client = new SidecarClient(() => sidecarOptions(context, output));
  const extra = new Set((context.workspaceState.get<string[]>('rankwise.extraFolders') ?? []).filter((d) => existsSync(d)));
  let discovered: string[] = [];
  const folders = () => [...new Set([...discovered, ...extra])].sort();
  const summaries = new SummaryCache((dir) => sidecar.request(Requests.open, { dir }));
  const tree = new ModelTreeProvider((dir) => summaries.get(dir), folders);
  const treeView = vscode.window.createTreeView('rankwise.models', { treeDataProvider: tree, showCollapseAll: true });
  const plans = new PlanLanguage(async (dir) => {
    try {
      return { summary: await summaries.get(dir) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  });
  const panels = new PanelCommands(sidecar, summaries, context.workspaceState);
  /** The analysis of a plan file, opened if it is not open yet. */
  const planAt = async (uri: vscode.Uri) => plans.analyze(await vscode.workspace.openTextDocument(uri));

  const rescan = async () => {
    const roots = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
    discovered = (await Promise.all(roots.map((r) => findCheckpoints(r)))).flat();
    summaries.clear();
    panels.clear();
    plans.refresh();
    // The when-clauses of "Compress model" test `resourcePath in rankwise.checkpointFolders`.
    await vscode.commands.executeCommand('setContext', 'rankwise.checkpointFolders', folders());
    await vscode.commands.executeCommand('setContext', 'rankwise.hasCheckpoints', folders().length > 0);
    tree.refresh();
  };
  const compress = async (dir: string, planPath?: string) => {
    const result = await compressModel(sidecar, dir, planPath);
    if (result) await rescan();
    return result;
  };

  context.subscriptions.push(
    output, treeView, plans,
    registerPanels(context, {
      revealLayer: async (model, index) => {
        const node = await tree.find(model, (n) => n.kind === 'layer' && n.layer === index);
        if (node) await treeView.reveal(node, { select: true, focus: false, expand: true });
      },
      selectMatrix: (model, name) => (model ? panels.spectrumData(model, name) : Promise.resolve(undefined)),
      openOutput: async (dir) => {
        await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(dir));
      },
      log: (m) => output.appendLine(m),
    }),
    plans.onDidAnalyze(({ analysis }) => void panels.planChanged(analysis)),
    // The spectrum panel follows the matrix selected in the tree or named under the cursor in a plan.
    treeView.onDidChangeSelection((e) => {
      const n = e.selection[0];
      if (n?.kind === 'matrix' && n.name && openPanel('spectrum')) void panels.showSpectrum(n.dir, n.name);
    }),
    vscode.window.onDidChangeTextEditorSelection(async (e) => {
      const doc = e.textEditor.document;
      const panel = openPanel('spectrum');
      if (!panel || !isPlanDocument(doc)) return;
      const a = await plans.analyze(doc);
      const name = a.summary && projectionAt(doc.getText(), doc.offsetAt(e.selections[0].active), a.summary);
      if (name && a.modelDir && name !== panel.data?.name) await panels.showSpectrum(a.modelDir, name, a);
    }),
    vscode.commands.registerCommand('rankwise.newPlan', async (arg?: unknown) => {
      const dir = folderOf(arg) ?? await vscode.window.showQuickPick(folders(), { placeHolder: 'Checkpoint folder to plan a compression of' });
      if (!dir) return undefined;
      const file = newPlanPath(dir);
      writeFileSync(file, planTemplate(dir), { flag: 'wx' });
      await vscode.window.showTextDocument(vscode.Uri.file(file));
      return file;
    }),
    vscode.commands.registerCommand('rankwise.compressPlan', async (arg?: vscode.Uri) => {
      const uri = arg ?? vscode.window.activeTextEditor?.document.uri;
      if (!uri) return undefined;
      const doc = await vscode.workspace.openTextDocument(uri);
      if (doc.isDirty) await doc.save();
      const dir = planModelDir(doc.getText(), uri.fsPath) ?? dirname(uri.fsPath);
      return compress(dir, uri.fsPath);
    }),
    vscode.commands.registerCommand('rankwise.showRedundancy', async (arg?: unknown) => {
      if (arg instanceof vscode.Uri && isPlanDocument(await vscode.workspace.openTextDocument(arg))) {
        const a = await planAt(arg);
        return a.modelDir ? panels.showRedundancy(a.modelDir, a) : undefined;
      }
      const dir = folderOf(arg) ?? await vscode.window.showQuickPick(folders(), { placeHolder: 'Checkpoint folder' });
      return dir ? panels.showRedundancy(dir) : undefined;
    }),
    vscode.commands.registerCommand('rankwise.showSpectrum', async (arg?: unknown) => {
      if (arg && typeof arg === 'object' && 'dir' in arg && 'name' in arg) {
        const { dir, name, plan } = arg as { dir: string; name: string; plan?: vscode.Uri };
        return panels.showSpectrum(dir, name, plan ? await planAt(plan) : undefined);
      }
      return undefined;
    }),
    vscode.commands.registerCommand('rankwise.compressModel', async (arg?: unknown) => {
      const dir = folderOf(arg) ?? await vscode.window.showQuickPick(folders(), { placeHolder: 'Checkpoint folder to compress' });
      return dir ? compress(dir) : undefined;
    }),
    vscode.commands.registerCommand('rankwise.openCheckpointFolder', async () => {
      const dir = (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Open checkpoint' }))?.[0]?.fsPath;
      if (!dir) return;
      if (!isCheckpointListing(readdirSync(dir))) {
        void vscode.window.showErrorMessage(`${dir} is not a Hugging Face checkpoint folder (config.json and *.safetensors).`);
        return;
      }
      extra.add(dir);
      await context.workspaceState.update('rankwise.extraFolders', [...extra]);
      await rescan();
    }),
    vscode.commands.registerCommand('rankwise.refresh', rescan),
    vscode.commands.registerCommand('rankwise.restartSidecar', async () => {
      await sidecar.restart();
      tree.refresh();
    }),
    vscode.commands.registerCommand('rankwise.showLog', () => output.show()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      // Settings are read when the sidecar starts: a running one keeps the old ones until restarted.
      if (!e.affectsConfiguration('rankwise') || sidecar.pid === undefined) return;
      void vscode.window.showInformationMessage('Rankwise settings changed. Restart the sidecar to apply them?', 'Restart')
        .then((pick) => pick && vscode.commands.executeCommand('rankwise.restartSidecar'));
    }),
  );

  const watcher = vscode.workspace.createFileSystemWatcher('**/{config.json,*.safetensors,model.safetensors.index.json}');
  let timer: NodeJS.Timeout | undefined;
  // A checkpoint being written fires many events: rescan once they settle.
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void rescan(), 500);
  };
  context.subscriptions.push(watcher, watcher.onDidChange(soon), watcher.onDidCreate(soon), watcher.onDidDelete(soon),
    vscode.workspace.onDidChangeWorkspaceFolders(soon), { dispose: () => clearTimeout(timer) });
  await rescan();
  return { tree, plans, checkpointFolders: folders, compress };
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
