// Forward throughput and peak memory on the real model, side by side with an independent PyTorch
// run (bench/forward_torch.py, Debian's python3-torch on OpenBLAS, 2 threads): perplexity of
// corpora/brown-valid.txt, 256-token windows, METHODS.md protocol.
//   node out/bench/forward.js [--backend wasm|cpu|...] [--windows N] [--batch B]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../sidecar/tensor/backend';
import type { BackendChoice } from '../sidecar/rpc/protocol';
import { StreamingModel } from '../sidecar/model/model';
import { loadTokenizer } from '../sidecar/tokenizer/tokenizer';
import { perplexity } from '../sidecar/eval/perplexity';

const ROOT = resolve(__dirname, '..', '..');
const MODEL = join(ROOT, 'models', 'rankwise-brown-14m');
const SEQ = 256;

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Peak resident set (ru_maxrss) of this process, as the peer reports its own. */
function peakRss(): number { return process.resourceUsage().maxRSS * 1024; }

async function main() {
  const backend = await initBackend((flag('backend') as BackendChoice) ?? 'auto');
  const batch = Number(flag('batch') ?? 8);
  const all = (await loadTokenizer(MODEL)).encode(readFileSync(join(ROOT, 'corpora', 'brown-valid.txt'), 'utf8'));
  const windows = Math.min(Number(flag('windows') ?? Math.floor(all.length / SEQ)), Math.floor(all.length / SEQ));
  const ids = all.subarray(0, windows * SEQ);
  const idsFile = join(tmpdir(), `rankwise-bench-${process.pid}.ids`);
  writeFileSync(idsFile, Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength));

  const t0 = performance.now();
  const model = await StreamingModel.open(MODEL);
  const r = await perplexity(model, ids, SEQ, { batch });
  await model.close();
  const seconds = (performance.now() - t0) / 1000;
  const ours = { tokensPerSecond: (windows * SEQ) / seconds, peakRssMiB: peakRss() / 2 ** 20, seconds, perplexity: r.perplexity };

  const env = { ...process.env, OMP_NUM_THREADS: '2', OPENBLAS_NUM_THREADS: '2', MKL_NUM_THREADS: '2' };
  const peer = JSON.parse(execFileSync('/usr/bin/python3', [join(ROOT, 'bench', 'forward_torch.py'), MODEL, idsFile, String(SEQ), String(batch)], { env, encoding: 'utf8', maxBuffer: 1 << 24 }));

  const row = (name: string, x: { tokensPerSecond: number; peakRssMiB: number; seconds: number; perplexity: number }) =>
    `${name.padEnd(28)} ${x.tokensPerSecond.toFixed(0).padStart(10)} ${x.peakRssMiB.toFixed(0).padStart(14)} ${x.seconds.toFixed(1).padStart(9)} ${x.perplexity.toFixed(3).padStart(11)}`;
  console.log(`forward pass, rankwise-brown-14m, ${windows} windows × ${SEQ} tokens, batch ${batch}, perplexity protocol of METHODS.md`);
  console.log(`${'run'.padEnd(28)} ${'tokens/s'.padStart(10)} ${'peak RSS MiB'.padStart(14)} ${'seconds'.padStart(9)} ${'perplexity'.padStart(11)}`);
  console.log(row(`rankwise tfjs (${backend.name})`, ours));
  console.log(row(`pytorch ${peer.torch} (cpu)`, peer));
  console.log(`ratio rankwise / pytorch: throughput ${(ours.tokensPerSecond / peer.tokensPerSecond).toFixed(3)}, peak RSS ${(ours.peakRssMiB / peer.peakRssMiB).toFixed(3)}`);
  console.log(`peer threads: ${peer.threads}; peer BLAS: ${peer.blas}`);
  if (windows === Math.floor(all.length / SEQ)) {
    // The whole file: the committed numpy float64 reference and the model README's PyTorch figure.
    const ref = JSON.parse(readFileSync(join(ROOT, 'test', 'reference', 'model', 'perplexity.json'), 'utf8')).full.perplexity as number;
    for (const [name, v] of [['numpy reference', ref], ['model README', 283.9]] as const) {
      console.log(`perplexity vs ${name} ${v.toFixed(3)}: ${(100 * (ours.perplexity / v - 1)).toFixed(3)}% (must be within ±0.5%)`);
    }
  }
  console.log(`tensors left: ${tf.memory().numTensors}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
