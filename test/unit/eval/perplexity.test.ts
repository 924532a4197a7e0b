// Perplexity (METHODS.md "Evaluation") of the real model on the whole validation file, against the
// numpy reference (test/reference/model/perplexity.json; the whole file is checked by bench/forward.ts); the
// tensor count across batches; cancellation; and the `rankwise eval` command end to end.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { StreamingModel } from '../../../sidecar/model/model';
import { loadTokenizer } from '../../../sidecar/tokenizer/tokenizer';
import { perplexity } from '../../../sidecar/eval/perplexity';
import { runEval } from '../../../sidecar/cli/eval';
import { CLI, CORPORA, MODEL, ROOT } from '../../helpers/paths';

type PplRef = { perplexity: number; windows: number; predictions: number; tokens: number; ids_sha256: string; seq_len: number };
const REFS = JSON.parse(readFileSync(join(ROOT, 'test', 'reference', 'model', 'perplexity.json'), 'utf8')) as { full: PplRef; first32: PplRef };
const VALID = join(CORPORA, 'brown-valid.txt');

before(async () => { await initBackend('wasm'); });

const sha = (ids: Int32Array) => createHash('sha256').update(Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength)).digest('hex');

// The whole valid set takes minutes on wasm (about 2.4 TFLOP in the lm_head alone): bench/forward.ts
// checks it against the full reference and the README's 283.9; here the first 32 windows.
test('first 32 windows of the valid set: perplexity within 0.5% of the numpy reference; memory flat', async () => {
  const all = (await loadTokenizer(MODEL)).encode(readFileSync(VALID, 'utf8'));
  // The references scored exactly these ids (their input came from this tokenizer; dump_ids.ts).
  assert.equal(all.length, REFS.full.tokens);
  assert.equal(sha(all), REFS.full.ids_sha256);
  const REF = REFS.first32;
  const ids = all.subarray(0, REF.tokens);
  assert.equal(sha(ids), REF.ids_sha256);
  const model = await StreamingModel.open(MODEL);
  try {
    // The head is read on first use: read it now, so that the counts below are the run's own tensors.
    const h = tf.zeros([1, 2, model.arch.dims.hidden]) as tf.Tensor3D;
    await model.nll(h, Int32Array.of(0, 0));
    h.dispose();
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    // A small activation budget forces several groups, so memory is seen across many batches.
    const r = await perplexity(model, ids, 256, { batch: 8, activationBytes: 4 * 1024 ** 2, onProgress: () => counts.push(tf.memory().numTensors) });
    assert.equal(r.windows, REF.windows);
    assert.equal(r.predictions, REF.predictions);
    // 0.5% as the issue asks (float32 against float64 differ by ~1e-5 here).
    assert.ok(Math.abs(r.perplexity / REF.perplexity - 1) < 0.005, `ours ${r.perplexity}, numpy ${REF.perplexity}`);
    assert.ok(counts.length > 8, 'progress reported per group and layer');
    assert.ok(counts.every((c) => c <= counts[0]), `tensor count never grows across batches: ${[...new Set(counts)]}`);
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  } finally {
    await model.close();
  }
});

test('perplexity honours an AbortSignal and leaves no tensors', async () => {
  const model = await StreamingModel.open(MODEL);
  try {
    const ids = Int32Array.from({ length: 4 * 64 }, (_, i) => (i * 31) % 32000);
    const before = tf.memory().numTensors;
    const ac = new AbortController();
    await assert.rejects(perplexity(model, ids, 64, { batch: 1, signal: ac.signal, onProgress: () => ac.abort() }), (e: Error) => e.name === 'AbortError');
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(perplexity(model, ids.subarray(0, 10), 64), /fewer than one window/);
  } finally {
    await model.close();
  }
});

test('runEval: the eval command on a text slice; the built CLI prints the same JSON', async () => {
  const data = join(ROOT, 'out', 'eval-slice.txt');
  writeFileSync(data, readFileSync(VALID, 'utf8').slice(0, 6000));
  const r = await runEval({ dir: MODEL, data, seqLen: 128, backend: 'wasm' });
  assert.equal(r.backend, 'wasm');
  assert.equal(r.seqLen, 128);
  assert.equal(r.predictions, r.windows * 127);
  const cli = JSON.parse(execFileSync(process.execPath, [CLI, 'eval', MODEL, '--data', data, '--seq-len', '128', '--backend', 'wasm', '--json'], { encoding: 'utf8' }));
  assert.deepEqual(Object.keys(cli).sort(), ['backend', 'perplexity', 'predictions', 'seconds', 'seq_len', 'windows']);
  // Same code, backend and ids: equal to float32 summation-order noise (1e-6 relative).
  assert.ok(Math.abs(cli.perplexity / r.perplexity - 1) < 1e-6, `${cli.perplexity} vs ${r.perplexity}`);
  assert.equal(cli.windows, r.windows);
  assert.ok(cli.seconds > 0);
  await assert.rejects(runEval({ dir: MODEL, data, seqLen: 1024 }), /exceeds the model's context of 512/);
});
