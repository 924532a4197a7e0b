// The vscode-free parts of "Compress model": which plan files are offered for a folder, and how the
// sidecar's progress notifications become a progress bar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { plansForModel } from '../../../extension/commands/plan-files';
import { progressReporter } from '../../../extension/commands/progress';
import { tempDir } from '../../helpers/temp';

test('plan files inside or beside the folder whose model is that folder are offered, others not', async () => {
  const root = tempDir('plans');
  const model = join(root, 'brown');
  mkdirSync(model);
  mkdirSync(join(root, 'other'));
  const plan = (file: string, body: string) => writeFileSync(join(root, file), body);
  plan('beside.rankwise.json', '// comments are allowed\n{ "model": "./brown", "method": "svd", "ratio": 0.2, }');
  plan('brown/inside.rankwise.json', '{ "model": ".", "method": "svd", "ratio": 0.3 }');
  plan('absolute.rankwise.json', JSON.stringify({ model: model, method: 'svd', ratio: 0.1 }));
  plan('elsewhere.rankwise.json', '{ "model": "./other", "method": "svd", "ratio": 0.2 }');
  plan('broken.rankwise.json', '{ "model": "./brown", ');
  plan('brown/notes.json', '{ "model": "." }');
  plan('other/deeper.rankwise.json', '{ "model": "../brown" }'); // not inside or beside the model folder
  assert.deepEqual(await plansForModel(model), [
    join(root, 'absolute.rankwise.json'), join(root, 'beside.rankwise.json'), join(model, 'inside.rankwise.json'),
  ]);
});

test('progress: the bar follows the factorize phase to exactly 100, other phases only change the text', () => {
  const reports: { message?: string; increment?: number }[] = [];
  const on = progressReporter({ report: (v) => reports.push(v) });
  on({ token: 't', phase: 'load', done: 0, total: 1 });
  for (let i = 0; i <= 3; i++) on({ token: 't', phase: 'factorize', done: i, total: 3, message: `layer ${i}` });
  on({ token: 't', phase: 'factorize', done: 3, total: 3 }); // a repeated final notification adds nothing
  on({ token: 't', phase: 'write', done: 1, total: 2 });
  const total = reports.reduce((s, r) => s + (r.increment ?? 0), 0);
  assert.ok(Math.abs(total - 100) < 1e-9, `increments sum to ${total}`); // float sums of thirds: 1e-9 absorbs rounding
  assert.equal(reports[0].increment, 0);
  assert.equal(reports[2].message, 'factorize 1/3 · layer 1');
  assert.equal(reports.at(-1)!.message, 'write 1/2');
  assert.equal(reports.at(-1)!.increment, 0);
});
