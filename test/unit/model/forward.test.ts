// The forward pass, tokenizer and perplexity against an independent numpy implementation
// (test/reference/model/make_reference.py) on the real model and on generated llama/gpt2 checkpoints.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { StreamingModel, disposePassContext } from '../../../sidecar/model/model';
import { loadTokenizer } from '../../../sidecar/tokenizer/tokenizer';
import { perplexity } from '../../../sidecar/eval/perplexity';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { CORPORA, MODEL, ROOT } from '../../helpers/paths';

const REF = join(ROOT, 'test', 'reference', 'model');
const PY = '/usr/bin/python3';

before(async () => { await initBackend('wasm'); });

async function forwardLogits(model: StreamingModel, ids: number[]): Promise<Float32Array> {
  const T = ids.length;
  const ctx = model.context(1, T);
  let h = model.embed(Int32Array.from(ids), 1, T);
  for (let i = 0; i < model.layerCount; i++) h = await model.layer(i, h, ctx);
  const logits = tf.tidy(() => model.logits(model.finalNorm(h)));
  const out = (await logits.data()) as Float32Array;
  logits.dispose();
  h.dispose();
  disposePassContext(ctx);
  return out;
}

/** max |ours − ref| / max |ref| over the compared entries: float32 vs float64 through 8 layers. */
function relErr(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(ours[i] - ref[i]));
    den = Math.max(den, Math.abs(ref[i]));
  }
  return num / den;
}

test('tokenizer: the checkpoint tokenizer.json, BOS from tokenizer_config, fast path equal to the library path', async () => {
  const tok = await loadTokenizer(MODEL);
  assert.equal(tok.vocabSize, 32000);
  assert.equal(tok.bosId, 1);
  assert.ok(tok.fast);
  assert.deepEqual(Array.from(tok.encode('the')), [1, 272]); // model README: "▁the" = 272
  const text = readFileSync(join(CORPORA, 'brown-valid.txt'), 'utf8');
  const pinned = JSON.parse(readFileSync(join(REF, 'windows.json'), 'utf8')).windows.flat();
  assert.deepEqual(Array.from(tok.encode(text.slice(0, 4000)).subarray(0, 256)), pinned);
  // The library's own (slow) path on a slice with multiple spaces, newlines and byte fallback.
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const lib = new Tokenizer(JSON.parse(readFileSync(join(MODEL, 'tokenizer.json'), 'utf8')), {});
  const sample = text.slice(20000, 40000) + '  double  spaces\n\nand é ü 漢字 emoji 🙂';
  assert.deepEqual(Array.from(tok.encode(sample, { addBos: false })), lib.encode(sample, { add_special_tokens: false }).ids);
});

test('reference model: logits agree with the numpy reference to 1e-3 relative', async () => {
  const ref = JSON.parse(readFileSync(join(REF, 'logits.json'), 'utf8')).windows as { ids: number[]; first64: number[][]; rowsum: number[]; rownorm: number[]; lastrow: number[] }[];
  const model = await StreamingModel.open(MODEL);
  try {
    for (const w of ref) {
      const T = w.ids.length;
      const V = 32000;
      const lg = await forwardLogits(model, w.ids);
      const first64: number[] = [];
      const rowsum: number[] = [];
      const rownorm: number[] = [];
      for (let t = 0; t < T; t++) {
        const row = lg.subarray(t * V, (t + 1) * V);
        first64.push(...row.subarray(0, 64));
        let s = 0;
        let n = 0;
        for (const x of row) { s += x; n += x * x; }
        rowsum.push(s);
        rownorm.push(Math.sqrt(n));
      }
      assert.ok(relErr(first64, w.first64.flat()) < 1e-3, `first64 ${relErr(first64, w.first64.flat())}`);
      assert.ok(relErr(lg.subarray((T - 1) * V), w.lastrow) < 1e-3);
      assert.ok(relErr(rownorm, w.rownorm) < 1e-3);
      assert.ok(relErr(rowsum, w.rowsum) < 1e-3, `rowsum ${relErr(rowsum, w.rowsum)}`);
    }
  } finally {
    await model.close();
  }
});

test('reference model: perplexity of the first 8 windows of 256 tokens agrees with numpy to 0.5%; tensors do not leak', async () => {
  // Reference: make_reference.py ppl on the same 2048 ids → 255.3565 (8 windows, 2040 predictions).
  const tok = await loadTokenizer(MODEL);
  const ids = tok.encode(readFileSync(join(CORPORA, 'brown-valid.txt'), 'utf8').slice(0, 12000)).subarray(0, 8 * 256);
  assert.equal(ids.length, 8 * 256);
  const model = await StreamingModel.open(MODEL);
  try {
    await perplexity(model, ids.subarray(0, 2 * 256), 256, { batch: 1 }); // warm the layer cache
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const r = await perplexity(model, ids, 256, { batch: 2, onProgress: () => counts.push(tf.memory().numTensors) });
    assert.equal(r.windows, 8);
    assert.equal(r.predictions, 8 * 255);
    assert.ok(Math.abs(r.perplexity / 255.3565 - 1) < 0.005, `perplexity ${r.perplexity}`);
    assert.deepEqual(new Set(counts), new Set([before]), 'tensor count is the same after every batch');
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await model.close();
  }
});

for (const o of [
  { family: 'llama' as const, layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 40, tied: true, dtype: 'BF16' as const },
  { family: 'llama' as const, layers: 2, hidden: 32, heads: 4, kvHeads: 4, intermediate: 40, tied: false, shards: 2 },
  { family: 'gpt2' as const, layers: 2, hidden: 32, heads: 4, dtype: 'F16' as const },
]) {
  test(`generated ${o.family} (${JSON.stringify(o)}): logits agree with the numpy reference to 1e-4 relative`, async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rw-fwd-')), 'm');
    await makeCheckpoint(dir, { ...o, vocab: 64, context: 32, seed: 7 });
    const ids = Array.from({ length: 24 }, (_, i) => (i * 13 + 5) % 64);
    writeFileSync(join(dir, '..', 'ids.json'), JSON.stringify({ windows: [ids] }));
    execFileSync(PY, [join(REF, 'make_reference.py'), 'logits', dir, join(dir, '..', 'ids.json'), join(dir, '..', 'ref.json')]);
    const ref = JSON.parse(readFileSync(join(dir, '..', 'ref.json'), 'utf8')).windows[0];
    const model = await StreamingModel.open(dir);
    try {
      const lg = await forwardLogits(model, ids);
      const ours: number[] = [];
      for (let t = 0; t < ids.length; t++) ours.push(...lg.subarray(t * 64, t * 64 + 64));
      // Small float32 model vs float64: 1e-4 of the largest logit.
      assert.ok(relErr(ours, ref.first64.flat()) < 1e-4, `${relErr(ours, ref.first64.flat())}`);
    } finally {
      await model.close();
    }
  });
}
