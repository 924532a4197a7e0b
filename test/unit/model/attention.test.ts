// Attention as per-(window, kv head) 2-D products and as the host kernel (attention-host.ts) against
// a direct float64 computation, and its gradients against tfjs's batched formulation, on the shapes
// where splitting is delicate: one window, one kv head (MQA), GQA groups, plain multi-head; for the
// kernel also lengths that are not a multiple of its blocks of four rows, and no rope (GPT-2), and a
// batch whose windows it shares with its helper thread (kernel-helper.ts).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { initBackend } from '../../../sidecar/tensor/backend';
import { causalAttention, tfjsCausalAttention, type AttentionShape } from '../../../sidecar/model/attention';
import { hostAttentionApplies, hostCausalAttention, ownMemoryBytes } from '../../../sidecar/model/attention-host';
import { helperWindows } from '../../../sidecar/model/kernel-helper';
import { applyRope, ropeTables } from '../../../sidecar/model/rope';
import { prng } from '../../fixtures/checkpoints';

before(async () => { await initBackend('wasm'); });

const SHAPES: AttentionShape[] = [
  { batch: 1, seqLen: 7, heads: 2, kvHeads: 1, headDim: 4 },
  { batch: 3, seqLen: 5, heads: 4, kvHeads: 2, headDim: 6 },
  { batch: 2, seqLen: 6, heads: 3, kvHeads: 3, headDim: 4 },
  { batch: 2, seqLen: 13, heads: 4, kvHeads: 2, headDim: 8 },
  { batch: 3, seqLen: 37, heads: 2, kvHeads: 1, headDim: 16 },
  { batch: 1, seqLen: 8, heads: 3, kvHeads: 3, headDim: 8 },
  { batch: 8, seqLen: 16, heads: 4, kvHeads: 2, headDim: 8 },
];

function random(rows: number, cols: number, rand: () => number): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from({ length: rows * cols }, () => rand() * 2 - 1), [rows, cols]);
}

/** softmax(q kᵀ/√hd + causal mask) v per window and head, in float64, rotate-half rope applied first
 *  when its tables are given. */
function direct(q: Float32Array, k: Float32Array, v: Float32Array, s: AttentionShape, cos?: Float32Array, sin?: Float32Array): Float64Array {
  const { batch: B, seqLen: T, heads, kvHeads, headDim: hd } = s;
  const out = new Float64Array(B * T * heads * hd);
  const rope = (x: Float32Array, width: number, row: number, col0: number) => {
    const h = hd / 2;
    const t = row % T;
    return Array.from({ length: hd }, (_, j) => {
      if (!cos || !sin) return x[row * width + col0 + j];
      const rot = j < h ? -x[row * width + col0 + j + h] : x[row * width + col0 + j - h];
      return x[row * width + col0 + j] * cos[t * hd + j] + rot * sin[t * hd + j];
    });
  };
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      for (let t = 0; t < T; t++) {
        const qi = rope(q, heads * hd, b * T + t, h * hd);
        const scores = Array.from({ length: t + 1 }, (_, u) => {
          const kj = rope(k, kvHeads * hd, b * T + u, g * hd);
          return qi.reduce((a, x, j) => a + x * kj[j], 0) / Math.sqrt(hd);
        });
        const max = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - max));
        const z = e.reduce((a, x) => a + x, 0);
        for (let j = 0; j < hd; j++) {
          let acc = 0;
          for (let u = 0; u <= t; u++) acc += (e[u] / z) * v[(b * T + u) * kvHeads * hd + g * hd + j];
          out[(b * T + t) * heads * hd + h * hd + j] = acc;
        }
      }
    }
  }
  return out;
}

/** The batched formulation (one rank-4 matMul per product) that causalAttention replaced. */
function batched(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, s: AttentionShape, rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D }): tf.Tensor2D {
  if (!rope) throw new Error('batched: the gradient check runs with rope');
  const { batch: B, seqLen: T, heads, kvHeads, headDim: hd } = s;
  const group = heads / kvHeads;
  const split = (x: tf.Tensor2D, h: number) => tf.transpose(tf.reshape(x, [B, T, h, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
  const qh = applyRope(split(q, heads), rope.cos, rope.sin);
  const kh = applyRope(split(k, kvHeads), rope.cos, rope.sin);
  const scores = tf.reshape(tf.matMul(tf.reshape(qh, [B, kvHeads, group * T, hd]), tf.transpose(kh, [0, 1, 3, 2])), [B, heads, T, T]);
  const mask = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9);
  const probs = tf.softmax(tf.add(tf.mul(scores, 1 / Math.sqrt(hd)), mask), -1);
  const out = tf.reshape(tf.matMul(tf.reshape(probs, [B, kvHeads, group * T, T]), split(v, kvHeads)), [B, heads, T, hd]);
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B * T, heads * hd]) as tf.Tensor2D;
}

type Rope = { cos: tf.Tensor2D; sin: tf.Tensor2D };
type Attention = (q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, s: AttentionShape, rope?: Rope) => tf.Tensor2D;

/** f's output against the direct computation, entry by entry to 1e-5. */
function assertDirect(f: Attention, q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, s: AttentionShape, rope: Rope | undefined, label: string): void {
  const got = f(q, k, v, s, rope);
  const want = direct(q.dataSync() as Float32Array, k.dataSync() as Float32Array, v.dataSync() as Float32Array, s,
    rope?.cos.dataSync() as Float32Array | undefined, rope?.sin.dataSync() as Float32Array | undefined);
  assert.deepEqual(got.shape, [s.batch * s.seqLen, s.heads * s.headDim]);
  got.dataSync().forEach((x, i) => assert.ok(Math.abs(x - want[i]) <= 1e-5, `${label} output ${i}: ${x} vs ${want[i]}`));
  got.dispose();
}

