// The sidecar killed mid-run, out of memory, or exiting on its own, as the extension sees it: the
// client reports it with a message that offers a restart, the next request works, and a killed
// compression leaves nothing that looks complete; its stale temporary folder is recognisable (it
// carries the dead process's id), and the next run of the plan removes it and resumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import { SidecarClient, SidecarExitedError } from '../../../extension/sidecar/client';
import { compressFailureNotice } from '../../../extension/commands/compress-failure';
import { ErrorCodes, Requests } from '../../../sidecar/rpc/protocol';
import { resumeDirFor } from '../../../sidecar/compress/resume';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { CORPORA, MODEL, SIDECAR } from '../../helpers/paths';
import { tempDir } from '../../helpers/temp';

function client(opts: { script?: string; env?: NodeJS.ProcessEnv } = {}) {
  const logs: string[] = [];
  const exits: boolean[] = [];
  const c = new SidecarClient(() => ({
    command: process.execPath, script: opts.script ?? SIDECAR, args: ['--backend', 'cpu'], env: opts.env,
    log: (l) => logs.push(l), onExit: (i) => exits.push(i.willRestart),
  }));
  return { c, logs, exits };
}

test('SIGKILL mid-factorize: reported with a restart offer; nothing published; the next run removes the stale folder and resumes to the same bytes', async (t) => {
  const { c, logs, exits } = client();
  t.after(() => c.stop());
  const work = tempDir('kill');
  await makeCheckpoint(join(work, 'wide'), { family: 'llama', layers: 5, hidden: 128, heads: 4, kvHeads: 4, intermediate: 384, vocab: 64 });
  const params = (output: string) => ({ plan: { model: 'wide', output, method: 'svd', ratio: 0.2 }, baseDir: work });
  const { pid } = await c.request(Requests.hello);

  const failure = await c.request(Requests.compress, params('out'), undefined, (p) => {
    if (p.phase === 'factorize' && p.done === 2) process.kill(pid, 'SIGKILL');
  }).then(() => assert.fail('the compression finished before the kill'), (e: unknown) => e);
  assert.ok(failure instanceof SidecarExitedError && failure.exit?.signal === 'SIGKILL', String(failure));
  const notice = compressFailureNotice(failure);
  assert.equal(notice.severity, 'error');
  assert.match(notice.message, /^The Rankwise sidecar stopped during the compression \(SIGKILL: killed by the system, e\.g\. when memory ran out, or by a user\); the output was not published\. Restart the sidecar and run the plan again/);
  assert.deepEqual(notice.actions, ['Restart sidecar', 'Show log']);
  assert.deepEqual(exits, [true], 'the exit was reported once, with a restart to come');

  // Nothing at the output path; the killed run's temporary folder names its process.
  assert.ok(!existsSync(join(work, 'out')));
  const stale = readdirSync(work).filter((n) => n.startsWith('.out.rankwise-tmp-'));
  assert.equal(stale.length, 1);
  assert.match(stale[0], new RegExp(`^\\.out\\.rankwise-tmp-${pid}-[0-9a-f]{8}$`));
  const stored = readdirSync(resumeDirFor(join(work, 'out'))).filter((n) => n.startsWith('layer-')).length;
  // Layers 0 and 1 were stored before progress said 2; a slow test process may let the sidecar finish more.
  assert.ok(stored >= 2, `${stored} layers stored`);

  await c.restart(); // what the notice's "Restart sidecar" runs
  const resumed = await c.request(Requests.compress, params('out'));
  assert.equal(resumed.output, join(work, 'out'));
  assert.ok(logs.some((l) => l.includes(`removed ${join(work, stale[0])}: the unfinished output of an earlier run (process ${pid})`)), logs.join('\n'));
  const next = stored < 5 ? `resuming from layer ${stored}` : 'every layer is done, writing the output';
  assert.ok(logs.some((l) => l.includes(`resume: ${stored} of 5 layers come from ${resumeDirFor(join(work, 'out'))}; ${next}`)), logs.join('\n'));
  assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.out.')), [], 'no temporary folder and no resume store left');

  await c.request(Requests.compress, params('whole'));
  for (const f of ['model.safetensors', 'config.json']) assert.ok(readFileSync(join(work, 'out', f)).equals(readFileSync(join(work, 'whole', f))), f);
});

