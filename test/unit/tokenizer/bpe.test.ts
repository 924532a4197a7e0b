// bpe.ts against the library's own BPE model, word by word: a small vocabulary with merges of
// overlapping pairs and equal-rank choices, characters outside it (with and without their bytes),
// under each of the options the fast path implements; and the options it leaves to the library.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer } from '@huggingface/tokenizers';
import { wordEncoder, type LibraryBpe } from '../../../sidecar/tokenizer/bpe';

interface Options { byte_fallback?: boolean; fuse_unk?: boolean; ignore_merges?: boolean; dropout?: number; end_of_word_suffix?: string }

/** The library's BPE model over a vocabulary of a–d, merges among them, and the bytes of "x" only. */
function libraryModel(o: Options): LibraryBpe & ((words: string[]) => string[]) {
  const tokens = ['<unk>', 'a', 'b', 'c', 'd', 'ab', 'bc', 'cd', 'aa', 'abc', 'aab', 'abcd', 'aaa', 'dd', '<0x78>'];
  const merges = ['a b', 'b c', 'c d', 'a a', 'ab c', 'aa b', 'abc d', 'aa a', 'd d'];
  const json = {
    model: { type: 'BPE', vocab: Object.fromEntries(tokens.map((t, i) => [t, i])), merges, unk_token: '<unk>', ...o },
    normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [],
  };
  return (new Tokenizer(json, {}) as unknown as { model: LibraryBpe & ((words: string[]) => string[]) }).model;
}

/** Deterministic words over a–d, "x" (bytes in the vocabulary), "y" and "é" (neither), 0–14 long. */
function words(n: number): string[] {
  const alphabet = ['a', 'b', 'c', 'd', 'a', 'b', 'x', 'y', 'é'];
  let s = 7;
  const next = () => (s = (s * 48271) % 2147483647);
  return Array.from({ length: n }, () => Array.from({ length: next() % 15 }, () => alphabet[next() % alphabet.length]).join(''));
}

for (const o of [{}, { byte_fallback: true }, { fuse_unk: true }, { byte_fallback: true, fuse_unk: true }, { ignore_merges: true, fuse_unk: true }] as Options[]) {
  test(`each word's ids are the library's, with ${JSON.stringify(o)}`, () => {
    const model = libraryModel(o);
    const encode = wordEncoder(model);
    assert.ok(encode, 'these options are implemented');
    const ids = (w: string) => model([w]).map((t) => model.tokens_to_ids.get(t));
    for (const w of [...words(3000), 'aaaa', 'aaab', 'abcd', 'yy', 'yyaay', 'xéx', 'ddd']) {
      assert.deepEqual(encode(w), ids(w), JSON.stringify(w));
    }
  });
}

test('a word past 256 characters goes to the library\'s BPE, with the same ids', () => {
  const model = libraryModel({ byte_fallback: true });
  const encode = wordEncoder(model)!;
  const long = 'abcdaab'.repeat(60) + 'xé';
  let calls = 0;
  const bpe = model.bpe.bind(model);
  model.bpe = (w) => (calls++, bpe(w));
  const got = encode(long);
  assert.equal(calls, 1);
  assert.deepEqual(got, model([long]).map((t) => model.tokens_to_ids.get(t)));
});

test('options the fast path does not implement leave the word to the library', () => {
  assert.equal(wordEncoder(libraryModel({ dropout: 0.1 })), undefined);
  assert.equal(wordEncoder(libraryModel({ end_of_word_suffix: '</w>' })), undefined);
});
