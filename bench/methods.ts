// The README's method comparison (issues #5, #6): compresses the reference model with svd, asvd,
// svd-llm and soco at 20/40/60% parameter reduction of the decoder projections; with layer removal
// at matching parameter counts ("removeLayers": "auto" at the same ratio: the fewest lowest-Block-
// Influence layers whose projections reach it); and with GRASP on exactly those layers (the same
// Block Influence and rule), replacing them by gradient-chosen singular directions instead of
// deleting them. Then evaluates each output and the dense model on the first windows of
// corpora/brown-valid.txt (256-token windows, METHODS.md protocol).
// Prints a Markdown table and writes bench/results/methods.json.
//   node out/bench/methods.js [--samples 16] [--update-samples 16] [--eval-windows 24] [--backend auto]
//     [--methods svd,asvd,svd-llm,soco,layer-removal,grasp]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend } from '../sidecar/tensor/backend';
import { validatePlan, type Method } from '../sidecar/plan/plan';
import { compress } from '../sidecar/compress/run';
import type { Job } from '../sidecar/compress/job';
import { evaluationIds } from '../sidecar/eval/evaluate';
import { perplexity } from '../sidecar/eval/perplexity';
import { StreamingModel } from '../sidecar/model/model';
import type { BackendChoice } from '../sidecar/rpc/protocol';

const ROOT = resolve(__dirname, '..', '..');
const MODEL = join(ROOT, 'models', 'rankwise-brown-14m');
const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const samples = arg('samples', 16);
const updateSamples = arg('update-samples', 16);
const evalWindows = arg('eval-windows', 24);
const backendIdx = process.argv.indexOf('--backend');
const backend = (backendIdx > 0 ? process.argv[backendIdx + 1] : 'auto') as BackendChoice;
const SEQ = 256;
const RATIOS = [0.2, 0.4, 0.6];
const ALL: Method[] = ['svd', 'asvd', 'svd-llm', 'soco', 'layer-removal', 'grasp'];
const methodsIdx = process.argv.indexOf('--methods');
const METHODS = methodsIdx > 0 ? process.argv[methodsIdx + 1].split(',') as Method[] : ALL;
const unknown = METHODS.filter((m) => !ALL.includes(m));
if (unknown.length) throw new Error(`--methods: unknown ${unknown.join(', ')} (known: ${ALL.join(', ')})`);

interface Row { method: Method; ratio: number; perplexity: number; parameters: number; removedLayers: number[]; replacedLayers: number[]; seconds: number }

const job: Job = {
  progress: () => {},
  log: (level, message) => { if (level !== 'debug') process.stderr.write(`  [${level}] ${message}\n`); },
};

async function evaluate(dir: string, ids: Int32Array): Promise<number> {
  const model = await StreamingModel.open(dir);
  try {
    return (await perplexity(model, ids, SEQ)).perplexity;
  } finally {
    await model.close();
  }
}

async function main() {
  const b = await initBackend(backend);
  const evalData = join(ROOT, 'corpora', 'brown-valid.txt');
  const ids = await evaluationIds(MODEL, { data: evalData, seqLen: SEQ, windows: evalWindows });
  const windows = Math.floor(ids.length / SEQ);
  console.log(`backend ${b.name}; calibration: ${samples} × ${SEQ} tokens of brown-train (seed 0), svd-llm update on ${Math.min(updateSamples, samples)} of them;` +
    ` evaluation: first ${windows} windows × ${SEQ} tokens of brown-valid (${windows * (SEQ - 1)} predictions)`);
  const work = mkdtempSync(join(tmpdir(), 'rw-bench-methods-'));
  const t0 = performance.now();
  const dense = await evaluate(MODEL, ids);
  const denseParams = (await StreamingModel.open(MODEL).then(async (m) => { const n = [...m.ckpt.tensors.values()].reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0); await m.close(); return n; }));
  console.log(`dense: perplexity ${dense.toFixed(2)}, ${denseParams} parameters (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  const rows: Row[] = [];
  try {
    for (const ratio of RATIOS) {
      for (const method of METHODS) {
        const t1 = performance.now();
        const output = join(work, `${method}-${ratio}`);
        const plan = validatePlan({
          model: MODEL, output, method, ratio, backend,
          ...(method === 'layer-removal' || method === 'grasp' ? { removeLayers: 'auto' } : {}),
          ...(method === 'svd-llm' ? { 'svd-llm': { update: true, updateSamples } } : {}),
          calibration: { data: join(ROOT, 'corpora', 'brown-train.txt'), samples, seqLen: SEQ, seed: 0 },
        }, ROOT);
        const outcome = await compress(plan, job);
        const ppl = await evaluate(output, ids);
        rmSync(output, { recursive: true, force: true });
        // GRASP keeps every layer: the ones it replaced are those with factored projections.
        const replacedLayers = method === 'grasp'
          ? [...new Set(outcome.report.matrices.filter((m) => m.rank !== null).map((m) => Number(/\.layers\.(\d+)\./.exec(m.name)?.[1])))].sort((a, b) => a - b)
          : [];
        const row = { method, ratio, perplexity: ppl, parameters: outcome.parameters_after, removedLayers: outcome.report.removedLayers, replacedLayers, seconds: (performance.now() - t1) / 1000 };
        rows.push(row);
        console.log(`${method} ${ratio}: perplexity ${ppl.toFixed(2)}, ${row.parameters} parameters` +
          (row.removedLayers.length ? `, removed layers ${row.removedLayers.join(',')}` : '') +
          (row.replacedLayers.length ? `, replaced layers ${row.replacedLayers.join(',')}` : '') + ` (${row.seconds.toFixed(0)} s)`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const cell = (r: Row) => `${r.perplexity < 1e4 ? r.perplexity.toFixed(2) : r.perplexity.toExponential(2)} (${(r.parameters / 1e6).toFixed(2)} M)`;
  const lines = [
    `| reduction | ${METHODS.join(' | ')} |`,
    `| --- | ${METHODS.map(() => '---').join(' | ')} |`,
    `| 0% (dense) | ${METHODS.map(() => `${dense.toFixed(2)} (${(denseParams / 1e6).toFixed(2)} M)`).join(' | ')} |`,
    ...RATIOS.map((ratio) => `| ${ratio * 100}% | ${METHODS.map((m) => {
      const r = rows.find((x) => x.method === m && x.ratio === ratio)!;
      if (m === 'layer-removal') return `${cell(r)}, ${r.removedLayers.length} layers removed`;
      return m === 'grasp' ? `${cell(r)}, ${r.replacedLayers.length} layers replaced` : cell(r);
    }).join(' | ')} |`),
  ];
  console.log(`\nPerplexity on brown-valid (${windows} × ${SEQ}-token windows; parameters of the whole model in parentheses)\n`);
  console.log(lines.join('\n'));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'methods.json'), JSON.stringify({
    backend: b.name, calibration: { samples, seqLen: SEQ, updateSamples, seed: 0 }, evaluation: { windows, seqLen: SEQ },
    dense: { perplexity: dense, parameters: denseParams }, rows, seconds: (performance.now() - t0) / 1000,
  }, null, 2) + '\n');
  console.log(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
