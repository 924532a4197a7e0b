// SoCo (sidecar/methods/soco*.ts): the loss terms and the selection on hand-checkable cases, and the
// method through the real pipeline on a small GQA llama, checked from the written checkpoint against
// quantities computed here from the ORIGINAL model (parameter count, kept directions, the learned
// scores folded into the factors, and the KL to the original against plain SVD's).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { resolveArch } from '../../../sidecar/arch/table';
import { StreamingModel } from '../../../sidecar/model/model';
import { validatePlan, type Plan } from '../../../sidecar/plan/plan';
import { decideRanks, rankForRatio } from '../../../sidecar/plan/ranks';
import { compress } from '../../../sidecar/compress/run';
import { silentJob } from '../../../sidecar/compress/job';
import { isCancel } from '../../../sidecar/errors';
import { getLinalg } from '../../../sidecar/linalg';
import { calibrationWindows } from '../../../sidecar/methods/calibration';
import { SocoMethod } from '../../../sidecar/methods/soco';
import { decLoss, keptParams, klSum, softKeptParams, sparsityLoss, teacherTerms, type Costs } from '../../../sidecar/methods/soco-losses';
import { withPlainMatMulGrad } from '../../../sidecar/tensor/gradients';
import { Schedule } from '../../../sidecar/methods/soco-schedule';
import { selectComponents } from '../../../sidecar/methods/soco-select';
import { socoSettings, windowBatches } from '../../../sidecar/methods/soco-train';
import type { Factorization } from '../../../sidecar/methods/types';
import { hashTree, ROOT } from '../../helpers/paths';
import { mat, mul, tinyModel, type Mat } from './helpers';

before(async () => { await initBackend('wasm'); });

const T = 32;
const RATIO = 0.4;
// Short stages for a test (the defaults are sized for a real model); lr 0.1 lets stage 1 reach the
// budget within its 20 steps.
const SOCO = { learningRate: 0.1, batchSize: 2, coarseSteps: 20, refineSteps: 15, sparsifySteps: 10 };

type Tiny = Awaited<ReturnType<typeof tinyModel>>;

function socoPlan(m: Tiny, tag: string, extra: Record<string, unknown> = {}): Plan {
  return validatePlan({
    model: m.dir, output: join(m.root, tag), method: 'soco', ratio: RATIO,
    calibration: { data: m.text, samples: 8, seqLen: T, seed: 3 }, soco: SOCO, ...extra,
  }, m.root);
}

// ---- hand-checkable pieces -------------------------------------------------------------------

/** KL(softmax(a) ‖ softmax(b)) per row, float64. */
function klRows(za: number[][], zb: number[][]): number[] {
  const logSoftmax = (z: number[]) => {
    const mx = Math.max(...z);
    const l = Math.log(z.reduce((s, v) => s + Math.exp(v - mx), 0)) + mx;
    return z.map((v) => v - l);
  };
  return za.map((r, i) => {
    const la = logSoftmax(r);
    const lb = logSoftmax(zb[i]);
    return la.reduce((s, v, k) => s + Math.exp(v) * (v - lb[k]), 0);
  });
}

const dot = (x: number[], head: number[][]) => head[0].map((_, v) => x.reduce((s, xi, h) => s + xi * head[h][v], 0));

