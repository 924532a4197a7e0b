// Layer 2 of TESTING.md: spawn the built sidecar and speak vscode-jsonrpc to it over stdio,
// exactly as the extension does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CancellationTokenSource, ResponseError, createMessageConnection, type MessageConnection } from 'vscode-jsonrpc/node';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { ErrorCodes, Notifications, Requests, type ProgressParams } from '../../../sidecar/rpc/protocol';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { CORPORA, MODEL, SIDECAR, hashTree } from '../../helpers/paths';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { StreamingModel } from '../../../sidecar/model/model';
import { calibrationIds } from '../../../sidecar/methods/calibration';
import { tempDir } from '../../helpers/temp';

let child: ChildProcess;
let conn: MessageConnection;
let work: string;
let stderr = '';

before(async () => {
  assert.ok(existsSync(SIDECAR), 'dist/sidecar.js is built');
  work = tempDir('rpc');
  child = spawn(process.execPath, [SIDECAR, '--backend', 'cpu'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d) => { stderr += d; });
  conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  conn.listen();
});

after(async () => {
  conn?.dispose();
  child?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

test('hello reports the protocol version and the backend in use', async () => {
  const r = await conn.sendRequest(Requests.hello);
  assert.equal(r.protocol, 1);
  assert.equal(r.backend, 'cpu');
  assert.equal(r.pid, child.pid);
});

test('model/open and model/tree describe a generated llama checkpoint', async () => {
  const dir = join(work, 'llama');
  await makeCheckpoint(dir, { family: 'llama', layers: 3, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64 });
  const s = await conn.sendRequest(Requests.open, { dir });
  assert.equal(s.modelType, 'llama');
  assert.equal(s.layers, 3);
  assert.equal(s.decoder[0].attention.length, 4);
  assert.deepEqual(s.decoder[0].attention.find((m) => m.name.endsWith('k_proj'))!.shape, [16, 32]);
  assert.deepEqual(s.decoder[0].mlp.find((m) => m.name.endsWith('down_proj'))!.shape, [32, 48]);
  const total = s.embedding.concat(s.head).reduce((a, t) => a + t.parameters, 0) + s.decoder.reduce((a, l) => a + l.parameters, 0);
  assert.equal(s.parameters, total);
  const t = await conn.sendRequest(Requests.tree, { dir });
  assert.deepEqual(t, s);
});

test('matrix/spectrum returns descending singular values of the named matrix', async () => {
  const dir = join(work, 'llama');
  const r = await conn.sendRequest(Requests.spectrum, { dir, name: 'model.layers.1.mlp.up_proj' });
  assert.deepEqual(r.shape, [48, 32]);
  assert.equal(r.values.length, 32);
  for (let i = 1; i < r.values.length; i++) assert.ok(r.values[i] <= r.values[i - 1]);
  await assert.rejects(conn.sendRequest(Requests.spectrum, { dir, name: 'model.layers.9.mlp.up_proj' }),
    (e: ResponseError<void>) => e.code === ErrorCodes.NotFound && /not a decoder projection/.test(e.message));
});

test('model/redundancy: Block Influence per layer of the reference model, the same as a forward pass with hooks', async () => {
  const calibration = { data: join(CORPORA, 'brown-train.txt'), samples: 2, seqLen: 32, seed: 1 };
  const progress: ProgressParams[] = [];
  const sub = conn.onNotification(Notifications.progress, (p) => progress.push(p));
  const r = await conn.sendRequest(Requests.redundancy, { dir: MODEL, calibration, progressToken: 'bi' });
  sub.dispose();
  assert.equal(r.layers.length, 8);
  assert.equal(r.tokens, 64);
  assert.deepEqual(progress.filter((p) => p.token === 'bi').map((p) => p.done), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  // Independent path through our engine: StreamingModel.forward over the same windows, cosine by hand.
  await initBackend('cpu');
  const model = await StreamingModel.open(MODEL);
  try {
    const ids = await calibrationIds(MODEL, calibration, 512);
    const h = await model.embed(ids, 2, 32);
    const cos: number[] = [];
    const out = await model.forward(h, { onLayer: (_i, a, b) => {
      const x = a.arraySync().flat();
      const y = b.arraySync().flat();
      let sum = 0;
      for (let t = 0; t < x.length; t++) {
        let d = 0, nx = 0, ny = 0;
        for (let k = 0; k < x[t].length; k++) { d += x[t][k] * y[t][k]; nx += x[t][k] ** 2; ny += y[t][k] ** 2; }
        sum += d / Math.sqrt(nx * ny);
      }
      cos.push(sum / x.length);
    } });
    tf.dispose([h, out]);
    // float32 states; cosines summed in float64 on both sides: 1e-5 absolute is float32 rounding.
    r.layers.forEach((l, i) => {
      assert.ok(Math.abs(l.cosine - cos[i]) < 1e-5, `layer ${i}: ${l.cosine} vs ${cos[i]}`);
      assert.ok(Math.abs(l.blockInfluence - (1 - cos[i])) < 1e-5);
    });
  } finally {
    await model.close();
  }
  await assert.rejects(conn.sendRequest(Requests.redundancy, { dir: MODEL, calibration: { ...calibration, samples: 0 } }),
    (e: ResponseError<void>) => e.code === ErrorCodes.InvalidPlan && /calibration\.samples/.test(e.message));
});

test('matrix/spectrum with calibration: whitened values of W·S carry exactly ‖W X‖²_F (S = chol X Xᵀ)', async () => {
  const calibration = { data: join(CORPORA, 'brown-train.txt'), samples: 2, seqLen: 32, seed: 3 };
  const name = 'model.layers.1.self_attn.k_proj';
  const r = await conn.sendRequest(Requests.spectrum, { dir: MODEL, name, calibration });
  assert.deepEqual(r.shape, [128, 256]);
  assert.equal(r.whitened!.length, 128);
  assert.ok(r.whitened!.every((v, i) => i === 0 || v <= r.whitened![i - 1]), 'descending');
  // Independently: the inputs X of layer 1's attention from a forward pass with hooks, ‖W X‖²_F in float64.
  await initBackend('cpu');
  const model = await StreamingModel.open(MODEL);
  try {
    const h = await model.embed(await calibrationIds(MODEL, calibration, 512), 2, 32);
    let x: number[][] = [];
    const out = await model.forward(h, { to: 2, onInput: (i, site, t) => { if (i === 1 && site === 'attn_in') x = t.arraySync(); } });
    tf.dispose([h, out]);
    const w = (await model.ckpt.read(`${name}.weight`));
    let wx2 = 0;
    for (const row of x) {
      for (let o = 0; o < 128; o++) {
        let d = 0;
        for (let k = 0; k < 256; k++) d += w[o * 256 + k] * row[k];
        wx2 += d * d;
      }
    }
    const s2 = r.whitened!.reduce((a, v) => a + v * v, 0);
    // float32 inputs and weights, float64 sums on both sides: agreement to 1e-4 relative.
    assert.ok(Math.abs(s2 / wx2 - 1) < 1e-4, `Σσ² ${s2} vs ‖WX‖² ${wx2}`);
    assert.ok(Math.abs(r.values.reduce((a, v) => a + v * v, 0) / w.reduce((a, v) => a + v * v, 0) - 1) < 1e-4, 'raw values carry ‖W‖²_F');
  } finally {
    await model.close();
  }
});

test('compress/run streams progress, writes a smaller checkpoint and leaves the input unchanged', async () => {
  const dir = join(work, 'llama');
  const hashes = hashTree(dir);
  const progress: ProgressParams[] = [];
  const sub = conn.onNotification(Notifications.progress, (p) => progress.push(p));
  const out = join(work, 'llama-svd');
  const r = await conn.sendRequest(Requests.compress, { plan: { model: 'llama', output: 'llama-svd', method: 'svd', ratio: 0.4 }, baseDir: work, progressToken: 'p1' });
  sub.dispose();
  assert.equal(r.output, out);
  assert.ok(r.parameters_after < r.parameters_before);
  assert.ok(progress.some((p) => p.token === 'p1' && p.phase === 'factorize'));
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(Object.keys(config.rankwise.ranks).length, 3 * 7);
  assert.deepEqual(hashTree(dir), hashes);
  assert.ok(existsSync(r.reportPath));
});

test('an existing output folder is refused, not overwritten', async () => {
  const before = hashTree(join(work, 'llama-svd'));
  await assert.rejects(conn.sendRequest(Requests.compress, { plan: { model: 'llama', output: 'llama-svd', method: 'svd', ratio: 0.4 }, baseDir: work }),
    (e: ResponseError<void>) => /exists/.test(e.message));
  assert.deepEqual(hashTree(join(work, 'llama-svd')), before);
});

test('a bad plan and a corrupt checkpoint give coded errors and the sidecar keeps serving', async () => {
  await assert.rejects(conn.sendRequest(Requests.compress, { plan: { model: 'llama', output: 'x', method: 'svd', ratio: 2 }, baseDir: work }),
    (e: ResponseError<void>) => e.code === ErrorCodes.InvalidPlan && /"ratio"/.test(e.message));
  const bad = join(work, 'bad');
  await makeCheckpoint(bad, { family: 'llama', layers: 1 });
  const f = join(bad, 'model.safetensors');
  writeFileSync(f, readFileSync(f).subarray(0, 200));
  await assert.rejects(conn.sendRequest(Requests.open, { dir: bad }), (e: ResponseError<void>) => e.code === ErrorCodes.InvalidCheckpoint);
  const r = await conn.sendRequest(Requests.hello);
  assert.equal(r.pid, child.pid);
});

test('$/cancelRequest stops a compression and removes its temporary folder', async () => {
  const dir = join(work, 'wide');
  await makeCheckpoint(dir, { family: 'llama', layers: 6, hidden: 192, heads: 4, kvHeads: 4, intermediate: 512, vocab: 64 });
  const source = new CancellationTokenSource();
  const sub = conn.onNotification(Notifications.progress, (p) => { if (p.token === 'c1' && p.done >= 1) source.cancel(); });
  const t0 = Date.now();
  await assert.rejects(conn.sendRequest(Requests.compress, { plan: { model: 'wide', output: 'wide-svd', method: 'svd', ratio: 0.2 }, baseDir: work, progressToken: 'c1' }, source.token),
    (e: ResponseError<void>) => e.code === ErrorCodes.Cancelled);
  sub.dispose();
  assert.ok(Date.now() - t0 < 60_000);
  assert.ok(!existsSync(join(work, 'wide-svd')));
  assert.deepEqual(readdirSync(work).filter((n) => n.includes('rankwise-tmp')), []);
});

test('shutdown ends the process cleanly', async () => {
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  await conn.sendRequest(Requests.shutdown);
  assert.equal(await exited, 0);
  assert.doesNotMatch(stderr, /Error:|at .*\.js:\d+/, 'no stack traces on stderr');
});
