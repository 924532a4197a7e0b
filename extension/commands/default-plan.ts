// The plan "Compress model" runs when the user has not written one: plain SVD, 20% reduction,
// into a new sibling folder (never an existing one).
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function defaultOutput(modelDir: string, suffix = 'svd-20', exists: (p: string) => boolean = existsSync): string {
  const base = join(dirname(modelDir), `${basename(modelDir)}-${suffix}`);
  if (!exists(base)) return base;
  for (let k = 2; ; k++) {
    const candidate = `${base}-${k}`;
    if (!exists(candidate)) return candidate;
  }
}

export function defaultPlan(modelDir: string, exists?: (p: string) => boolean): { model: string; output: string; method: 'svd'; ratio: number } {
  return { model: modelDir, output: defaultOutput(modelDir, 'svd-20', exists), method: 'svd', ratio: 0.2 };
}
