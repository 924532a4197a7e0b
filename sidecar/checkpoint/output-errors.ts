// Failures of the output location (disk full, read-only, no permission) as errors that name the
// path and say the cause in words, instead of a bare errno surfacing from deep inside a write.
import { ErrorCodes } from '../rpc/protocol';
import { OutputError } from '../errors';

const CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for this file system',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'a file of that name exists',
};

/** Codes that can only be about the place written to, never about a file read from. */
export const DESTINATION_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EIO']);

export const errnoCode = (e: unknown): string | undefined => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
};

/** `where: doing (CODE: cause)` for a file-system error; anything else (a bug) is returned unchanged. */
export function outputFailure(where: string, doing: string, e: unknown): unknown {
  const code = errnoCode(e);
  if (!code) return e;
  return new OutputError(ErrorCodes.OutputNotWritable, `${where}: ${doing} (${code}: ${CAUSES[code] ?? (e as Error).message})`);
}

/** Runs one write of the output, reporting a file-system failure as `where: cannot write what (cause)`. */
export async function writingTo<T>(where: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw outputFailure(where, `cannot write ${what}`, e);
  }
}
