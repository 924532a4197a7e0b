// The one step of the reference pipeline that uses Rankwise: token ids of corpora/brown-valid.txt from
// our tokenizer, so make_reference.py (which has no tokenizer) computes logits and perplexity for
// exactly the ids the tests feed our model. The tests pin these ids (windows.json, ids_sha256).
//   npx esbuild test/reference/model/dump_ids.ts --bundle --platform=node --external:@tensorflow/* --outfile=/tmp/dump_ids.js
//   node /tmp/dump_ids.js /tmp/brown-valid.ids     (run from the repository root)
import { readFileSync, writeFileSync } from 'node:fs';
import { loadTokenizer } from '../../../sidecar/tokenizer/tokenizer';

async function main() {
  const tok = await loadTokenizer('models/rankwise-brown-14m');
  const ids = tok.encode(readFileSync('corpora/brown-valid.txt', 'utf8'));
  writeFileSync(process.argv[2], Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength));
  const first = Array.from(ids.subarray(0, 256));
  const windows = { source: 'corpora/brown-valid.txt, first 256 tokens (BOS first) as 2 windows of 128, Rankwise tokenizer', windows: [first.slice(0, 128), first.slice(128)] };
  writeFileSync('test/reference/model/windows.json', JSON.stringify(windows) + '\n');
  console.log(`${ids.length} ids`);
}
main();
