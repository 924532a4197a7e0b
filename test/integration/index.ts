// Entry of the integration tests (TESTING.md layer 5): VS Code's test runner loads this module in the
// extension host and awaits run(). Shared by scripts/integration.mjs (code-server) and any
// @vscode/test-electron runner (VS Code desktop): both pass this file as extensionTestsPath.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export async function run(): Promise<void> {
  // Mocha is external to the bundle and loaded from the repository's node_modules.
  const m = require('mocha');
  const Mocha = m.default || m;
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 180_000, reporter: 'spec' });
  // Each *.suite.ts is bundled next to this file by scripts/build.mjs.
  for (const f of readdirSync(__dirname).filter((n) => n.endsWith('.suite.js')).sort()) mocha.addFile(join(__dirname, f));
  const { passed, failed } = await new Promise<{ passed: number; failed: number }>((resolve) => {
    const runner = mocha.run(() => resolve({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0 }));
  });
  console.log(`${passed} passed, ${failed} failed`);
  if (failed > 0 || passed === 0) throw new Error(`${failed} integration test(s) failed, ${passed} passed`);
}
