// Issue #9's scaling run: SVD-LLM at 20% (whitening on 16 × 256 tokens, update on the same 16) on
// generated Llama checkpoints (test/fixtures/checkpoints.ts, GQA 8/4 heads, F32, the reference
// model's 32k tokenizer) of 4, 8, 16 and 32 layers at two widths, each compression in a fresh
// process so its peak RSS is its own. Prints time and peak RSS against depth, and next to each the
// issue's bound 1.5 × (largest layer + calibration activations).
//   node out/bench/scaling.js [--layers 4,8,16,32] [--widths 256,512]
// Peak is counted above the process's resident size just before compress() (Node, tfjs and the
// tokenizer are there whatever the model), so "above start" is what the run itself holds. Nothing
// the run holds grows with depth: the writer streams each tensor to disk as it is added, and
// SVD-LLM reads only its windows' rows of the embedding and never reads the head (both are copied
// to the output in chunks). "At the peak" splits
// the whole resident size (start included) by what holds it (bench/rss-parts.ts).
import { execFileSync } from 'node:child_process';
import { engineEnv } from '../sidecar/engine-env';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend } from '../sidecar/tensor/backend';
import { prepareLinalg } from '../sidecar/linalg';
import { validatePlan } from '../sidecar/plan/plan';
import { compress } from '../sidecar/compress/run';
import { silentJob } from '../sidecar/compress/job';
import { CALIBRATION_BATCH, calibrationIds } from '../sidecar/methods/calibration';
import { makeCheckpoint } from '../test/fixtures/checkpoints';
import { peakRssMiB, resetPeakRss, rssMiB } from './rss';
import { samplePeakParts, type RssParts } from './rss-parts';

const ROOT = resolve(__dirname.replace(/[\\/]out[\\/].*$/, ''));
const REFERENCE = join(ROOT, 'models', 'rankwise-brown-14m');
const SAMPLES = 16;
const SEQ = 256;
const VOCAB = 32000;
const MiB = 2 ** 20;
const list = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return (i > 0 ? process.argv[i + 1] : d).split(',').map(Number);
};

interface Shape { layers: number; hidden: number; heads: number; kvHeads: number; intermediate: number }
interface Run { seconds: number; startMiB: number; peakMiB: number; bytesAfter: number; parts: RssParts }

const shapeOf = (layers: number, hidden: number): Shape => ({ layers, hidden, heads: 8, kvHeads: 4, intermediate: Math.round((hidden * 688) / 256) });

/** The issue's bound, in bytes, with what it is made of. */
function bound(s: Shape) {
  const hd = s.hidden / s.heads;
  // One decoder layer as the engine holds it (float32): q, k, v, o, gate, up, down and two norms.
  const layer = 4 * (2 * s.hidden * s.hidden + 2 * s.kvHeads * hd * s.hidden + 3 * s.hidden * s.intermediate + 2 * s.hidden);
  // The calibration batch: hidden states of both paths (whitening and update windows), plus one
  // forward batch's largest intermediates (attention scores and probabilities, gate/up/activation).
  const states = 2 * SAMPLES * SEQ * s.hidden * 4;
  const batch = 4 * CALIBRATION_BATCH * (2 * s.heads * SEQ * SEQ + 3 * SEQ * s.intermediate);
  return { layer, activations: states + batch, bound: 1.5 * (layer + states + batch) };
}

