// A projection's product x Wᵀ by our kernel on tfjs-wasm's heap (sidecar/model/linear-host.ts)
// against tfjs's (XNNPACK: transpose, then matMul, as model/linear.ts ran it before), side by side in
// one process, at the reference model's shapes for a calibration batch (8 × 256 rows) and an
// evaluation chunk's head (1024 rows × the 32k vocabulary); fastest of the repeats, each read back.
//   node out/bench/linear.js [--repeat 10]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../sidecar/tensor/backend';
import { hostMatMulT } from '../sidecar/model/linear-host';
import { fusedKernels } from '../sidecar/linalg/wasm-kernel';

const at = process.argv.indexOf('--repeat');
const REPEAT = at > 0 ? Number(process.argv[at + 1]) : 10;
const SHAPES: [string, number, number, number][] = [
  ['q_proj, o_proj', 2048, 256, 256], ['k_proj, v_proj', 2048, 256, 128], ['gate_proj, up_proj', 2048, 256, 688],
  ['down_proj', 2048, 688, 256], ['factored v (rank 149)', 2048, 688, 149], ['head', 1024, 256, 32000],
];

function fastest(f: () => tf.Tensor): number {
  let best = Infinity;
  for (let r = 0; r <= REPEAT; r++) {
    const t = performance.now();
    const y = f();
    y.dataSync();
    const ms = performance.now() - t;
    y.dispose();
    if (r > 0) best = Math.min(best, ms);
  }
  return best;
}

async function main() {
  const backend = await initBackend('auto');
  console.log(`backend ${backend.name}, ${backend.threads} threads; kernel ${fusedKernels() ? 'fused (relaxed SIMD)' : 'plain'}; fastest of ${REPEAT}`);
  console.log(`${'product'.padEnd(24)} ${'m × k · k × n'.padEnd(22)} ${'tfjs ms'.padStart(8)} ${'ours ms'.padStart(8)} ${'ours / tfjs'.padStart(12)} ${'ours GFLOP/s'.padStart(13)}`);
  for (const [name, m, k, n] of SHAPES) {
    const x = tf.randomUniform([m, k], -1, 1, 'float32', 1) as tf.Tensor2D;
    const w = tf.randomUniform([n, k], -1, 1, 'float32', 2) as tf.Tensor2D;
    const theirs = fastest(() => tf.tidy(() => tf.matMul(x, tf.transpose(w))));
    const ours = fastest(() => {
      const y = hostMatMulT(x, w);
      if (!y) throw new Error('the kernel does not apply here (the threaded wasm backend is needed)');
      return y;
    });
    console.log(`${name.padEnd(24)} ${`${m} × ${k} · ${k} × ${n}`.padEnd(22)} ${theirs.toFixed(2).padStart(8)} ${ours.toFixed(2).padStart(8)} ${(ours / theirs).toFixed(2).padStart(12)} ${((2 * m * k * n) / ours / 1e6).toFixed(1).padStart(13)}`);
    tf.dispose([x, w]);
  }
}

void main();
