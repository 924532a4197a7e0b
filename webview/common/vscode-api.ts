// The webview side of the host connection: typed postMessage, validated host messages, and state kept
// by VS Code across hide/show and reloads (getState/setState; the host's serializer restores it).
import { parseData, parseUpdate, type PanelData, type PanelKind, type PanelToHost } from '../messages';
import { onThemeChange } from './theme';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** What a panel persists: the data it draws and its own UI settings. */
export interface PanelState<K extends PanelKind, U> { data?: PanelData[K]; ui: U }

export interface HostConnection<K extends PanelKind, U> {
  post(message: PanelToHost[K]): void;
  /** The saved state, with data re-validated (state is plain JSON that outlives versions). */
  restore(): PanelState<K, U>;
  save(state: PanelState<K, U>): void;
  /** Calls back for every valid `update` from the host; drops anything else with a console warning. */
  onUpdate(cb: (data: PanelData[K]) => void): void;
}

export function connect<K extends PanelKind, U extends object>(kind: K, defaults: U): HostConnection<K, U> {
  const api = acquireVsCodeApi();
  return {
    post: (message) => api.postMessage(message),
    restore() {
      const raw = api.getState() as { data?: unknown; ui?: unknown } | undefined;
      const data = raw?.data === undefined ? undefined : parseData[kind](raw.data);
      const ui = typeof raw?.ui === 'object' && raw.ui !== null ? { ...defaults, ...pick(raw.ui, defaults) } : defaults;
      return { data, ui };
    },
    save: (state) => api.setState(state),
    onUpdate(cb) {
      window.addEventListener('message', (e: MessageEvent) => {
        const msg = parseUpdate(kind, e.data);
        if (msg) cb(msg.data);
        else console.warn(`rankwise ${kind} panel: dropped an invalid message`);
      });
    },
  };
}

/**
 * The panel life cycle every panel shares: each valid update replaces the data, is saved in the
 * webview state and redrawn; a theme change redraws; then the first draw and "ready" to the host.
 */
export function runPanel<K extends PanelKind, U>(host: HostConnection<K, U>, state: () => PanelState<K, U>,
  setState: (s: PanelState<K, U>) => void, render: () => void): void {
  host.onUpdate((data) => {
    setState({ ...state(), data });
    host.save(state());
    render();
  });
  onThemeChange(render);
  render();
  host.post({ type: 'ready' } as PanelToHost[K]);
}

/** Keeps only the saved UI settings whose type matches the default's. */
function pick<U extends object>(saved: object, defaults: U): Partial<U> {
  const out: Partial<U> = {};
  for (const key of Object.keys(defaults) as (keyof U)[]) {
    const v = (saved as Record<keyof U, unknown>)[key];
    if (typeof v === typeof defaults[key]) out[key] = v as U[keyof U];
  }
  return out;
}
