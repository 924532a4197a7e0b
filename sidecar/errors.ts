// Errors a user can act on carry a protocol code; anything else is a bug and maps to Internal.
import { ErrorCodes } from './rpc/protocol';

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class RankwiseError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

export class PlanError extends RankwiseError {
  constructor(message: string) {
    super(ErrorCodes.InvalidPlan, message);
  }
}

/** The output folder exists, or its location cannot be written; the message names the path and the cause. */
export class OutputError extends RankwiseError {
  constructor(code: typeof ErrorCodes.OutputExists | typeof ErrorCodes.OutputNotWritable, message: string) {
    super(code, message);
  }
}

export class CancelledError extends RankwiseError {
  constructor(message = 'cancelled') {
    super(ErrorCodes.Cancelled, message);
    this.name = 'AbortError';
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

export function isCancel(e: unknown): boolean {
  return e instanceof CancelledError || (e instanceof Error && e.name === 'AbortError');
}
