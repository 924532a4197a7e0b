// Plan files (`*.rankwise.json`) that compress a given checkpoint folder: those inside it or beside
// it whose `model` resolves to it. "Compress model" offers them next to the default plan.
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseJsonc } from '../../sidecar/plan/jsonc';

async function plansIn(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.rankwise.json')).map((n) => join(dir, n));
}

/** Plan files in modelDir or its parent folder whose model is modelDir, sorted by path. */
export async function plansForModel(modelDir: string): Promise<string[]> {
  const target = resolve(modelDir);
  const candidates = [...await plansIn(target), ...await plansIn(dirname(target))];
  const matches: string[] = [];
  for (const file of candidates) {
    try {
      const plan = parseJsonc(await readFile(file, 'utf8'), file) as { model?: unknown };
      // Relative paths in a plan resolve against the plan file's folder (DESIGN.md "Plans").
      if (typeof plan.model === 'string' && resolve(dirname(file), plan.model) === target) matches.push(file);
    } catch {
      continue; // a plan that does not parse is not offered; opening it shows the schema errors
    }
  }
  return matches.sort();
}
