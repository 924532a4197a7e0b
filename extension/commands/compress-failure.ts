// What the user is told when a compression does not finish, and which actions are offered: a
// cancel is information, a crash or running out of memory offers a restart. No vscode import, so
// the wording is tested against real failures of the built sidecar.
import { ResponseError } from 'vscode-jsonrpc/node';
import { ErrorCodes } from '../../sidecar/rpc/protocol';
import { SidecarExitedError, describeExit } from '../sidecar/client';

export type NoticeAction = 'Restart sidecar' | 'Show log';
export interface Notice { severity: 'info' | 'error'; message: string; actions: NoticeAction[] }

const RERUN = 'Restart the sidecar and run the plan again: it resumes from the finished layers where the method allows (see the log).';
const LESS_MEMORY = 'Lower "calibration.samples" or "calibration.seqLen" in the plan';

export function compressFailureNotice(e: unknown): Notice {
  const message = (e as Error)?.message ?? String(e);
  if (e instanceof ResponseError && e.code === ErrorCodes.Cancelled) {
    // The sidecar's message is "cancelled" plus, when it kept finished layers, where and how to resume.
    const kept = message.replace(/^cancelled;?\s*/, '');
    return { severity: 'info', message: `Compression cancelled; nothing was published.${kept ? ` ${kept}.` : ''}`, actions: [] };
  }
  if (e instanceof ResponseError && e.code === ErrorCodes.OutOfMemory) {
    return { severity: 'error', message: `Rankwise ran out of memory (${message}). ${LESS_MEMORY}, or restart the sidecar to start from a clean process.`, actions: ['Restart sidecar', 'Show log'] };
  }
  if (e instanceof SidecarExitedError && e.exit) {
    const what = e.exit.outOfMemory
      ? `The Rankwise sidecar ran out of memory (${describeExit(e.exit)}) and stopped; the output was not published. ${LESS_MEMORY}.`
      : `The Rankwise sidecar stopped during the compression (${describeExit(e.exit)}); the output was not published.`;
    return { severity: 'error', message: `${what} ${RERUN}`, actions: ['Restart sidecar', 'Show log'] };
  }
  if (e instanceof SidecarExitedError) return { severity: 'error', message: `Rankwise: ${message}`, actions: ['Restart sidecar', 'Show log'] };
  return { severity: 'error', message: `Rankwise: ${message}`, actions: ['Show log'] };
}
