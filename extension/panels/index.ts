// The Rankwise webview panels, for the rest of the extension. Usage:
//
//   registerPanels(context, callbacks): vscode.Disposable
//     Call once in activate(). Registers a WebviewPanelSerializer per panel (view types
//     rankwise.redundancy, rankwise.spectrum, rankwise.report: add
//     "onWebviewPanel:<viewType>" activation events) and keeps the callbacks the panels need.
//   showRedundancyPanel(data: RedundancyData, options?: ShowOptions): PanelHost<'redundancy'>
//   showSpectrumPanel(data: SpectrumData, options?: ShowOptions): PanelHost<'spectrum'>
//   showReportPanel(report: unknown, options?: ShowOptions): PanelHost<'report'>
//     Open (or reveal and update) the single panel of that kind. showReportPanel takes
//     CompressResult.report as is and throws if it is not a valid report.
//   openPanel(kind): PanelHost<kind> | undefined
//     The open panel of a kind, to update it without revealing: when the plan file changes call
//     openPanel('redundancy')?.update({ ...data, removed }); when the tree selection or the matrix
//     under the cursor changes call openPanel('spectrum')?.update(spectrum).
//   PanelHost.update(data) validates before sending and returns false (and logs) for invalid data.
//
// Data shapes and messages are in webview/messages.ts. SpectrumData is the sidecar's SpectrumResult
// plus optional `whitened`, `kept`, `method`, `model` and `choices` (names the picker offers).
import * as vscode from 'vscode';
import { PanelHost, TITLES, VIEW_TYPES, type MessageHandler } from './host';
import { parseData, parseReportData, type PanelData, type PanelKind, type RedundancyData, type SpectrumData } from '../../webview/messages';

export type { RedundancyData, SpectrumData, ReportData } from '../../webview/messages';
export { PanelHost } from './host';

export interface PanelCallbacks {
  /** A layer was clicked in the redundancy panel: reveal it in the Models tree. */
  revealLayer(model: string, index: number): void | Promise<void>;
  /** The spectrum panel's picker chose another matrix: return its spectrum (undefined: keep the current). */
  selectMatrix(model: string | undefined, name: string): Promise<SpectrumData | undefined>;
  /** The report's output link: reveal the folder (e.g. revealFileInOS or the Explorer). */
  openOutput(output: string): void | Promise<void>;
  log(message: string): void;
}

export interface ShowOptions { column?: vscode.ViewColumn; preserveFocus?: boolean }

interface Registry { extensionUri: vscode.Uri; callbacks: PanelCallbacks; open: { [K in PanelKind]?: PanelHost<K> } }
let registry: Registry | undefined;

const handlers: { [K in PanelKind]: (cb: PanelCallbacks) => MessageHandler<K> } = {
  redundancy: (cb) => (m, host) => (host.data ? cb.revealLayer(host.data.model, m.index) : undefined),
  spectrum: (cb) => async (m, host) => {
    const next = await cb.selectMatrix(host.data?.model, m.name);
    if (next) host.update({ ...next, choices: next.choices ?? host.data?.choices, model: next.model ?? host.data?.model });
  },
  report: (cb) => (_m, host) => (host.data ? cb.openOutput(host.data.output) : undefined),
};

function attach<K extends PanelKind>(r: Registry, kind: K, panel: vscode.WebviewPanel, data: PanelData[K] | undefined): PanelHost<K> {
  const host = new PanelHost(kind, panel, r.extensionUri, handlers[kind](r.callbacks) as MessageHandler<K>, r.callbacks.log, data);
  (r.open as Record<K, PanelHost<K> | undefined>)[kind] = host;
  panel.onDidDispose(() => {
    if (r.open[kind] === host) delete r.open[kind];
  });
  return host;
}

export function registerPanels(context: vscode.ExtensionContext, callbacks: PanelCallbacks): vscode.Disposable {
  const r: Registry = (registry = { extensionUri: context.extensionUri, callbacks, open: {} });
  const serializer = <K extends PanelKind>(kind: K): vscode.WebviewPanelSerializer<unknown> => ({
    // The state is what the webview saved with setState ({ data, ui }); the data is re-validated.
    async deserializeWebviewPanel(panel, state) {
      const saved = typeof state === 'object' && state !== null ? (state as { data?: unknown }).data : undefined;
      attach(r, kind, panel, saved === undefined ? undefined : parseData[kind](saved) as PanelData[K] | undefined);
    },
  });
  const disposables = (Object.keys(VIEW_TYPES) as PanelKind[]).map((kind) => vscode.window.registerWebviewPanelSerializer(VIEW_TYPES[kind], serializer(kind)));
  const all = vscode.Disposable.from(...disposables);
  context.subscriptions.push(all);
  return all;
}

export function openPanel<K extends PanelKind>(kind: K): PanelHost<K> | undefined {
  return registry?.open[kind] as PanelHost<K> | undefined;
}

function show<K extends PanelKind>(kind: K, data: PanelData[K], options: ShowOptions = {}): PanelHost<K> {
  const r = registry;
  if (!r) throw new Error('registerPanels() must run before a panel is shown');
  const column = options.column ?? vscode.ViewColumn.Beside;
  let host = openPanel(kind);
  if (host) host.panel.reveal(column, options.preserveFocus);
  else host = attach(r, kind, vscode.window.createWebviewPanel(VIEW_TYPES[kind], TITLES[kind], { viewColumn: column, preserveFocus: options.preserveFocus }), undefined);
  if (!host.update(data)) throw new Error(`invalid ${kind} panel data`);
  return host;
}

export const showRedundancyPanel = (data: RedundancyData, options?: ShowOptions) => show('redundancy', data, options);
export const showSpectrumPanel = (data: SpectrumData, options?: ShowOptions) => show('spectrum', data, options);

export function showReportPanel(report: unknown, options?: ShowOptions): PanelHost<'report'> {
  const data = parseReportData(report);
  if (!data) throw new Error('the run report is not in the expected shape');
  return show('report', data, options);
}