test('L_inc: KL(teacher ‖ student) from the teacher terms equals the direct KL, 0 for an equal student, chunk-invariant', () => {
  const head = [[0.5, -1, 2, 0.3], [1.5, 0.2, -0.7, 1]]; // hidden 2, vocab 4
  const xt = [[1, 0.5], [-0.3, 2], [0.8, -1]];
  const xs = [[0.7, 0.9], [-0.3, 1.5], [1.2, -0.4]];
  const H = tf.tensor2d(head);
  const teacher = teacherTerms(tf.tensor2d(xt), H, 2);
  const expected = klRows(xt.map((x) => dot(x, head)), xs.map((x) => dot(x, head))).reduce((a, b) => a + b, 0);
  assert.ok(expected > 0.1, 'the case is not trivial');
  for (const chunk of [1, 2, 3]) {
    const got = klSum(tf.tensor2d(xs), H, teacher, chunk).dataSync()[0];
    assert.ok(Math.abs(got - expected) < 1e-5, `chunk ${chunk}: ${got} vs ${expected}`);
    assert.ok(Math.abs(klSum(tf.tensor2d(xt), H, teacher, chunk).dataSync()[0]) < 1e-6, 'equal student');
  }
  // Gradient in x_s: (softmax(x_s·head) − softmax(x_t·head))·headᵀ, through the custom logsumexp.
  const g = withPlainMatMulGrad(() => tf.grad((x: tf.Tensor) => klSum(x as tf.Tensor2D, H, teacher, 2))(tf.tensor2d(xs))).arraySync() as number[][];
  const softmax = (z: number[]) => {
    const e = z.map((v) => Math.exp(v - Math.max(...z)));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  xs.forEach((x, i) => {
    const ps = softmax(dot(x, head));
    const pt = softmax(dot(xt[i], head));
    head.forEach((row, h) => {
      const want = row.reduce((s, w, v) => s + w * (ps[v] - pt[v]), 0);
      assert.ok(Math.abs(g[i][h] - want) < 1e-5, `∂/∂x[${i}][${h}]: ${g[i][h]} vs ${want}`);
    });
  });
});

test('L_dec: hard count of scores above τ, soft count equal to it when polarised, straight-through gradient', () => {
  const costs: Costs = { perComponent: [3, 5], budget: 8, unit: 4 };
  const s = [tf.tensor1d([0, 0.5, 1.2]), tf.tensor1d([0.03, 1])];
  const hard = keptParams(s.map((v) => v.dataSync()), costs.perComponent, 0.05);
  assert.equal(hard, 3 * 2 + 5 * 1);
  assert.ok(Math.abs(softKeptParams(s, costs.perComponent).dataSync()[0] - (3 * 1.5 + 5 * 1.03)) < 1e-5);
  const polar = [tf.tensor1d([0, 1, 1.7]), tf.tensor1d([0, 1])];
  assert.equal(softKeptParams(polar, costs.perComponent).dataSync()[0], keptParams(polar.map((v) => v.dataSync()), costs.perComponent, 0.05));
  const [a, b] = s;
  const f = (x: tf.Tensor, y: tf.Tensor) => decLoss([x as tf.Tensor1D, y as tf.Tensor1D], costs, hard);
  assert.ok(Math.abs(f(a, b).dataSync()[0] - (11 - 8) / 4) < 1e-6, 'value: the excess in average components');
  const [ga, gb] = tf.grads(f)([a, b]);
  assert.deepEqual(Array.from(ga.dataSync()), [0.75, 0.75, 0], 'pull ∝ m+n on scores in [0, 1], none above 1');
  assert.deepEqual(Array.from(gb.dataSync()), [1.25, 1.25]);
  assert.equal(decLoss([a, b] as tf.Tensor1D[], { ...costs, budget: 11 }, hard).dataSync()[0], 0, 'off at the budget');
});

test('sparsity term: pruned scores pulled to 0, kept ones up to 1, frozen matrices left out', () => {
  const costs: Costs = { perComponent: [2, 7], budget: 0, unit: 1 };
  const s = [tf.variable(tf.tensor1d([0.5, 2, 0.3])), tf.variable(tf.tensor1d([0.4, 0.1]))];
  const keep = [Float32Array.from([0, 1, 1]), Float32Array.from([1, 0])];
  const { value, grads } = tf.variableGrads(() => sparsityLoss(s, keep, [false, true], costs), s);
  assert.ok(Math.abs(value.dataSync()[0] - 2 * (0.5 + 0 + 0.7)) < 1e-6);
  assert.deepEqual(Array.from(grads[s[0].name].dataSync()), [2, 0, -2]);
  assert.equal(grads[s[1].name], undefined, 'a frozen matrix gets no gradient');
  s.forEach((v) => v.dispose());
});

test('selection: by score under the exact budget, best component first, dense once k(m+n) ≥ m·n', () => {
  // A 8×8 (16 a component, dense at 4), B 4×12 (16 a component, dense at 3).
  const mats = [
    { shape: [8, 8] as [number, number], score: [0.9, 0.1, 0.8, 0.7, 0, 0, 0, 0] },
    { shape: [4, 12] as [number, number], score: [0.2, 0.95, 0.3, 0.05] },
  ];
  assert.deepEqual(selectComponents(mats, 64), { kept: [[0, 2, 3], [1]], dense: [false, false], params: 64 });
  // 80: B's 0.3 fits; then neither B's 0.2 nor A's 0.1 (16 more each).
  assert.deepEqual(selectComponents(mats, 80), { kept: [[0, 2, 3], [1, 2]], dense: [false, false], params: 80 });
  // 100: B's third component makes it dense (48 = m·n, all components); A's next would exceed.
  assert.deepEqual(selectComponents(mats, 100), { kept: [[0, 2, 3], [0, 1, 2, 3]], dense: [false, true], params: 96 });
  // Ties go to the larger σ (smaller index); every matrix keeps one even with all-zero scores.
  assert.deepEqual(selectComponents([{ shape: [8, 8], score: [0, 0.5, 0.5, 0.5] }, { shape: [8, 8], score: [0, 0, 0, 0] }], 48).kept, [[1, 2], [0]]);
});

test('schedule: stage 1 until the budget is reached (λ growing), its rest to stage 2, L_dec only over budget', () => {
  const s = new Schedule({ coarse: 3, refine: 2, sparsify: 2 }, 1, 2);
  assert.equal(s.total, 7);
  assert.equal(s.stageAt(0), 1);
  s.after(0, true);
  assert.equal(s.lambda, 2);
  s.after(1, false);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((t) => s.stageAt(t)), [2, 2, 2, 2, 3, 3]);
  s.after(2, true);
  assert.equal(s.lambda, 2, 'λ stays after stage 1');
  assert.deepEqual([s.decOn(2, true), s.decOn(2, false), s.decOn(5, true)], [true, false, false]);
  const never = new Schedule({ coarse: 2, refine: 1, sparsify: 1 }, 1, 1.5);
  never.after(0, true);
  never.after(1, true);
  assert.deepEqual([0, 1, 2, 3].map((t) => never.stageAt(t)), [1, 1, 2, 3]);
  assert.equal(never.lambda, 2.25);
});

