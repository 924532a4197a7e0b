// A calibration batch's float64 Gram (sidecar/stats/gram.ts) with its products on the tensor
// backend (tfjs's float32 matMul in chunks of 2048 rows, on all its threads), on the host kernel
// (sidecar/linalg/gram-kernel.ts, this thread) and on the host kernel on the pool's workers (the
// batch copied to shared memory, each worker adding a band of G's rows to the sum), at the
// reference model's input widths by default, with each one's largest error against a float64 sum.
// Time per batch until its result is read, fastest of the repeats; the pool's time is the calling
// thread's wait, which it can spend on other work.
//   node out/bench/gram.js [--rows 2048] [--repeat 20] [--widths 256,688]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../sidecar/tensor/backend';
import { prepareLinalg } from '../sidecar/linalg';
import { GramCollector, type GramProducts } from '../sidecar/stats/gram';

const list = (name: string, d: string): number[] => {
  const i = process.argv.indexOf(`--${name}`);
  return (i > 0 ? process.argv[i + 1] : d).split(',').map(Number);
};

function gaussianRows(rows: number, dim: number, seed: number): Float32Array {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Float32Array.from({ length: rows * dim }, () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next()));
}

async function main() {
  const backend = await initBackend('auto');
  // The pool as a compression has it (compress() warms it up).
  prepareLinalg();
  const [rows] = list('rows', '2048');
  const [repeat] = list('repeat', '20');
  const widths = list('widths', '256,688');
  console.log(`backend ${backend.name}${backend.threads ? `, ${backend.threads} threads` : ''}; ${rows} rows a batch, fastest of ${repeat}`);
  console.log('width | backend ms | host ms | pool ms | backend / host | largest error / largest entry: backend, host, pool');
  for (const dim of widths) {
    const data = gaussianRows(rows, dim, dim);
    const x = tf.tensor2d(data, [rows, dim]);
    const exact = new Float64Array(dim * dim);
    for (let t = 0; t < rows; t++) {
      for (let i = 0; i < dim; i++) {
        const xi = data[t * dim + i];
        for (let j = i; j < dim; j++) exact[i * dim + j] += xi * data[t * dim + j];
      }
    }
    const scale = exact.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const run = async (products: GramProducts) => {
      let best = Infinity;
      for (let r = 0; r < repeat; r++) {
        const g = new GramCollector(dim, { products });
        const t0 = performance.now();
        g.add(x);
        const got = await g.result();
        best = Math.min(best, performance.now() - t0);
        if (r === repeat - 1) {
          let err = 0;
          for (let i = 0; i < dim; i++) for (let j = i; j < dim; j++) err = Math.max(err, Math.abs(got[i * dim + j] - exact[i * dim + j]));
          return { ms: best, err: err / scale };
        }
      }
      throw new Error('unreachable');
    };
    // The pool first: its first job ends the workers' warm-up (which would share the cores).
    const p = await run('pool');
    const b = await run('backend');
    const h = await run('host');
    console.log(`${dim} | ${b.ms.toFixed(2)} | ${h.ms.toFixed(2)} | ${p.ms.toFixed(2)} | ${(b.ms / h.ms).toFixed(2)} | ${b.err.toExponential(1)}, ${h.err.toExponential(1)}, ${p.err.toExponential(1)}`);
    x.dispose();
  }
}
main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
