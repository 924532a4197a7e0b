// Finds Hugging Face checkpoint folders (config.json beside *.safetensors) under a root, bounded in
// depth and skipping folders that never hold models. Plain Node: unit-tested without VS Code.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

const SKIP = new Set(['node_modules', '.git', '.vscode-test', 'dist', 'out']);

export function isCheckpointListing(names: string[]): boolean {
  return names.includes('config.json') && names.some((n) => n.endsWith('.safetensors'));
}

export async function findCheckpoints(root: string, maxDepth = 4): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // unreadable folders are simply not checkpoints
    }
    if (isCheckpointListing(entries.filter((e) => e.isFile()).map((e) => e.name))) found.push(dir);
    if (depth >= maxDepth) return;
    for (const e of entries) {
      if (e.isDirectory() && !SKIP.has(e.name) && !e.name.startsWith('.')) await walk(join(dir, e.name), depth + 1);
    }
  };
  await walk(root, 0);
  return found.sort();
}
