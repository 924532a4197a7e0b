import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripJsonc } from '../../../sidecar/plan/jsonc';
import { globToRegExp } from '../../../sidecar/plan/glob';
import { loadPlan, validatePlan } from '../../../sidecar/plan/plan';
import { decideRanks, rankForRatio } from '../../../sidecar/plan/ranks';
import { PlanError } from '../../../sidecar/errors';
import { tempDir } from '../../helpers/temp';

test('JSONC: comments and trailing commas go, strings stay intact', () => {
  const text = '{ // c\n "a": "x // not a comment, }", /* b */ "b": [1, 2,], }';
  assert.deepEqual(JSON.parse(stripJsonc(text)), { a: 'x // not a comment, }', b: [1, 2] });
  assert.deepEqual(JSON.parse(stripJsonc('{"s": "q\\"/*x*/", "t": 1}')), { s: 'q"/*x*/', t: 1 });
});

test('globs: * stays within a dotted segment, ** crosses them', () => {
  assert.ok(globToRegExp('model.layers.*.mlp.down_proj').test('model.layers.12.mlp.down_proj'));
  assert.ok(!globToRegExp('model.layers.*.down_proj').test('model.layers.1.mlp.down_proj'));
  assert.ok(globToRegExp('**.down_proj').test('model.layers.1.mlp.down_proj'));
  assert.ok(!globToRegExp('model.layers.1.*').test('model.layers.10.mlp'));
});

test('ratio to rank follows floor(p m n / (m + n)) (METHODS.md)', () => {
  // 256×688 at 20%: 0.8·256·688/944 = 149.26 → 149.
  assert.equal(rankForRatio(256, 688, 0.2), 149);
  assert.equal(rankForRatio(128, 256, 0.6), Math.floor((0.4 * 128 * 256) / 384));
});

test('plan: paths resolve against the plan folder; defaults filled', () => {
  const p = validatePlan({ model: 'm', output: 'o', method: 'svd', ratio: 0.2 }, '/base');
  assert.equal(p.model, '/base/m');
  assert.equal(p.output, '/base/o');
  assert.equal(p.backend, 'auto');
  assert.equal(p.dtype, 'keep');
  assert.deepEqual(p.removeLayers, []);
  assert.equal(p.calibration.samples, 128);
});

test('plan: every bad field gets an error that names it', () => {
  const base = { model: 'm', output: 'o', method: 'svd', ratio: 0.2 };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, method: 'magic' }, /"method" must be one of/],
    [{ ...base, ratio: 1 }, /"ratio" must be a number in \[0, 1\)/],
    [{ ...base, ratio: -0.1 }, /"ratio"/],
    [{ ...base, ratio: undefined }, /"ratio" is required/],
    [{ ...base, model: undefined }, /"model" must be a non-empty string \(missing\)/],
    [{ ...base, output: 'm' }, /"output" .* must not be the model folder or inside it/],
    [{ ...base, output: 'm/sub' }, /must not be the model folder or inside it/],
    [{ ...base, output: '.' }, /must not contain the model folder/],
    [{ ...base, overrides: [{ match: 'x' }] }, /"overrides\[0\]" needs exactly one of "ratio" or "rank"/],
    [{ ...base, overrides: [{ match: 'x', rank: 1.5 }] }, /"overrides\[0\].rank" must be a positive integer/],
    [{ ...base, removeLayers: [-1] }, /"removeLayers"/],
    [{ ...base, calibration: { samples: 0 } }, /"calibration.samples" must be a positive integer/],
    [{ ...base, backend: 'tpu' }, /"backend" must be one of/],
    [{ ...base, dtype: 'F64' }, /"dtype" must be one of/],
    [{ ...base, ratoi: 0.2 }, /unknown field "ratoi"/],
  ];
  for (const [raw, re] of cases) {
    assert.throws(() => validatePlan(raw, '/base'), (e: unknown) => e instanceof PlanError && re.test((e as Error).message), JSON.stringify(raw));
  }
});

test('loadPlan reads JSONC files and reports unreadable or malformed ones clearly', async () => {
  const dir = tempDir('plan');
  writeFileSync(join(dir, 'a.rankwise.json'), '// x\n{ "model": "m", "output": "o", "method": "svd", "ratio": 0.4, }');
  const p = await loadPlan(join(dir, 'a.rankwise.json'));
  assert.equal(p.model, join(dir, 'm'));
  assert.equal(p.ratio, 0.4);
  writeFileSync(join(dir, 'b.rankwise.json'), '{ "model": ');
  await assert.rejects(loadPlan(join(dir, 'b.rankwise.json')), /not valid JSON/);
  await assert.rejects(loadPlan(join(dir, 'missing.rankwise.json')), /cannot read .*ENOENT/);
});

test('ranks: overrides win, last match first; dense when nothing is saved; bad overrides named', () => {
  const mats = [
    { name: 'model.layers.0.self_attn.q_proj', shape: [256, 256] as [number, number] },
    { name: 'model.layers.0.mlp.down_proj', shape: [256, 688] as [number, number] },
  ];
  const d = decideRanks({ ratio: 0.2, targets: ['**'], overrides: [{ match: '**.down_proj', ratio: 0.1 }, { match: 'model.layers.0.mlp.*', rank: 8 }] }, mats);
  assert.equal(d[0].rank, rankForRatio(256, 256, 0.2));
  assert.equal(d[1].rank, 8);
  // ratio 0 keeps r = mn/(m+n), which saves nothing: stays dense.
  const dense = decideRanks({ ratio: 0, targets: ['**'], overrides: [] }, mats);
  assert.equal(dense[0].rank, undefined);
  assert.match(dense[0].reason!, /saves no parameters/);
  assert.throws(() => decideRanks({ ratio: 0.2, targets: ['**'], overrides: [{ match: '**.nothing', ratio: 0.1 }] }, mats), /matches no projection/);
  assert.throws(() => decideRanks({ ratio: 0.2, targets: ['**'], overrides: [{ match: '**.q_proj', rank: 300 }] }, mats), /exceeds min\(256, 256\)/);
  const onlyMlp = decideRanks({ ratio: 0.2, targets: ['**.mlp.*'], overrides: [] }, mats);
  assert.equal(onlyMlp[0].reason, 'not targeted');
});
