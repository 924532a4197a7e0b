// "New compression plan": a *.rankwise.json beside the checkpoint folder, never over an existing
// file, with the fields a user most often changes; the schema and the plan editor do the rest.
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function planTemplate(modelDir: string): string {
  const name = basename(modelDir);
  return `// Compression plan for ${name}. Hover a field for what it means; in "match" strings,
// completion offers this checkpoint's module names. Relative paths resolve against this folder.
{
  "model": "./${name}",
  "output": "./${name}-svd-llm-20",
  "method": "svd-llm",
  "ratio": 0.2,
  "overrides": [],
  // SVD-LLM whitens with statistics of this text: a file or folder of .txt files.
  "calibration": { "data": "", "samples": 16, "seqLen": 256, "seed": 0 },
  "evaluation": null
}
`;
}

/** A path for a new plan of modelDir that does not exist yet. */
export function newPlanPath(modelDir: string, exists: (p: string) => boolean = existsSync): string {
  const base = join(dirname(modelDir), basename(modelDir));
  for (let k = 1; ; k++) {
    const candidate = `${base}${k === 1 ? '' : `-${k}`}.rankwise.json`;
    if (!exists(candidate)) return candidate;
  }
}
