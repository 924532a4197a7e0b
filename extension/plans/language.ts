// Plan files (*.rankwise.json) in the editor, on top of the JSON Schema: diagnostics against the
// plan's own checkpoint, completion of its module names and layer indices, and a code lens with
// the estimated size after the plan and the actions "Compress", "Show spectrum", "Show layer
// redundancy". The analysis itself is plain data (analyze.ts); this file only maps it to VS Code.
import * as vscode from 'vscode';
import { findNodeAtLocation, parseTree } from 'jsonc-parser';
import type { ModelSummary } from '../../sidecar/rpc/protocol';
import { analyzePlan, planCompletions, planModelDir, projectionAt, projections, type Estimate, type PlanAnalysis } from './analyze';
import { fmtCount } from '../tree/model-tree';

export const PLAN_SELECTOR: vscode.DocumentSelector = [{ scheme: 'file', pattern: '**/*.rankwise.json' }];
export const isPlanDocument = (doc: vscode.TextDocument) => doc.uri.scheme === 'file' && doc.uri.fsPath.endsWith('.rankwise.json');

/** The summary of a checkpoint folder, or why it could not be opened. */
export type SummaryLookup = (dir: string) => Promise<{ summary?: ModelSummary; error?: string }>;

export function estimateLabel(e: Estimate): string {
  const pct = ((e.parametersAfter / e.parametersBefore - 1) * 100).toFixed(1);
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  return `${e.approximate ? '≈ ' : ''}${fmtCount(e.parametersBefore)} → ${fmtCount(e.parametersAfter)} parameters (${pct}%) · ${mb(e.bytesBefore)} → ${mb(e.bytesAfter)}`;
}

export class PlanLanguage implements vscode.Disposable {
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('rankwise-plan');
  private readonly lensChanged = new vscode.EventEmitter<void>();
  private readonly cache = new Map<string, { version: number; result: Promise<PlanAnalysis & { summary?: ModelSummary }> }>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly planChanged = new vscode.EventEmitter<{ doc: vscode.TextDocument; analysis: PlanAnalysis & { summary?: ModelSummary } }>();
  /** Fires after a plan document was analysed anew (opened, edited, its checkpoint changed). */
  readonly onDidAnalyze = this.planChanged.event;

