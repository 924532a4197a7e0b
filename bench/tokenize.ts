// Tokenizing the corpora with the reference model's tokenizer: the engine's path (tokenizer.ts's
// encodeLong: the text split into "▁" words, each distinct word encoded once by bpe.ts) against the
// library's own BPE model over the same words (@huggingface/tokenizers, what the engine ran before
// bpe.ts), same process, alternating; prints seconds, the ratio, and whether the ids agree.
//   node out/bench/tokenize.js [--repeat 3]
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadTokenizer, WORD_STARTS } from '../sidecar/tokenizer/tokenizer';

const ROOT = resolve(__dirname.replace(/[\\/]out[\\/].*$/, ''));
const MODEL = join(ROOT, 'models', 'rankwise-brown-14m');
const at = process.argv.indexOf('--repeat');
const REPEAT = at > 0 ? Number(process.argv[at + 1]) : 3;

const seconds = async <T>(fn: () => Promise<T> | T): Promise<[number, T]> => {
  const t0 = performance.now();
  const r = await fn();
  return [(performance.now() - t0) / 1000, r];
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const lib = new Tokenizer(JSON.parse(readFileSync(join(MODEL, 'tokenizer.json'), 'utf8')), {});
  const inner = lib as unknown as { normalizer: (t: string) => string; model: ((w: string[]) => string[]) & { clear_cache(): void } };
  console.log(`tokenizer of ${MODEL}; fastest and median of ${REPEAT} runs a side, alternating`);
  console.log(`${'corpus'.padEnd(16)} ${'MB'.padStart(5)} ${'tokens'.padStart(9)} ${'engine s'.padStart(9)} ${'median'.padStart(7)} ${'library s'.padStart(10)} ${'median'.padStart(7)} ${'ratio'.padStart(6)}  ids agree`);
  for (const name of ['brown-train.txt', 'brown-valid.txt']) {
    const text = readFileSync(join(ROOT, 'corpora', name), 'utf8');
    const ours: number[] = [];
    const theirs: number[] = [];
    let agree = true;
    let tokens = 0;
    for (let r = 0; r < REPEAT; r++) {
      // A fresh tokenizer each run: nothing cached from the run before.
      const tok = await loadTokenizer(MODEL);
      const [s, ids] = await seconds(() => tok.encodeLong(text, { addBos: false }));
      ours.push(s);
      inner.model.clear_cache();
      const [t, ref] = await seconds(() => inner.model(inner.normalizer(text).split(WORD_STARTS)).map((x) => lib.token_to_id(x)!));
      theirs.push(t);
      tokens = ids.length;
      agree &&= ids.length === ref.length && ids.every((v, i) => v === ref[i]);
    }
    const a = Math.min(...ours);
    const b = Math.min(...theirs);
    console.log(`${name.padEnd(16)} ${(text.length / 1e6).toFixed(1).padStart(5)} ${String(tokens).padStart(9)} ${a.toFixed(2).padStart(9)} ${median(ours).toFixed(2).padStart(7)} ${b.toFixed(2).padStart(10)} ${median(theirs).toFixed(2).padStart(7)} ${(a / b).toFixed(2).padStart(6)}  ${agree ? 'yes' : 'NO'}`);
    if (!agree) process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