test('settings and batches: defaults, errors naming the field, seeded batches of distinct windows', async () => {
  const m = await tinyModel();
  const d = socoSettings(socoPlan(m, 'x', { soco: undefined }));
  // The plan schema documents every setting with the default the code uses.
  const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'plan.schema.json'), 'utf8')) as { properties: { soco: { properties: Record<string, { default: unknown }> } } };
  const props = schema.properties.soco.properties;
  assert.deepEqual(Object.keys(props).sort(), Object.keys(d).sort());
  for (const [k, v] of Object.entries(d)) assert.equal(props[k].default, v, `schema default of soco.${k}`);
  assert.throws(() => socoSettings(socoPlan(m, 'x', { soco: { steps: 3 } })), /unknown field "soco.steps"/);
  assert.throws(() => socoSettings(socoPlan(m, 'x', { soco: { optimizer: 'rmsprop' } })), /"soco.optimizer" must be "adam" or "sgd"/);
  assert.throws(() => socoSettings(socoPlan(m, 'x', { soco: { threshold: 1 } })), /"soco.threshold"/);
  const a = windowBatches(6, 2, 7);
  const b = windowBatches(6, 2, 7);
  const epoch = [a(), a(), a()];
  assert.deepEqual(epoch, [b(), b(), b()]);
  assert.deepEqual(epoch.flat().sort(), [0, 1, 2, 3, 4, 5]);
  assert.notDeepEqual(epoch.flat(), [0, 1, 2, 3, 4, 5], 'shuffled');
});

// ---- the method on a model -------------------------------------------------------------------

/** Summed KL(original ‖ other) over every position of the windows, and the position count. */
async function klToOriginal(original: string, other: string, ids: Int32Array): Promise<number> {
  const a = await StreamingModel.open(original);
  const b = await StreamingModel.open(other);
  let sum = 0;
  try {
    for (let w = 0; w < ids.length / T; w++) {
      const win = ids.subarray(w * T, (w + 1) * T);
      const la = await a.logits(await a.forward(await a.embed(win, 1, T)));
      const lb = await b.logits(await b.forward(await b.embed(win, 1, T)));
      const k = tf.tidy(() => {
        const pa = tf.logSoftmax(la);
        return tf.sum(tf.mul(tf.exp(pa), tf.sub(pa, tf.logSoftmax(lb))), -1);
      });
      for (const v of k.dataSync()) sum += v;
      tf.dispose([la, lb, k]);
    }
  } finally {
    await a.close();
    await b.close();
  }
  return sum;
}

