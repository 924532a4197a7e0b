// One webview panel of a given kind: its HTML and resource roots, the data it was last sent, and the
// checked channel from the webview (anything that fails validation is dropped and logged).
import * as vscode from 'vscode';
import { makeNonce, panelHtml } from './html';
import { parseData, parsePanelMessage, type PanelData, type PanelKind, type PanelToHost } from '../../webview/messages';

export const VIEW_TYPES: Record<PanelKind, string> = {
  redundancy: 'rankwise.redundancy',
  spectrum: 'rankwise.spectrum',
  report: 'rankwise.report',
};

export const TITLES: Record<PanelKind, string> = {
  redundancy: 'Layer redundancy',
  spectrum: 'Spectrum',
  report: 'Rankwise report',
};

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')] };
}

export type MessageHandler<K extends PanelKind> = (message: Exclude<PanelToHost[K], { type: 'ready' }>, host: PanelHost<K>) => void | Promise<void>;

export class PanelHost<K extends PanelKind> {
  private current: PanelData[K] | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    readonly kind: K,
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly handle: MessageHandler<K>,
    private readonly log: (message: string) => void,
    initial?: PanelData[K],
  ) {
    this.current = initial;
    const webview = panel.webview;
    webview.options = webviewOptions(extensionUri);
    const asset = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', kind, file)).toString();
    webview.html = panelHtml({ cspSource: webview.cspSource, nonce: makeNonce(), scriptUri: asset('panel.js'), styleUri: asset('panel.css'), title: TITLES[kind] });
    this.disposables.push(webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)));
    panel.onDidDispose(() => this.disposables.forEach((d) => d.dispose()));
  }

  get data(): PanelData[K] | undefined {
    return this.current;
  }

  /** Sends new data to the panel (it redraws and saves it in its state). Invalid data is logged, not sent. */
  update(data: PanelData[K]): boolean {
    const checked = parseData[this.kind](data) as PanelData[K] | undefined;
    if (!checked) {
      this.log(`${this.kind} panel: refused invalid data`);
      return false;
    }
    this.current = checked;
    void this.panel.webview.postMessage({ type: 'update', data: checked });
    return true;
  }

  private receive(raw: unknown): void {
    const message = parsePanelMessage(this.kind, raw, this.current as never);
    if (!message) {
      this.log(`${this.kind} panel: dropped message ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    if (message.type === 'ready') {
      // A fresh or reloaded webview: send what the host has (the webview also restores its own state).
      if (this.current) void this.panel.webview.postMessage({ type: 'update', data: this.current });
      return;
    }
    Promise.resolve(this.handle(message as Exclude<PanelToHost[K], { type: 'ready' }>, this))
      .catch((e: unknown) => this.log(`${this.kind} panel: ${message.type} failed: ${e instanceof Error ? e.message : String(e)}`));
  }
}