async function child(dir: string, calibration: string, output: string): Promise<Run> {
  await initBackend('auto');
  // As compress() does, but before the clock (it starts after tokenizing, which the pool overlaps).
  prepareLinalg();
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const plan = validatePlan({
    model: dir, output, method: 'svd-llm', ratio: 0.2, 'svd-llm': { update: true, updateSamples: SAMPLES },
    calibration: { data: calibration, samples: SAMPLES, seqLen: SEQ, seed: 0 },
  }, dir);
  await calibrationIds(dir, { data: calibration, samples: SAMPLES, seqLen: SEQ, seed: 0 }, config.max_position_embeddings);
  (globalThis as { gc?: () => void }).gc?.();
  const startMiB = rssMiB();
  resetPeakRss();
  const sampler = samplePeakParts();
  const outcome = await compress(plan, silentJob);
  return { seconds: outcome.seconds, startMiB, peakMiB: peakRssMiB(), bytesAfter: outcome.bytes_after, parts: await sampler.stop() };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'rw-bench-scaling-'));
  try {
    // A slice of brown-train big enough to sample 16 windows from: tokenizing all 5 MB per run would
    // cost each child 12 s before its clock starts.
    const calibration = join(work, 'calibration.txt');
    writeFileSync(calibration, readFileSync(join(ROOT, 'corpora', 'brown-train.txt'), 'utf8').slice(0, 400_000));
    console.log(`svd-llm at 20%, whitening and update on ${SAMPLES} × ${SEQ} tokens; generated Llama checkpoints (F32, 8 heads / 4 kv heads, vocab ${VOCAB}); one process per run`);
    console.log(`${'layers'.padStart(6)} ${'hidden'.padStart(6)} ${'params M'.padStart(9)} ${'output MiB'.padStart(11)} ${'seconds'.padStart(8)} ${'s/layer'.padStart(8)}` +
      ` ${'start MiB'.padStart(10)} ${'peak MiB'.padStart(9)} ${'above start'.padStart(12)} ${'bound MiB'.padStart(10)} ${'(layer + act.)'.padStart(15)}` +
      `  at the peak: ${'malloc'.padStart(6)} ${'wasm'.padStart(5)} ${'V8'.padStart(4)} ${'files'.padStart(5)}`);
    for (const hidden of list('widths', '256,512')) {
      for (const layers of list('layers', '4,8,16,32')) {
        const s = shapeOf(layers, hidden);
        const dir = join(work, `llama-${layers}x${hidden}`);
        const fixture = await makeCheckpoint(dir, { family: 'llama', ...s, vocab: VOCAB, context: 512, seed: layers * 1000 + hidden });
        for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(REFERENCE, f), join(dir, f));
        const params = [...fixture.tensors.values()].reduce((a, t) => a + t.data.length, 0);
        fixture.tensors.clear();
        // Started as the sidecar client and the CLI start the engine (one malloc arena).
        const out = execFileSync(process.execPath, ['--expose-gc', __filename, '--child', dir, calibration, join(work, `out-${layers}x${hidden}`)],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24, env: engineEnv() });
        const r: Run = JSON.parse(out.trim().split('\n').pop()!);
        const b = bound(s);
        console.log(`${String(layers).padStart(6)} ${String(hidden).padStart(6)} ${(params / 1e6).toFixed(1).padStart(9)} ${(r.bytesAfter / MiB).toFixed(0).padStart(11)}` +
          ` ${r.seconds.toFixed(1).padStart(8)} ${(r.seconds / layers).toFixed(2).padStart(8)} ${r.startMiB.toFixed(0).padStart(10)} ${r.peakMiB.toFixed(0).padStart(9)}` +
          ` ${(r.peakMiB - r.startMiB).toFixed(0).padStart(12)} ${(b.bound / MiB).toFixed(0).padStart(10)} ${`${(b.layer / MiB).toFixed(1)} + ${(b.activations / MiB).toFixed(1)}`.padStart(15)}` +
          `  ${''.padStart(13)}${r.parts.mallocMiB.toFixed(0).padStart(6)} ${r.parts.wasmMiB.toFixed(0).padStart(5)} ${r.parts.v8MiB.toFixed(0).padStart(4)} ${r.parts.filesMiB.toFixed(0).padStart(5)}`);
        rmSync(dir, { recursive: true, force: true });
        rmSync(join(work, `out-${layers}x${hidden}`), { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf('--child');
(childAt > 0 ? child(process.argv[childAt + 1], process.argv[childAt + 2], process.argv[childAt + 3]).then((r) => console.log(JSON.stringify(r))) : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
