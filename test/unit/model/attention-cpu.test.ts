// The host attention kernel where tfjs's memory is not a shared heap (the cpu backend): on a memory
// of its own (attention-host.ts), with the results of tfjs's ops.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../sidecar/tensor/backend';
import { tfjsCausalAttention, type AttentionShape } from '../../../sidecar/model/attention';
import { hostAttentionApplies, hostCausalAttention, ownMemoryBytes } from '../../../sidecar/model/attention-host';
import { ropeTables } from '../../../sidecar/model/rope';
import { prng } from '../../fixtures/checkpoints';

before(async () => { await initBackend('cpu'); });

test('host kernel on the cpu backend: on its own memory, tfjs\'s results to 1e-5, nothing left but the output', () => {
  const s: AttentionShape = { batch: 3, seqLen: 13, heads: 4, kvHeads: 2, headDim: 8 };
  const rand = prng(5);
  const [q, k, v] = [s.heads, s.kvHeads, s.kvHeads].map((h) =>
    tf.tensor2d(Float32Array.from({ length: s.batch * s.seqLen * h * s.headDim }, () => rand() * 2 - 1), [s.batch * s.seqLen, h * s.headDim]));
  const rope = ropeTables(s.seqLen, s.headDim, 10000, 64);
  assert.ok(hostAttentionApplies(s.headDim));
  const tensors = tf.memory().numTensors;
  // overwrite changes nothing here: q and k are copied into the kernel's memory as they are.
  const [q0, k0] = [q, k].map((t) => t.dataSync().slice());
  const got = hostCausalAttention(q, k, v, s, rope, { overwrite: true });
  assert.deepEqual([q.dataSync(), k.dataSync()], [q0, k0]);
  assert.equal(tf.memory().numTensors, tensors + 1);
  assert.ok(ownMemoryBytes() > 0);
  const want = tfjsCausalAttention(q, k, v, s, rope);
  const w = want.dataSync();
  got.dataSync().forEach((x, i) => assert.ok(Math.abs(x - w[i]) <= 1e-5, `output ${i}: ${x} vs ${w[i]}`));
  tf.dispose([q, k, v, rope.cos, rope.sin, got, want]);
});
