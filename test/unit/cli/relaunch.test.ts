// The engine runs with one malloc arena (sidecar/engine-env.ts). The CLI started without the
// setting runs itself again, as a child that has it (signals and exit codes pass through: see
// cancel.test.ts and cli.test.ts, which start the CLI this way); a value the user set is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARENA_VARIABLE, engineEnv, lacksEngineEnv } from '../../../sidecar/engine-env';
import { CLI } from '../../helpers/paths';
import { tinyModel } from '../methods/helpers';

test('engineEnv adds one arena unless the count is set; only Linux needs a relaunch', () => {
  assert.equal(engineEnv({ PATH: '/bin' })[ARENA_VARIABLE], '1');
  assert.equal(engineEnv({ PATH: '/bin' }).PATH, '/bin');
  assert.equal(engineEnv({ [ARENA_VARIABLE]: '4' })[ARENA_VARIABLE], '4');
  assert.equal(lacksEngineEnv({}, 'linux'), true);
  assert.equal(lacksEngineEnv({ [ARENA_VARIABLE]: '2' }, 'linux'), false);
  assert.equal(lacksEngineEnv({}, 'darwin'), false);
});

const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
const children = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

test('the CLI compresses in a child with MALLOC_ARENA_MAX=1 when started without it, and in itself when it is set', { skip: process.platform !== 'linux' }, async () => {
  const m = await tinyModel();
  const planPath = join(m.root, 'p.rankwise.json');
  for (const [n, given] of [[0, undefined], [1, '2']] as const) {
    writeFileSync(planPath, JSON.stringify({ model: 'model', output: `out-${n}`, method: 'svd-llm', ratio: 0.4, calibration: { data: m.text, samples: 8, seqLen: 32 } }));
    const env = { ...process.env };
    delete env[ARENA_VARIABLE];
    if (given) env[ARENA_VARIABLE] = given;
    const cli = spawn(process.execPath, [CLI, 'compress', planPath, '--backend', 'wasm'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let seen: { kids: number[]; engineEnv: string[] } | undefined;
    cli.stderr.setEncoding('utf8');
    cli.stderr.on('data', (d: string) => {
      stderr += d;
      // While the engine runs: the CLI's children, and the environment of the process that computes.
      if (!seen && /\[factorize\]/.test(stderr)) {
        const kids = children(cli.pid!);
        seen = { kids, engineEnv: environ(kids.length ? kids[0] : cli.pid!) };
      }
    });
    const code = await new Promise<number | null>((r) => cli.once('close', (c) => r(c)));
    assert.equal(code, 0, stderr);
    assert.ok(seen, stderr);
    assert.equal(seen.kids.length, given ? 0 : 1, `children of the CLI: ${seen.kids.join(', ')}`);
    assert.ok(seen.engineEnv.includes(`${ARENA_VARIABLE}=${given ?? '1'}`), seen.engineEnv.filter((v) => v.startsWith('MALLOC')).join(' '));
  }
});
