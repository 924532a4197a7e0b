// The CLI contract of the foundation issue: --json prints exactly one JSON object; errors are one
// line on stderr with a non-zero exit; the input checkpoint is never modified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { CLI, MODEL, hashTree } from '../../helpers/paths';
import { tempDir } from '../../helpers/temp';

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

function oneJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one line on stdout, got: ${stdout}`);
  return JSON.parse(lines[0]);
}

test('inspect --json on the reference model', () => {
  const r = run('inspect', MODEL, '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = oneJson(r.stdout);
  assert.equal(j.model_type, 'llama');
  assert.equal(j.layers, 8);
  // The model README states 13,996,288 parameters (tied embeddings, no lm_head tensor).
  assert.equal(j.parameters, 13_996_288);
  const matrices = j.matrices as { name: string; shape: number[]; dtype: string }[];
  assert.equal(matrices.length, 8 * 7);
  assert.deepEqual(matrices.find((m) => m.name === 'model.layers.0.self_attn.k_proj')!.shape, [128, 256]);
  assert.equal(matrices[0].dtype, 'BF16');
});

test('compress --json with plain SVD on a generated gpt2 checkpoint (Conv1D layout)', async () => {
  const work = tempDir('cli');
  await makeCheckpoint(join(work, 'gpt2'), { family: 'gpt2', layers: 2, hidden: 32, heads: 4, vocab: 64, dtype: 'F16' });
  const hashes = hashTree(join(work, 'gpt2'));
  writeFileSync(join(work, 'p.rankwise.json'), JSON.stringify({ model: 'gpt2', output: 'out', method: 'svd', ratio: 0.3 }));
  const r = run('compress', join(work, 'p.rankwise.json'), '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = oneJson(r.stdout);
  assert.equal(j.output, join(work, 'out'));
  assert.ok((j.parameters_after as number) < (j.parameters_before as number));
  for (const k of ['seconds', 'backend']) assert.ok(k in j, k);
  assert.deepEqual(hashTree(join(work, 'gpt2')), hashes);
  const config = JSON.parse(readFileSync(join(work, 'out', 'config.json'), 'utf8'));
  assert.equal(config.rankwise.ranks['h.0.attn.c_attn'], Math.floor((0.7 * 96 * 32) / 128));
  const again = run('inspect', join(work, 'out'), '--json');
  assert.equal(again.status, 0, again.stderr);
  const m = (oneJson(again.stdout).matrices as { name: string; shape: number[]; rank?: number }[]).find((x) => x.name === 'h.0.attn.c_attn')!;
  assert.deepEqual(m.shape, [96, 32]);
  assert.equal(m.rank, config.rankwise.ranks['h.0.attn.c_attn']);
});

test('errors: one line on stderr, non-zero exit, nothing on stdout', () => {
  const work = tempDir('cli-err');
  const cases: [string[], RegExp][] = [
    [['inspect', join(work, 'nope')], /nope/],
    [['compress', join(work, 'missing.rankwise.json')], /cannot read/],
    [['frobnicate'], /unknown command/],
    [['eval', MODEL], /--data FILE is required/],
  ];
  for (const [args, re] of cases) {
    const r = run(...args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr.split('\n')[0], re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.ok(!existsSync(join(work, 'nope')));
});
