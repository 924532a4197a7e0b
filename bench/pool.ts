// The linear-algebra worker pool (sidecar/linalg/pool.ts) running SVDs, against the portable SVD
// on the calling thread, on the 56 projection matrices of rankwise-brown-14m: one layer's 7 at a time, as a method that
// factorizes a layer's projections concurrently would ask for them.
//   node out/bench/pool.js [--workers N] [--repeat 3]
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { openCheckpoint } from '../sidecar/checkpoint/checkpoint';
import { resolveArch } from '../sidecar/arch/table';
import { readProjection } from '../sidecar/methods/weights';
import { fromFloat32, type Matrix } from '../sidecar/linalg/matrix';
import { svdPortable } from '../sidecar/linalg/svd';
import { LinalgPool } from '../sidecar/linalg/pool';

const ROOT = resolve(__dirname.replace(/[\\/]out[\\/].*$/, ''));
const flag = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};

async function main() {
  const ckpt = await openCheckpoint(join(ROOT, 'models', 'rankwise-brown-14m'));
  const arch = resolveArch(ckpt.config, ckpt.tensors.keys());
  const layers: Matrix[][] = [];
  for (let i = 0; i < arch.dims.layers; i++) {
    layers.push(await Promise.all(arch.projections(i).map(async ({ name, spec }) => {
      const w = await readProjection(ckpt, name, spec.transposed);
      return fromFloat32(w.rows, w.cols, w.data);
    })));
  }
  await ckpt.close();
  const workers = flag('workers', Math.min(4, availableParallelism()));
  const repeat = flag('repeat', 3);
  const pool = new LinalgPool(workers);
  const svd = (a: Matrix) => pool.run({ op: 'svd', a, vectors: true, full: false });
  // The workers start once; not part of any SVD's time.
  await svd(layers[0][0]);
  // Best wall time of `repeat`, and the CPU time of all this process's threads over it: with free
  // cores a pool of 2 keeps about 2 busy; on a shared machine the neighbours take the rest.
  const time = async (f: () => Promise<void>) => {
    let best = { wall: Infinity, cpu: 0 };
    for (let r = 0; r < repeat; r++) {
      const t = performance.now();
      const c = process.cpuUsage();
      await f();
      const used = process.cpuUsage(c);
      const wall = (performance.now() - t) / 1000;
      if (wall < best.wall) best = { wall, cpu: (used.user + used.system) / 1e6 };
    }
    return best;
  };
  const serial = await time(async () => { for (const l of layers) for (const a of l) svdPortable(a, true, false); });
  const pooled = await time(async () => { for (const l of layers) await Promise.all(l.map(svd)); });
  await pool.close();
  const count = layers.reduce((n, l) => n + l.length, 0);
  console.log(`${count} SVDs with vectors (${layers[0].map((a) => `${a.rows}×${a.cols}`).join(', ')} per layer), best of ${repeat}; ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(2)}`);
  const row = (name: string, x: { wall: number; cpu: number }) => console.log(`${name.padEnd(42)} ${x.wall.toFixed(2)} s wall, ${x.cpu.toFixed(2)} s CPU (${(x.cpu / x.wall).toFixed(2)} cores busy)`);
  row('calling thread, one after another:', serial);
  row(`pool of ${workers} workers, a layer's 7 at once:`, pooled);
  console.log(`speed-up: ${(serial.wall / pooled.wall).toFixed(2)}×`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
