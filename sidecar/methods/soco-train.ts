// SoCo's training loop over the resident model (soco.ts has the definitions and their sources).
import { setImmediate } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import type { Job } from '../compress/job';
import { seededRandom } from '../data/text';
import { throwIfAborted } from '../errors';
import type { Plan } from '../plan/plan';
import type { ResidentModel } from './soco-model';
import { withPlainMatMulGrad } from '../tensor/gradients';
import { decLoss, keptParams, sparsityLoss, type Costs } from './soco-losses';
import { Schedule, type Stage } from './soco-schedule';
import { selectComponents, type Selection } from './soco-select';
import { isPositive, isPositiveInt, readSettings } from './settings';

export interface SocoSettings {
  optimizer: 'adam' | 'sgd';
  learningRate: number;
  /** Calibration windows per step. */
  batchSize: number;
  coarseSteps: number;
  refineSteps: number;
  sparsifySteps: number;
  /** τ: a component counts as kept while its score is above it. */
  threshold: number;
  /** Multiplies L_dec's data-derived starting weight (see probeScale). */
  decWeight: number;
  /** L_dec's weight grows by this factor after every stage-1 step. */
  decGrowth: number;
  /** Sparsity term's weight relative to L_dec's final weight. */
  sparsityWeight: number;
}

const isNonNegativeInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isOptimizer = (v: unknown): v is SocoSettings['optimizer'] => v === 'adam' || v === 'sgd';
const isGrowth = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 1;
const isFraction = (v: unknown): v is number => typeof v === 'number' && v > 0 && v < 1;

export function socoSettings(plan: Plan): SocoSettings {
  return readSettings<SocoSettings>(plan, 'soco', {
    optimizer: { default: 'adam', check: isOptimizer, rule: '"adam" or "sgd"' },
    learningRate: { default: 0.05, check: isPositive, rule: 'a positive number' },
    batchSize: { default: 2, check: isPositiveInt, rule: 'a positive integer' },
    coarseSteps: { default: 60, check: isNonNegativeInt, rule: 'an integer ≥ 0' },
    refineSteps: { default: 60, check: isNonNegativeInt, rule: 'an integer ≥ 0' },
    sparsifySteps: { default: 30, check: isNonNegativeInt, rule: 'an integer ≥ 0' },
    threshold: { default: 0.05, check: isFraction, rule: 'a number in (0, 1)' },
    decWeight: { default: 1, check: isPositive, rule: 'a positive number' },
    decGrowth: { default: 1.1, check: isGrowth, rule: 'a number ≥ 1' },
    sparsityWeight: { default: 1, check: isPositive, rule: 'a positive number' },
  });
}

/** Windows per step: a fresh seeded permutation per epoch, cut into whole batches of distinct windows. */
export function windowBatches(windows: number, size: number, seed: number): () => number[] {
  const rand = seededRandom(seed);
  const b = Math.min(size, windows);
  let perm: number[] = [];
  let pos = 0;
  return () => {
    if (pos + b > perm.length) {
      perm = Array.from({ length: windows }, (_, i) => i);
      for (let i = windows - 1; i > 0; i--) {
        const k = Math.floor(rand() * (i + 1));
        [perm[i], perm[k]] = [perm[k], perm[i]];
      }
      pos = 0;
    }
    pos += b;
    return perm.slice(pos - b, pos);
  };
}

/** Every score below `shrink` of 1 shows L_inc's gradient; what it takes to move the median one. */
const PROBE_SHRINK = 0.1;

const readScores = (vars: tf.Variable[]) => vars.map((v) => Float32Array.from(v.dataSync()));

/**
 * L_dec's starting weight in KL per average component: the median over components of
 * |∂L_inc/∂s|·unit/(m+n) with every score at 1 − PROBE_SHRINK (at s = 1 the KL and its gradient are
 * 0). The median component then settles about PROBE_SHRINK below 1: compression starts gently and
 * the weight grows in stage 1 until the budget is met, whatever the model's loss scale.
 */
function probeScale(model: ResidentModel, vars: tf.Variable[], costs: Costs, windows: number[]): number {
  const fill = (x: number) => tf.tidy(() => vars.forEach((v) => v.assign(tf.fill(v.shape, x))));
  fill(1 - PROBE_SHRINK);
  const { value, grads } = withPlainMatMulGrad(() => tf.variableGrads(() => tf.div(model.klSum(windows), windows.length * model.seqLen) as tf.Scalar, vars));
  const per: number[] = [];
  vars.forEach((v, j) => {
    for (const g of grads[v.name].dataSync()) per.push((Math.abs(g) * costs.unit) / costs.perComponent[j]);
  });
  tf.dispose([value, ...Object.values(grads)]);
  fill(1);
  per.sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)];
}

