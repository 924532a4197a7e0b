// Byte-pair encoding of one word at a time, for the tokenizer's word-split fast path (tokenizer.ts),
// on the library's parsed BPE model: its merges applied as the library applies them (the pair of
// lowest rank first and, of equal ranks, the leftmost), then each piece's id; a piece outside the
// vocabulary becomes its UTF-8 bytes (<0xXX>) when the model falls back to bytes and they all exist,
// else the unknown token, and consecutive unknown tokens are fused into one. The library's own BPE
// of a word took ~45 µs here (a JSON key built for every pair it looks up, a priority queue of
// objects): 5 s for brown-train's 109 k distinct words.

/** The library's BPE model (@huggingface/tokenizers, pinned in package.json), as far as read here. */
export interface LibraryBpe {
  config: { dropout?: number | null; continuing_subword_prefix?: string | null };
  merges: [string, string][];
  tokens_to_ids: Map<string, number>;
  unk_token_id?: number;
  byte_fallback: boolean;
  ignore_merges: boolean;
  end_of_word_suffix?: string | null;
  continuing_subword_suffix?: string | null;
  fuse_unk: boolean;
  bpe(word: string): string[];
}

/** Longer words go to the library's BPE: this one's search for the best pair is quadratic in a
 *  word's length, the library's queue is not. */
const MAX_SYMBOLS = 256;

/** A word's ids under model, or undefined when model uses an option this does not implement
 *  (dropout, word prefixes or suffixes): the caller then runs the library's own path. */
export function wordEncoder(model: LibraryBpe): ((word: string) => number[]) | undefined {
  const c = model.config;
  if (c.dropout || c.continuing_subword_prefix || model.end_of_word_suffix || model.continuing_subword_suffix) return undefined;
  const ids = model.tokens_to_ids;
  // rank of the pair (a, b) = ranks.get(a).get(b): no key string built per lookup.
  const ranks = new Map<string, Map<string, number>>();
  model.merges.forEach(([a, b], rank) => {
    let row = ranks.get(a);
    if (!row) ranks.set(a, (row = new Map()));
    if (!row.has(b)) row.set(b, rank);
  });
  const utf8 = new TextEncoder();
  const unk = model.unk_token_id;

  const rank = (a: string, b: string) => ranks.get(a)?.get(b) ?? Infinity;
  const merged = (word: string): string[] => {
    const s = Array.from(word);
    if (s.length > MAX_SYMBOLS) return model.bpe(word);
    // r[i]: the rank of the pair (s[i], s[i + 1]); a merge changes only its neighbours' pairs.
    const r = s.slice(1).map((b, i) => rank(s[i], b));
    for (;;) {
      let at = -1;
      for (let i = 0, best = Infinity; i < r.length; i++) {
        if (r[i] < best) {
          best = r[i];
          at = i;
        }
      }
      if (at < 0) return s;
      s.splice(at, 2, s[at] + s[at + 1]);
      r.splice(at, 1);
      if (at > 0) r[at - 1] = rank(s[at - 1], s[at]);
      if (at < r.length) r[at] = rank(s[at], s[at + 1]);
    }
  };

  return (word) => {
    const out: number[] = [];
    const push = (id: number | undefined) => {
      if (id === undefined) return;
      // The library fuses a run of unknown tokens into its first.
      if (model.fuse_unk && id === unk && out.length && out[out.length - 1] === unk) return;
      out.push(id);
    };
    const whole = model.ignore_merges ? ids.get(word) : undefined;
    if (whole !== undefined) return [whole];
    for (const piece of word.length ? merged(word) : []) {
      const id = ids.get(piece);
      if (id !== undefined) push(id);
      else if (model.byte_fallback) {
        const bytes = Array.from(utf8.encode(piece), (b) => ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
        if (bytes.every((b) => b !== undefined)) bytes.forEach(push);
        else push(unk);
      } else push(unk);
    }
    return out;
  };
}
