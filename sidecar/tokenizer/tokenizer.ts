// The checkpoint's own tokenizer.json through @huggingface/tokenizers (no network).
// Llama-style SentencePiece BPE has no pre-tokenizer, so the library runs BPE over a whole text as
// one word: quadratic-ish and ~100 s for our 5 MB corpus. When no vocabulary token spans a "▁" word
// boundary, BPE on each "▁word" piece gives the same ids; we check that property of the vocabulary
// at load and fall back to the library's own path otherwise. A test compares both on real text.
// On that path each distinct word is encoded once per call, by bpe.ts rather than the library's BPE:
// brown-train in 1.6–2.4 s instead of 10 s here, with the machine's load (bench/tokenize.ts).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { CheckpointError } from '../checkpoint/errors';
import { throwIfAborted } from '../errors';
import { wordEncoder, type LibraryBpe } from './bpe';

export interface Tokenizer {
  encode(text: string, opts?: { addBos?: boolean }): Int32Array;
  /**
   * encode() for corpora (seconds of work on megabytes): the same ids, computed in slices of words
   * with the event loop served in between, so a cancel arrives and stops it within a slice. The
   * library's own path (no fast path) is one call and cannot be sliced.
   */
  encodeLong(text: string, opts?: { addBos?: boolean; signal?: AbortSignal }): Promise<Int32Array>;
  decode(ids: ArrayLike<number>): string;
  readonly vocabSize: number;
  readonly bosId?: number;
  /** Whether the word-split fast path is in use (see the module comment). */
  readonly fast: boolean;
}

/** What we use of the library's internals (version pinned in package.json; a test guards it). */
interface Internals {
  normalizer: ((text: string) => string) | null;
  pre_tokenizer: unknown;
  model: ((words: string[]) => string[]) & LibraryBpe & { vocab: string[] };
  added_tokens_map: Map<string, unknown>;
}

/** Words per slice of encodeLong: on brown-train with the reference tokenizer, 6–7 ms a slice (the
 *  median) and at most 23 after the first, which waits for the whole text's normalization and split
 *  (0.6 s for 5 MB). */
const WORDS_PER_SLICE = 4096;

/** Where a normalized text splits into the fast path's words: before each "▁" that follows another
 *  character (a run of "▁" stays with the word after it). */
export const WORD_STARTS = /(?<=[^▁])(?=▁)/;

function splitsAtSpace(vocab: string[]): boolean {
  // A token like "a▁b" (a space inside, after a non-space) would merge across our split points.
  return !vocab.some((t) => typeof t === 'string' && /[^▁]▁/.test(t));
}

export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const read = async (name: string, required: boolean) => {
    try {
      return JSON.parse(await readFile(join(dir, name), 'utf8')) as Record<string, unknown>;
    } catch (e) {
      if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new CheckpointError(`${join(dir, name)}: cannot load tokenizer (${(e as Error).message})`);
    }
  };
  const json = await read('tokenizer.json', true);
  const config = await read('tokenizer_config.json', false);
  const tok = new HfTokenizer(json, config);
  const inner = tok as unknown as Internals;
  const vocab = inner.model.vocab;
  const bosToken = typeof config.bos_token === 'string' ? config.bos_token : (config.bos_token as { content?: string } | undefined)?.content;
  const bosId = bosToken !== undefined ? tok.token_to_id(bosToken) : undefined;
  const addBosDefault = config.add_bos_token === true;
  const fast = inner.pre_tokenizer === null && typeof inner.normalizer === 'function' && splitsAtSpace(vocab);
  const added = [...inner.added_tokens_map.keys()];

  const useFast = (text: string) => fast && !added.some((a) => text.includes(a));
  const words = (text: string) => inner.normalizer!(text).split(WORD_STARTS);
  const bpe = wordEncoder(inner.model) ?? ((w: string) => inner.model([w]).map((t) => tok.token_to_id(t)!));
  // A text repeats its words (brown-train: 864 k, 109 k distinct): each distinct one is encoded once
  // per call, and its ids looked up after (the library's cache holds 10 k words).
  const idsOf = (ws: string[], seen: Map<string, readonly number[]>, out: number[]) => {
    for (const w of ws) {
      let ids = seen.get(w);
      if (!ids) {
        ids = bpe(w);
        seen.set(w, ids);
      }
      for (const id of ids) out.push(id);
    }
    return out;
  };
  const withBos = (ids: ArrayLike<number>, addBos: boolean | undefined): Int32Array => {
    const bos = (addBos ?? addBosDefault) && bosId !== undefined;
    const out = new Int32Array(ids.length + (bos ? 1 : 0));
    if (bos) out[0] = bosId!;
    out.set(ids, bos ? 1 : 0);
    return out;
  };
  const encode = (text: string, opts: { addBos?: boolean } = {}) =>
    withBos(useFast(text) ? idsOf(words(text), new Map(), []) : tok.encode(text, { add_special_tokens: false }).ids, opts.addBos);
  return {
    vocabSize: vocab.length,
    bosId,
    fast,
    encode,
    async encodeLong(text, opts = {}) {
      if (!useFast(text)) return encode(text, opts);
      const all = words(text);
      const ids: number[] = [];
      const seen = new Map<string, readonly number[]>();
      // BPE runs per word, so slices of the word list give the ids of the whole.
      for (let k = 0; k < all.length; k += WORDS_PER_SLICE) {
        throwIfAborted(opts.signal);
        idsOf(all.slice(k, k + WORDS_PER_SLICE), seen, ids);
        await setImmediate();
      }
      return withBos(ids, opts.addBos);
    },
    decode(ids) {
      return tok.decode(Array.from(ids), { skip_special_tokens: true });
    },
  };
}
