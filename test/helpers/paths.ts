// Paths every test needs, from the repository root (tests run from out/test/..., bundled).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname.replace(/[\\/]out[\\/].*$/, ''));
export const MODEL = join(ROOT, 'models', 'rankwise-brown-14m');
export const CORPORA = join(ROOT, 'corpora');
export const SIDECAR = join(ROOT, 'dist', 'sidecar.js');
export const CLI = join(ROOT, 'dist', 'cli.js');

/** sha256 of every file under dir, keyed by relative path: proves a folder was not touched. */
export function hashTree(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const p = join(rel, name);
    if (statSync(join(dir, p)).isDirectory()) Object.assign(out, hashTree(dir, p));
    else out[p] = createHash('sha256').update(readFileSync(join(dir, p))).digest('hex');
  }
  return out;
}