  constructor(private readonly lookup: SummaryLookup) {
    const refreshDoc = (doc: vscode.TextDocument) => {
      if (isPlanDocument(doc)) void this.publish(doc);
    };
    this.disposables.push(
      this.diagnostics, this.lensChanged, this.planChanged,
      vscode.workspace.onDidOpenTextDocument(refreshDoc),
      vscode.workspace.onDidChangeTextDocument((e) => refreshDoc(e.document)),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        this.diagnostics.delete(doc.uri);
        this.cache.delete(doc.uri.toString());
      }),
      vscode.languages.registerCompletionItemProvider(PLAN_SELECTOR, { provideCompletionItems: (doc, pos) => this.complete(doc, pos) }, '"', '.', '*'),
      vscode.languages.registerCodeLensProvider(PLAN_SELECTOR, { provideCodeLenses: (doc) => this.lenses(doc), onDidChangeCodeLenses: this.lensChanged.event }),
    );
    vscode.workspace.textDocuments.forEach(refreshDoc);
  }

  /** Re-analyses every open plan (checkpoints changed on disk, or the sidecar restarted). */
  refresh(): void {
    this.cache.clear();
    vscode.workspace.textDocuments.forEach((doc) => isPlanDocument(doc) && void this.publish(doc));
  }

  analyze(doc: vscode.TextDocument): Promise<PlanAnalysis & { summary?: ModelSummary }> {
    const key = doc.uri.toString();
    const hit = this.cache.get(key);
    if (hit && hit.version === doc.version) return hit.result;
    const text = doc.getText();
    const result = (async () => {
      const dir = planModelDir(text, doc.uri.fsPath);
      const found = dir ? await this.lookup(dir) : {};
      const analysis = analyzePlan(text, doc.uri.fsPath, found.summary);
      if (dir && found.error) {
        const root = parseTree(text, [], { allowTrailingComma: true });
        const node = root && findNodeAtLocation(root, ['model']);
        if (node) analysis.diagnostics.push({ offset: node.offset, length: node.length, message: `cannot open the checkpoint: ${found.error}`, severity: 'error' });
      }
      return { ...analysis, summary: found.summary };
    })();
    this.cache.set(key, { version: doc.version, result });
    return result;
  }

  private async publish(doc: vscode.TextDocument): Promise<void> {
    const version = doc.version;
    const a = await this.analyze(doc);
    if (doc.isClosed || doc.version !== version) return;
    this.diagnostics.set(doc.uri, a.diagnostics.map((d) => {
      const range = new vscode.Range(doc.positionAt(d.offset), doc.positionAt(d.offset + d.length));
      const diag = new vscode.Diagnostic(range, d.message, d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
      diag.source = 'rankwise';
      return diag;
    }));
    this.lensChanged.fire();
    this.planChanged.fire({ doc, analysis: a });
  }

  private async complete(doc: vscode.TextDocument, pos: vscode.Position): Promise<vscode.CompletionItem[] | undefined> {
    const { summary } = await this.analyze(doc);
    if (!summary) return undefined;
    const offset = doc.offsetAt(pos);
    const items = planCompletions(doc.getText(), offset, summary);
    if (!items) return undefined;
    // Replace the whole string value (between its quotes) or the number under the cursor.
    const word = doc.getWordRangeAtPosition(pos, /"[^"]*"?|\d+/);
    const quoted = word && doc.getText(word).startsWith('"');
    const range = word && quoted ? new vscode.Range(word.start.translate(0, 1), doc.getText(word).length > 1 && doc.getText(word).endsWith('"') ? word.end.translate(0, -1) : word.end) : word;
    return items.map((it, i) => {
      const item = new vscode.CompletionItem(it.label, it.kind === 'module' ? vscode.CompletionItemKind.Module : it.kind === 'glob' ? vscode.CompletionItemKind.Folder : vscode.CompletionItemKind.Value);
      item.detail = it.detail;
      item.sortText = String(i).padStart(4, '0');
      if (range) item.range = range;
      return item;
    });
  }

  private async lenses(doc: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    const a = await this.analyze(doc);
    const top = new vscode.Range(0, 0, 0, 0);
    const out: vscode.CodeLens[] = [];
    if (a.estimate) out.push(new vscode.CodeLens(top, { title: estimateLabel(a.estimate), command: '', tooltip: 'Estimated size of the compressed checkpoint' }));
    else if (a.diagnostics.length) out.push(new vscode.CodeLens(top, { title: '$(error) fix the problems to see the estimate', command: 'workbench.actions.view.problems' }));
    if (a.plan && a.modelDir) {
      out.push(new vscode.CodeLens(top, { title: '$(play) Compress', command: 'rankwise.compressPlan', arguments: [doc.uri] }));
      out.push(new vscode.CodeLens(top, { title: '$(graph) Show layer redundancy', command: 'rankwise.showRedundancy', arguments: [doc.uri] }));
    }
    if (a.summary && a.modelDir) {
      const text = doc.getText();
      const root = parseTree(text, [], { allowTrailingComma: true });
      const first = [...a.ranks.entries()].find(([, r]) => r !== undefined)?.[0] ?? projections(a.summary)[0]?.name;
      if (first) out.push(new vscode.CodeLens(top, { title: '$(graph-line) Show spectrum', command: 'rankwise.showSpectrum', arguments: [{ dir: a.modelDir, name: first, plan: doc.uri }] }));
      // One "Show spectrum" per override, on its line, for the first matrix it selects.
      (a.plan?.overrides ?? []).forEach((_o, i) => {
        const node = root && findNodeAtLocation(root, ['overrides', i, 'match']);
        const name = node && projectionAt(text, node.offset + 1, a.summary!);
        if (node && name) {
          const pos = doc.positionAt(node.offset);
          out.push(new vscode.CodeLens(new vscode.Range(pos, pos), { title: `$(graph-line) Show spectrum of ${name.replace(/^model\./, '')}`, command: 'rankwise.showSpectrum', arguments: [{ dir: a.modelDir, name, plan: doc.uri }] }));
        }
      });
    }
    return out;
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