export interface TrainResult {
  /** Final score per matrix (≥ 0). */
  scores: Float32Array[];
  /** The decisions fixed at the start of stage 3. */
  selection: Selection;
  /** Mean KL per position on the last step's batch. */
  lastInc: number;
}

export async function trainScores(model: ResidentModel, costs: Costs, totalDense: number, settings: SocoSettings, seed: number, job: Job): Promise<TrainResult> {
  const vars = model.matrices.map((m) => m.score);
  const shapes = model.matrices.map((m) => m.shape);
  const draw = windowBatches(model.windows, settings.batchSize, seed);
  const opt = settings.optimizer === 'adam' ? tf.train.adam(settings.learningRate) : tf.train.sgd(settings.learningRate);
  const removed = (params: number) => (1 - params / totalDense).toFixed(3);
  try {
    const lambda0 = settings.decWeight * probeScale(model, vars, costs, draw());
    const sched = new Schedule({ coarse: settings.coarseSteps, refine: settings.refineSteps, sparsify: settings.sparsifySteps }, lambda0, settings.decGrowth);
    job.log('info', `soco: ${vars.length} matrices, ${model.windows} windows, ${sched.total} steps; budget ${costs.budget} parameters ` +
      `(ratio ${removed(costs.budget)}), L_dec weight from ${lambda0.toExponential(3)}; until stage 3 the ratio counts every kept ` +
      'component as factorized, k(m+n), so it starts below 0');
    let scores = readScores(vars);
    let selection: Selection | undefined;
    let keep: Float32Array[] = [];
    let stage: Stage | 0 = 0;
    let lastInc = NaN;
    for (let t = 0; t < sched.total; t++) {
      throwIfAborted(job.signal);
      const hard = keptParams(scores, costs.perComponent, settings.threshold);
      if (sched.stageAt(t) !== stage) {
        stage = sched.stageAt(t);
        job.log('info', `soco: stage ${stage} at step ${t}, ratio ${removed(hard)}, L_dec weight ${sched.lambda.toExponential(3)}`);
      }
      if (stage === 3 && !selection) {
        selection = selectComponents(shapes.map((shape, j) => ({ shape, score: scores[j] })), costs.budget);
        keep = fixedMask(selection, scores);
        job.log('info', `soco: decisions fixed: ${selection.params} parameters (ratio ${removed(selection.params)}), ` +
          `${selection.dense.filter(Boolean).length} matrices dense`);
      }
      const dec = sched.decOn(t, hard > costs.budget);
      const win = draw();
      let inc = 0;
      const { value, grads } = withPlainMatMulGrad(() => tf.variableGrads(() => {
        const l = tf.div(model.klSum(win), win.length * model.seqLen) as tf.Scalar;
        inc = l.dataSync()[0];
        let loss = l;
        if (dec) loss = tf.add(loss, tf.mul(sched.lambda, decLoss(vars, costs, hard)));
        if (selection) loss = tf.add(loss, tf.mul(settings.sparsityWeight * sched.lambda, sparsityLoss(vars, keep, selection.dense, costs)));
        return loss;
      }, vars));
      opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      project(vars, selection?.dense);
      scores = readScores(vars);
      lastInc = inc;
      // Stage 3's count is the fixed selection's (dense matrices at their m·n).
      const after = selection?.params ?? keptParams(scores, costs.perComponent, settings.threshold);
      sched.after(t, after > costs.budget);
      job.progress('train', t + 1, sched.total, `stage ${stage}, loss ${loss.toFixed(4)}, L_inc ${inc.toFixed(4)}, ratio ${removed(after)} (target ${removed(costs.budget)})`);
      // Let the event loop serve progress and cancellation between steps.
      await setImmediate();
    }
    selection ??= selectComponents(shapes.map((shape, j) => ({ shape, score: scores[j] })), costs.budget);
    return { scores, selection, lastInc };
  } finally {
    opt.dispose();
  }
}

/** 1 for each kept component (all of a dense matrix). */
function fixedMask(sel: Selection, scores: Float32Array[]): Float32Array[] {
  return scores.map((s, j) => {
    const k = new Float32Array(s.length);
    for (const i of sel.kept[j]) k[i] = 1;
    return k;
  });
}

/** Scores stay ≥ 0 (so σ·s can be split as two square roots); a matrix kept dense returns to s = 1. */
function project(vars: tf.Variable[], frozen?: boolean[]): void {
  tf.tidy(() => vars.forEach((v, j) => v.assign(frozen?.[j] ? tf.onesLike(v) : tf.relu(v))));
}
