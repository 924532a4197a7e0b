// The extension's sidecar client against the built sidecar (dist/sidecar.js): lazy start, progress,
// cancellation as `$/cancelRequest`, one automatic restart after a crash, then a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc/node';
import { passesLevel, SidecarClient, SidecarExitedError } from '../../../extension/sidecar/client';
import { ErrorCodes, Requests, type ProgressParams } from '../../../sidecar/rpc/protocol';
import { ARENA_VARIABLE } from '../../../sidecar/engine-env';
import { MODEL, SIDECAR } from '../../helpers/paths';
import { tempDir } from '../../helpers/temp';

const plan = (output: string) => ({ plan: { model: MODEL, output, method: 'svd', ratio: 0.2, backend: 'cpu' }, baseDir: MODEL });

function client(exits: boolean[] = [], logs: string[] = []) {
  return new SidecarClient(() => ({
    command: process.execPath, script: SIDECAR, args: ['--backend', 'cpu'],
    log: (l) => logs.push(l), onExit: (i) => exits.push(i.willRestart),
  }));
}

test('cancelling the token reaches the sidecar as $/cancelRequest and nothing is written', async (t) => {
  const c = client();
  t.after(() => c.stop());
  const output = join(tempDir('cancel'), 'out');
  const source = new CancellationTokenSource();
  const seen: ProgressParams[] = [];
  await assert.rejects(
    c.request(Requests.compress, plan(output), source.token, (p) => {
      seen.push(p);
      if (p.phase === 'factorize') source.cancel();
    }),
    (e: ResponseError<unknown>) => e.code === ErrorCodes.Cancelled,
  );
  assert.ok(seen.some((p) => p.phase === 'factorize'), 'progress notifications reach the callback');
  assert.equal(existsSync(output), false);
});

test('lazy start, one restart after a crash, then a clear error until an explicit restart', async (t) => {
  const exits: boolean[] = [];
  const logs: string[] = [];
  const c = client(exits, logs);
  t.after(() => c.stop());
  assert.equal(c.pid, undefined, 'not started before the first request');
  const first = await c.request(Requests.hello);
  // Started with the engine's environment (sidecar/engine-env.ts), the test runner's own kept.
  if (process.platform === 'linux') assert.ok(readFileSync(`/proc/${first.pid}/environ`, 'utf8').split('\0').includes(`${ARENA_VARIABLE}=${process.env[ARENA_VARIABLE] ?? '1'}`));
  assert.equal(c.pid, first.pid);
  process.kill(first.pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.pid, undefined);
  const second = await c.request(Requests.hello);
  assert.notEqual(second.pid, first.pid, 'restarted on the next request');
  // A crash during a request rejects it instead of hanging: kill once the compression is under way.
  const output = join(tempDir('crash'), 'out');
  await assert.rejects(
    c.request(Requests.compress, plan(output), undefined, () => process.kill(second.pid, 'SIGKILL')),
    (e: Error) => e instanceof SidecarExitedError && /stopped during the request/.test(e.message),
  );
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(c.request(Requests.hello), (e: Error) => e instanceof SidecarExitedError && /crashed twice/.test(e.message));
  assert.deepEqual(exits, [true, false]);
  await c.restart();
  const third = await c.request(Requests.hello);
  assert.ok(third.pid !== second.pid && third.pid > 0, 'explicit restart works');
  await c.stop();
  assert.equal(exits.length, 2, 'a requested stop is not reported as a crash');
  assert.ok(logs.some((l) => /listening on stdio/.test(l)), 'stderr goes to the log');
});

test('rankwise.logLevel filters the sidecar\'s [level] lines; crash output always passes', () => {
  assert.equal(passesLevel('[debug] rank 12', 'info'), false);
  assert.equal(passesLevel('[info] tensor backend: wasm', 'info'), true);
  assert.equal(passesLevel('[info] tensor backend: wasm', 'warn'), false);
  assert.equal(passesLevel('[error] out of memory', 'warn'), true);
  assert.equal(passesLevel('TypeError: x is undefined', 'error'), true);
});
