// The checkpoint's own tokenizer.json through @huggingface/tokenizers: Llama/SentencePiece behaviour
// (prefix "▁", byte fallback, BOS from tokenizer_config.json), the word-split fast path equal to the
// library's own path, ids pinned for the reference files, speed on the 5.4 MB train split, and
// cancelling a long tokenization.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadTokenizer, WORD_STARTS } from '../../../sidecar/tokenizer/tokenizer';
import { isCancel } from '../../../sidecar/errors';
import { CORPORA, MODEL, ROOT } from '../../helpers/paths';
import { tempDir } from '../../helpers/temp';

const valid = readFileSync(join(CORPORA, 'brown-valid.txt'), 'utf8');

test('SentencePiece behaviour: "▁the" = 272, BOS 1 from add_bos_token, byte fallback, round trip', async () => {
  const tok = await loadTokenizer(MODEL);
  assert.equal(tok.vocabSize, 32000);
  assert.equal(tok.bosId, 1);
  assert.deepEqual(Array.from(tok.encode('the')), [1, 272]);
  assert.deepEqual(Array.from(tok.encode('the', { addBos: false })), [272]);
  // A character outside the vocabulary becomes its UTF-8 bytes F0 9D 8C 86, byte b = id 3 + b.
  assert.deepEqual(Array.from(tok.encode('𝌆', { addBos: false })), [28705, 243, 160, 143, 137]);
  const text = 'The jury said, "It was  done."\nNew line and é ü 漢字 🙂';
  assert.equal(tok.decode(tok.encode(text)), text);
});

test('the fast path gives the library\'s own ids on real text and odd spacing', async () => {
  const tok = await loadTokenizer(MODEL);
  assert.ok(tok.fast, 'this vocabulary has no token spanning a word boundary');
  const lib = new Tokenizer(JSON.parse(readFileSync(join(MODEL, 'tokenizer.json'), 'utf8')), {});
  const sample = valid.slice(20000, 40000) + '  double  spaces\n\n\tand é ü 漢字 emoji 🙂 ▁literal';
  assert.deepEqual(Array.from(tok.encode(sample, { addBos: false })), lib.encode(sample, { add_special_tokens: false }).ids);
});

test('the whole valid split: the fast path\'s BPE (bpe.ts) gives the library\'s BPE ids, word by word', async () => {
  const tok = await loadTokenizer(MODEL);
  const lib = new Tokenizer(JSON.parse(readFileSync(join(MODEL, 'tokenizer.json'), 'utf8')), {});
  // The library's own model over the same words as the fast path splits (the test above checks the split).
  const inner = lib as unknown as { normalizer: (t: string) => string; model: (w: string[]) => string[] };
  const words = inner.normalizer(valid).split(WORD_STARTS);
  const expected = inner.model(words).map((t) => lib.token_to_id(t));
  assert.deepEqual(Array.from(await tok.encodeLong(valid, { addBos: false })), expected);
});

test('ids of the valid file start as pinned in the reference windows', async () => {
  const tok = await loadTokenizer(MODEL);
  const pinned = JSON.parse(readFileSync(join(ROOT, 'test', 'reference', 'model', 'windows.json'), 'utf8')).windows.flat();
  assert.deepEqual(Array.from(tok.encode(valid.slice(0, 4000)).subarray(0, 256)), pinned);
});

test('tokenizing 1 MB of the train split takes seconds, not minutes', async () => {
  const tok = await loadTokenizer(MODEL);
  const t0 = performance.now();
  const ids = tok.encode(readFileSync(join(CORPORA, 'brown-train.txt'), 'utf8').slice(0, 1_000_000));
  const s = (performance.now() - t0) / 1000;
  // Measured 11 s with the machine at load average 9 on 2 cores; the library's whole-text BPE is
  // super-linear in a text without pre-tokenizer splits and takes minutes at this size.
  assert.ok(s < 45, `${s} s`);
  assert.ok(ids.length > 2.2e5 && ids.length < 2.7e5, `${ids.length} tokens`);
});

test('encodeLong gives encode()\'s ids, and an abort stops it within moments', async () => {
  const tok = await loadTokenizer(MODEL);
  const train = readFileSync(join(CORPORA, 'brown-train.txt'), 'utf8');
  const text = train.slice(0, 200_000);
  assert.deepEqual(await tok.encodeLong(text), tok.encode(text));
  assert.deepEqual(await tok.encodeLong(text, { addBos: false }), tok.encode(text, { addBos: false }));
  // The whole train split is a second or two of work; the abort lands early in it.
  const controller = new AbortController();
  let abortedAt: number | undefined;
  setTimeout(() => { abortedAt = performance.now(); controller.abort(); }, 200);
  await assert.rejects(tok.encodeLong(train, { signal: controller.signal }), isCancel);
  assert.ok(abortedAt !== undefined, 'finished before the abort');
  const latency = performance.now() - abortedAt;
  // A slice is at most ~25 ms here, after the first (the text split into words, 0.6 s for all of
  // it); 1 s leaves room for a loaded 2-core machine.
  assert.ok(latency < 1000, `stopped ${latency.toFixed(0)} ms after the abort`);
});

test('a folder without tokenizer_config.json adds no BOS; a missing tokenizer.json is a clear error', async () => {
  const dir = tempDir('tok');
  copyFileSync(join(MODEL, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const tok = await loadTokenizer(dir);
  assert.deepEqual(Array.from(tok.encode('the')), [272]);
  writeFileSync(join(dir, 'tokenizer.json'), '{not json');
  await assert.rejects(loadTokenizer(dir), /tokenizer\.json: cannot load tokenizer/);
  await assert.rejects(loadTokenizer(join(dir, 'missing')), /cannot load tokenizer/);
});