/** Runs the method outside the pipeline, as compress() does, to read back its learned scores. */
async function direct(m: Tiny, tag: string): Promise<{ method: SocoMethod; factors: Factorization[]; leaked: number }> {
  const plan = socoPlan(m, tag);
  const ckpt = await openCheckpoint(plan.model);
  const arch = resolveArch(ckpt.config, ckpt.tensors.keys());
  const mats = [...Array(arch.dims.layers).keys()].flatMap((i) => arch.projections(i).map(({ name }) => ({ name, shape: ckpt.tensors.get(`${name}.weight`)!.shape as [number, number] })));
  const ranks = new Map(decideRanks(plan, mats).map((d) => [d.name, d]));
  const method = new SocoMethod();
  const factors: Factorization[] = [];
  const tensors = tf.memory().numTensors;
  try {
    await method.prepare({ plan, ckpt, arch, ranks, job: silentJob });
    for (let i = 0; i < arch.dims.layers; i++) factors.push(...await method.layer({ plan, ckpt, arch, ranks, job: silentJob }, i));
  } finally {
    method.dispose();
    await ckpt.close();
  }
  return { method, factors, leaked: tf.memory().numTensors - tensors };
}

let shared: Promise<{ m: Tiny; soco: Plan; svd: Plan; direct: Awaited<ReturnType<typeof direct>> }> | undefined;

/** One SoCo compression, the same run driven directly, and plain SVD at the same ratio. */
function runs() {
  shared ??= (async () => {
    const m = await tinyModel();
    const soco = socoPlan(m, 'soco');
    await compress(soco, silentJob);
    const svd = socoPlan(m, 'svd', { method: 'svd' });
    await compress(svd, silentJob);
    return { m, soco, svd, direct: await direct(m, 'direct') };
  })();
  return shared;
}

test('soco: written parameters meet the ratio, ranks and kept directions as the scores decide', async () => {
  const { m, soco, svd } = await runs();
  const src = await openCheckpoint(m.dir);
  const out = await openCheckpoint(soco.output);
  const plain = await openCheckpoint(svd.output);
  try {
    const arch = resolveArch(src.config, src.tensors.keys());
    let dense = 0;
    let after = 0;
    let svdAfter = 0;
    let oneEach = 0;
    const ranks: number[] = [];
    const written = (ck: typeof out, name: string) => {
      const u = ck.tensors.get(`${name}.u.weight`);
      const v = ck.tensors.get(`${name}.v.weight`);
      if (u && v) return { params: u.shape[0] * u.shape[1] + v.shape[0] * v.shape[1], rank: u.shape[1] };
      const w = ck.tensors.get(`${name}.weight`)!;
      return { params: w.shape[0] * w.shape[1], rank: undefined };
    };
    for (let i = 0; i < 3; i++) {
      for (const { name } of arch.projections(i)) {
        const [rows, cols] = src.tensors.get(`${name}.weight`)!.shape;
        dense += rows * cols;
        oneEach += rows + cols;
        const w = written(out, name);
        after += w.params;
        svdAfter += written(plain, name).params;
        if (w.rank !== undefined) {
          ranks.push(w.rank);
          assert.deepEqual(out.tensors.get(`${name}.v.weight`)!.shape, [w.rank, cols]);
        }
      }
    }
    const target = (1 - RATIO) * dense;
    assert.ok(after <= svdAfter && svdAfter <= target, `no more than plain SVD's ${svdAfter} (target ${target}): ${after}`);
    assert.ok(after >= target - oneEach, `within one component per matrix of ${target}: ${after}`);
    // The scores, not the plan's per-matrix rank, decide: ranks differ from it and among themselves.
    const matrices = (JSON.parse(readFileSync(join(soco.output, 'rankwise-report.json'), 'utf8')) as { matrices: { name: string; shape: [number, number]; rank: number | null; kept?: number[] }[] }).matrices;
    const factored = matrices.filter((x) => x.rank !== null);
    assert.ok(factored.some((x) => x.rank !== rankForRatio(x.shape[0], x.shape[1], RATIO)), 'some rank differs from the ratio rule');
    assert.ok(new Set(ranks).size > 2, `ranks ${ranks}`);
    const gaps = factored.filter((x) => x.kept);
    assert.ok(gaps.length > 0, 'some matrix keeps non-contiguous directions');
    for (const x of gaps) {
      assert.equal(x.kept!.length, x.rank);
      assert.ok(x.kept!.every((k, j) => j === 0 || k > x.kept![j - 1]), 'ascending');
      assert.ok(x.kept!.some((k, j) => k !== j), 'not the top-r prefix');
    }
  } finally {
    await src.close();
    await out.close();
    await plain.close();
  }
});

