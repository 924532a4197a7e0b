// The built panel scripts never evaluate strings as code. The CSP (html.test.ts) would block eval
// at run time, but only on the paths a test happens to exercise; this reads every bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths';

const PANELS = ['redundancy', 'spectrum', 'report'];

test('no eval, Function constructor or string timers in the panel bundles', () => {
  for (const p of PANELS) {
    const js = readFileSync(join(ROOT, 'dist', 'webview', p, 'panel.js'), 'utf8');
    assert.ok(js.length > 10_000, `${p}: bundle looks empty`);
    for (const re of [/\beval\s*\(/, /\bnew\s+Function\s*\(/, /\bFunction\s*\(\s*["'`]/, /\bset(Timeout|Interval)\s*\(\s*["'`]/]) {
      assert.doesNotMatch(js, re, `${p}: ${re}`);
    }
  }
});