test('out of memory for real: a heap limit the request exceeds is reported as such, with a restart offer; the next request works', async (t) => {
  // 48 MB is enough to start and answer hello, not to tokenize the 5 MB calibration corpus.
  const { c, exits } = client({ env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=48' } });
  t.after(() => c.stop());
  const first = await c.request(Requests.hello);
  const calibration = { data: join(CORPORA, 'brown-train.txt'), samples: 2, seqLen: 32, seed: 0 };
  const failure = await c.request(Requests.redundancy, { dir: MODEL, calibration }).then(() => assert.fail('the request fit in 48 MB'), (e: unknown) => e);
  assert.ok(failure instanceof SidecarExitedError && failure.exit?.outOfMemory, String(failure));
  assert.match(failure.message, /^the Rankwise sidecar ran out of memory during the request \(JavaScript heap limit\)$/);
  const notice = compressFailureNotice(failure);
  assert.match(notice.message, /^The Rankwise sidecar ran out of memory \(JavaScript heap limit\) and stopped; the output was not published\. Lower "calibration\.samples" or "calibration\.seqLen"/);
  assert.deepEqual(notice.actions, ['Restart sidecar', 'Show log']);
  const second = await c.request(Requests.hello);
  assert.notEqual(second.pid, first.pid, 'a new sidecar answered');
  assert.deepEqual(exits, [true]);
});

test('an allocation failure inside the sidecar is an OutOfMemory error; the message says what to lower and the sidecar keeps serving', async (t) => {
  const { c, exits } = client();
  t.after(() => c.stop());
  const text = join(tempDir('alloc'), 'calib.txt');
  writeFileSync(text, readFileSync(join(CORPORA, 'brown-train.txt'), 'utf8').slice(0, 20_000));
  const { pid } = await c.request(Requests.hello);
  // 2³⁰ windows of 32 tokens: the id buffer alone exceeds what a typed array may hold.
  const calibration = { data: text, samples: 2 ** 30, seqLen: 32, seed: 0 };
  const failure = await c.request(Requests.redundancy, { dir: MODEL, calibration }).then(() => assert.fail('allocated'), (e: unknown) => e);
  assert.ok(failure instanceof ResponseError && failure.code === ErrorCodes.OutOfMemory, String(failure));
  const notice = compressFailureNotice(failure);
  assert.match(notice.message, /^Rankwise ran out of memory \(out of memory: .*\)\. Lower "calibration\.samples" or "calibration\.seqLen" in the plan, or restart the sidecar/);
  assert.deepEqual(notice.actions, ['Restart sidecar', 'Show log']);
  assert.equal((await c.request(Requests.hello)).pid, pid, 'the same sidecar still answers');
  assert.deepEqual(exits, []);
});

test('a sidecar that exits on its own is reported with its exit code and a restart offer; the next request works', async (t) => {
  const dir = tempDir('exit');
  // The first process exits with code 3 on its first request; later ones are the real sidecar.
  const script = join(dir, 'flaky-sidecar.js');
  writeFileSync(script, `const fs = require('fs');
const marker = ${JSON.stringify(join(dir, 'exited-once'))};
if (fs.existsSync(marker)) require(${JSON.stringify(SIDECAR)});
else { fs.writeFileSync(marker, ''); process.stdin.once('data', () => process.exit(3)); }
`);
  const { c, exits } = client({ script });
  t.after(() => c.stop());
  const params = { plan: { model: MODEL, output: join(dir, 'out'), method: 'svd', ratio: 0.2 }, baseDir: dir };
  const failure = await c.request(Requests.compress, params).then(() => assert.fail('answered'), (e: unknown) => e);
  assert.ok(failure instanceof SidecarExitedError && failure.exit?.code === 3, String(failure));
  const notice = compressFailureNotice(failure);
  assert.match(notice.message, /^The Rankwise sidecar stopped during the compression \(exit code 3\)/);
  assert.deepEqual(notice.actions, ['Restart sidecar', 'Show log']);
  assert.equal((await c.request(Requests.hello)).protocol, 1);
  assert.deepEqual(exits, [true]);
});

test('a cancelled compression says what it kept for resuming, or that nothing was published', () => {
  const kept = compressFailureNotice(new ResponseError(ErrorCodes.Cancelled, 'cancelled; 2 finished layers are kept in /m/.out.rankwise-resume; running the same plan again resumes from there (delete that folder to start over)'));
  assert.deepEqual(kept, {
    severity: 'info', actions: [],
    message: 'Compression cancelled; nothing was published. 2 finished layers are kept in /m/.out.rankwise-resume; running the same plan again resumes from there (delete that folder to start over).',
  });
  assert.equal(compressFailureNotice(new ResponseError(ErrorCodes.Cancelled, 'cancelled')).message, 'Compression cancelled; nothing was published.');
  assert.deepEqual(compressFailureNotice(new ResponseError(ErrorCodes.InvalidPlan, 'plan: "ratio" must be a number in [0, 1), got 2')),
    { severity: 'error', message: 'Rankwise: plan: "ratio" must be a number in [0, 1), got 2', actions: ['Show log'] });
});
