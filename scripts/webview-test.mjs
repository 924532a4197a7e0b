// Layer 4 of TESTING.md: the webview panels. Runs the panels' Node unit tests (out/test/webview/*.test.js:
// CSP/HTML and message validation) and then the headless-Chromium checks of test/webview/harness.ts,
// which writes docs/screenshots/*.png. Needs `node scripts/build.mjs --tests` first (npm test does it).
// Prints a final "N passed, N failed" line and exits non-zero on any failure.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url).pathname;
const outDir = join(root, 'out/test/webview');
const missing = ['redundancy', 'spectrum', 'report'].map((k) => `dist/webview/${k}/panel.js`).filter((f) => !existsSync(join(root, f)));
const units = existsSync(outDir) ? readdirSync(outDir).filter((f) => f.endsWith('.test.js')).map((f) => join(outDir, f)) : [];
if (missing.length || units.length === 0) {
  console.error(`webview tests: missing ${[...missing, ...(units.length ? [] : ['out/test/webview/*.test.js'])].join(', ')}; run node scripts/build.mjs --tests`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// Node unit tests, TAP so that the counts can be added to the Chromium checks.
const tap = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...units], { cwd: root, encoding: 'utf8' });
const count = (what) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(tap.stdout)?.[1] ?? NaN);
let passed = count('pass');
let failed = count('fail');
if (!Number.isFinite(passed) || !Number.isFinite(failed) || (tap.status !== 0 && failed === 0)) {
  process.stdout.write(tap.stdout + tap.stderr);
  passed = Number.isFinite(passed) ? passed : 0;
  failed = Math.max(1, Number.isFinite(failed) ? failed : 0);
} else {
  for (const line of tap.stdout.split('\n')) if (/^(not )?ok /.test(line)) console.log(line.startsWith('not') ? `FAIL ${line}` : `ok   unit: ${line.replace(/^ok \d+ - /, '')}`);
  if (failed) process.stdout.write(tap.stdout);
}

// The Chromium harness is TypeScript (it shares panelHtml and the validators with the extension).
const harness = join(outDir, 'harness.js');
await build({ entryPoints: [join(root, 'test/webview/harness.ts')], outfile: harness, bundle: true, platform: 'node', target: 'node20',
  format: 'cjs', sourcemap: 'linked', external: ['playwright-core', 'chromium-bidi*'], logLevel: 'warning' });
try {
  const { run } = createRequire(import.meta.url)(harness);
  const r = await run({ screenshots: join(root, 'docs/screenshots') });
  passed += r.passed;
  failed += r.failed;
} catch (e) {
  console.error(`webview harness crashed: ${e?.stack ?? e}`);
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