for (const s of SHAPES) {
  const label = `${s.batch} window(s) × ${s.seqLen}, ${s.heads} heads / ${s.kvHeads} kv heads, head dim ${s.headDim}`;
  test(`attention, ${label}: matches the direct computation to 1e-5, and the batched form's gradients to 1e-5`, () => {
    const rand = prng(s.batch * 100 + s.heads + s.headDim);
    const [q, k, v] = [s.heads, s.kvHeads, s.kvHeads].map((h) => random(s.batch * s.seqLen, h * s.headDim, rand));
    const rope = ropeTables(s.seqLen, s.headDim, 10000, 64);
    // The host kernel where it applies (head dims of multiples of 8, no tape), tfjs's ops everywhere.
    assert.equal(hostAttentionApplies(s.headDim), s.headDim % 8 === 0);
    const ways: [string, Attention][] = [['causalAttention', causalAttention], ['tfjs ops', tfjsCausalAttention]];
    if (s.headDim % 8 === 0) ways.push(['host kernel', hostCausalAttention]);
    for (const [name, f] of ways) {
      assertDirect(f, q, k, v, s, rope, `${name} with rope`);
      assertDirect(f, q, k, v, s, undefined, `${name} without rope`);
    }
    // A loss that weighs every output differently, so each gradient entry is exercised.
    const weights = random(s.batch * s.seqLen, s.heads * s.headDim, rand);
    const loss = (f: Attention) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, s, rope), weights));
    const ours = tf.grads(loss(causalAttention))([q, k, v]);
    const theirs = tf.grads(loss(batched))([q, k, v]);
    ours.forEach((g, j) => {
      const ref = theirs[j].dataSync();
      g.dataSync().forEach((x, i) => assert.ok(Math.abs(x - ref[i]) <= 1e-5 * Math.max(1, Math.abs(ref[i])), `gradient ${j}[${i}]: ${x} vs ${ref[i]}`));
    });
    tf.dispose([q, k, v, rope.cos, rope.sin, weights, ...ours, ...theirs]);
  });
}

test('host kernel: the windows of a batch, shared with the helper thread, are the bits of each window computed alone', async () => {
  const s: AttentionShape = { batch: 8, seqLen: 32, heads: 4, kvHeads: 2, headDim: 16 };
  const rand = prng(7);
  const [q, k, v] = [s.heads, s.kvHeads, s.kvHeads].map((h) => random(s.batch * s.seqLen, h * s.headDim, rand));
  const rope = ropeTables(s.seqLen, s.headDim, 10000, 64);
  // One window per call: no helper.
  const rows = (x: tf.Tensor2D, b: number) => tf.slice(x, [b * s.seqLen, 0], [s.seqLen, x.shape[1]]);
  const alone = tf.concat(Array.from({ length: s.batch }, (_, b) =>
    hostCausalAttention(rows(q, b), rows(k, b), rows(v, b), { ...s, batch: 1 }, rope)));
  const want = alone.dataSync();
  // The helper starts on the first batch and takes windows once it runs: call until it has.
  const before = helperWindows();
  for (let i = 0; i < 400 && helperWindows() === before; i++) {
    const got = hostCausalAttention(q, k, v, s, rope);
    assert.deepEqual(got.dataSync(), want, `call ${i}`);
    got.dispose();
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(helperWindows() > before, 'the helper thread never took a window');
  const got = hostCausalAttention(q, k, v, s, rope);
  assert.deepEqual(got.dataSync(), want);
  tf.dispose([q, k, v, rope.cos, rope.sin, alone, got]);
});

test('host kernel on tfjs\'s shared heap: with overwrite, q and k rotated in place and the same bits; without, or at lengths not a multiple of 4, q and k untouched; never a memory of its own', () => {
  for (const seqLen of [24, 13]) {
    const s: AttentionShape = { batch: 4, seqLen, heads: 4, kvHeads: 2, headDim: 8 };
    const rand = prng(11 + seqLen);
    const [q, k, v] = [s.heads, s.kvHeads, s.kvHeads].map((h) => random(s.batch * s.seqLen, h * s.headDim, rand));
    const rope = ropeTables(s.seqLen, s.headDim, 10000, 64);
    const [q0, k0, v0] = [q, k, v].map((t) => t.dataSync().slice());
    const tensors = tf.memory().numTensors;
    const kept = hostCausalAttention(q, k, v, s, rope);
    assert.equal(tf.memory().numTensors, tensors + 1, 'nothing left but the output');
    assert.deepEqual([q, k, v].map((t) => t.dataSync()), [q0, k0, v0], 'inputs kept');
    const spoilt = hostCausalAttention(q, k, v, s, rope, { overwrite: true });
    assert.equal(tf.memory().numTensors, tensors + 2);
    assert.deepEqual(spoilt.dataSync(), kept.dataSync());
    assert.deepEqual(v.dataSync(), v0, 'v is never changed');
    const changed = [q, k].map((t, i) => t.dataSync().some((x, j) => x !== [q0, k0][i][j]));
    assert.deepEqual(changed, seqLen % 4 === 0 ? [true, true] : [false, false], `length ${seqLen}`);
    tf.dispose([q, k, v, rope.cos, rope.sin, kept, spoilt]);
  }
  assert.equal(ownMemoryBytes(), 0);
});
