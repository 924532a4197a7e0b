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

export class CancelledError extends RankwiseError {
  constructor() {
    super(ErrorCodes.Cancelled, 'cancelled');
    this.name = 'AbortError';
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

export function isCancel(e: unknown): boolean {
  return e instanceof CancelledError || (e instanceof Error && e.name === 'AbortError');
}
