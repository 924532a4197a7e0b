// Temporary folders for tests: rw-<tag>-XXXXXX under the OS temp folder, removed when the test
// process exits, pass or fail (each test file runs in its own process). Before this, every run left
// its folders behind: 18 GB of them on the development machine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

process.on('exit', () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Still in use (a child that outlived the test): left for the OS to clear.
    }
  }
});

export function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `rw-${tag}-`));
  made.push(dir);
  return dir;
}
