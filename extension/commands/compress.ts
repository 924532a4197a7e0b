// "Compress model": pick a plan (the default plain-SVD plan or a *.rankwise.json for this folder),
// run it in the sidecar under a cancellable progress notification, then open the report panel.
import * as vscode from 'vscode';
import { basename } from 'node:path';
import type { SidecarClient } from '../sidecar/client';
import { Requests, type CompressParams, type CompressResult } from '../../sidecar/rpc/protocol';
import { defaultPlan } from './default-plan';
import { plansForModel } from './plan-files';
import { progressReporter } from './progress';
import { compressFailureNotice } from './compress-failure';
import { showReportPanel } from '../panels';

/** The plan to run for modelDir: planPath if given, else asks when plan files exist, else the default. */
async function choosePlan(modelDir: string, planPath?: string): Promise<CompressParams | undefined> {
  if (planPath) return { planPath };
  const plan = defaultPlan(modelDir);
  const fallback: CompressParams = { plan, baseDir: modelDir };
  const files = await plansForModel(modelDir);
  if (files.length === 0) return fallback;
  const items = [
    { label: 'Plain SVD, ratio 0.2 (default plan)', description: `→ ${basename(plan.output)}`, params: fallback },
    ...files.map((f) => ({ label: basename(f), description: vscode.workspace.asRelativePath(f), params: { planPath: f } as CompressParams })),
  ];
  return (await vscode.window.showQuickPick(items, { placeHolder: `Plan for ${basename(modelDir)}` }))?.params;
}

async function showReport(result: CompressResult): Promise<void> {
  try {
    showReportPanel(result.report);
  } catch {
    // A report this version cannot show (e.g. from a newer sidecar): its Markdown twin still is.
    await vscode.window.showTextDocument(vscode.Uri.file(result.reportPath), { preview: true });
  }
  const before = result.parameters_before.toLocaleString('en-US');
  const after = result.parameters_after.toLocaleString('en-US');
  void vscode.window.showInformationMessage(`Compressed into ${basename(result.output)}: ${before} → ${after} parameters.`, 'Reveal output')
    .then((pick) => pick && vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(result.output)));
}

/** Runs a compression; resolves to undefined when the user cancels or it fails (after saying why). */
export async function compressModel(sidecar: SidecarClient, modelDir: string, planPath?: string): Promise<CompressResult | undefined> {
  const params = await choosePlan(modelDir, planPath);
  if (!params) return undefined;
  const title = `Compressing ${basename(modelDir)}`;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    try {
      return await sidecar.request(Requests.compress, params, token, progressReporter(progress));
    } catch (e) {
      const notice = compressFailureNotice(e);
      const show = notice.severity === 'info' ? vscode.window.showInformationMessage : vscode.window.showErrorMessage;
      void show(notice.message, ...notice.actions).then((pick) => {
        if (pick === 'Restart sidecar') void vscode.commands.executeCommand('rankwise.restartSidecar');
        if (pick === 'Show log') void vscode.commands.executeCommand('rankwise.showLog');
      });
      return undefined;
    }
  });
  if (result) await showReport(result);
  return result;
}
