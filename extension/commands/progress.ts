// Maps the sidecar's `rankwise/progress` notifications onto a VS Code progress notification, whose
// bar takes increments adding up to 100. No vscode import, so it is unit-tested directly.
import type { ProgressParams } from '../../sidecar/rpc/protocol';

export interface ProgressSink { report(value: { message?: string; increment?: number }): void }

export function progressReporter(sink: ProgressSink): (p: ProgressParams) => void {
  let shown = 0;
  return (p) => {
    // Factorizing is nearly all of the work: the bar follows it; other phases only update the text.
    const target = p.phase === 'factorize' && p.total > 0 ? Math.min(100, (100 * p.done) / p.total) : shown;
    sink.report({ message: `${p.phase} ${p.done}/${p.total}${p.message ? ` · ${p.message}` : ''}`, increment: Math.max(0, target - shown) });
    shown = Math.max(shown, target);
  };
}