test('soco: W_u W_v = U_K diag(σ_K s_K) V_Kᵀ for the learned s; the pipeline wrote exactly these factors', async () => {
  const { m, soco, direct: d } = await runs();
  const src = await openCheckpoint(m.dir);
  const out = await openCheckpoint(soco.output);
  try {
    assert.equal(d.leaked, 0, 'every tensor and variable released');
    const byName = new Map(d.factors.map((f) => [f.name, f]));
    assert.equal(d.method.learned.length, 21);
    let checked = 0;
    for (const l of d.method.learned) {
      const f = byName.get(l.name);
      assert.equal(f === undefined, l.dense, `${l.name}: factors iff not dense`);
      assert.ok(l.s.every((v) => v >= 0), 'scores ≥ 0');
      if (!f) {
        assert.ok(l.kept.length * (l.shape[0] + l.shape[1]) >= l.shape[0] * l.shape[1]);
        continue;
      }
      assert.deepEqual(f.kept, l.kept);
      assert.equal(f.rank, l.kept.length);
      // Determinism: the pipeline's run (same plan, separate process state) wrote the same bytes.
      assert.deepEqual(await out.read(`${l.name}.u.weight`), f.u, `${l.name} W_u`);
      assert.deepEqual(await out.read(`${l.name}.v.weight`), f.v, `${l.name} W_v`);
      const [rows, cols] = l.shape;
      const svd = await getLinalg().svd(mat(rows, cols, await src.read(`${l.name}.weight`)));
      assert.deepEqual(Array.from(svd.s), Array.from(l.sigma));
      const q = svd.s.length;
      const expected = mat(rows, cols, new Float64Array(rows * cols));
      for (const k of l.kept) {
        const c = svd.s[k] * l.s[k];
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) expected.data[i * cols + j] += svd.u!.data[i * q + k] * c * svd.v!.data[j * q + k];
      }
      const got = mul(mat(rows, f.rank, f.u), mat(f.rank, cols, f.v));
      assert.ok(relErr(got, expected) < 1e-5, `${l.name}: ${relErr(got, expected)}`);
      // The learned scale is not the identity: some kept score moved away from 1.
      if (l.kept.some((k) => Math.abs(l.s[k] - 1) > 0.05)) checked++;
    }
    assert.ok(checked > 0, 'scores were learned');
  } finally {
    await src.close();
    await out.close();
  }
});

function relErr(a: Mat, b: Mat): number {
  let e = 0;
  let n = 0;
  a.data.forEach((v, i) => { e += (v - b.data[i]) ** 2; n += b.data[i] ** 2; });
  return Math.sqrt(e / n);
}

test('soco: on the calibration windows the compressed model is closer (KL) to the original than plain SVD at the same ratio', async (t) => {
  const { m, soco, svd } = await runs();
  const ids = await calibrationWindows(soco, 128);
  const k = { soco: await klToOriginal(m.dir, soco.output, ids), svd: await klToOriginal(m.dir, svd.output, ids) };
  const positions = ids.length;
  t.diagnostic(`mean KL per position: soco ${(k.soco / positions).toFixed(4)}, plain SVD ${(k.svd / positions).toFixed(4)}`);
  assert.ok(k.soco < k.svd, `soco ${k.soco} vs svd ${k.svd}`);
});

test('soco: cancelled during training, nothing is written and no tensor is left', async () => {
  const m = await tinyModel();
  const ac = new AbortController();
  const tensors = tf.memory().numTensors;
  const input = hashTree(m.dir);
  const plan = socoPlan(m, 'cancelled');
  let steps = 0;
  const job = {
    signal: ac.signal,
    log: () => {},
    progress: (phase: string) => { if (phase === 'train' && ++steps === 3) ac.abort(); },
  };
  await assert.rejects(compress(plan, job), (e) => isCancel(e));
  assert.equal(steps, 3, 'stopped at the next step');
  assert.ok(!existsSync(plan.output));
  assert.deepEqual(readdirSync(m.root).sort(), ['calib.txt', 'model']);
  assert.equal(tf.memory().numTensors, tensors);
  assert.deepEqual(hashTree(m.dir), input, 'the input folder is untouched');
});
