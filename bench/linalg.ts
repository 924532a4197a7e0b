// Portable SVD against numpy/LAPACK on the same machine in the same run (issue #4's bench).
// Run: node scripts/build.mjs --tests && node out/bench/linalg.js [--big]
// --big adds 4096×14336 (Llama-3-8B MLP), ours only: minutes, and reports peak memory;
// --no-table skips the comparison table (for a --big run alone); --phases times svd.ts's stages at 1024².
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { svdPortable } from '../sidecar/linalg/svd';
import { POOL_SIZE } from '../sidecar/linalg/pool';
import { matrix, type Matrix } from '../sidecar/linalg/matrix';
import { bidiagonalize, pBlocks, qBlocks } from '../sidecar/linalg/bidiagonal';
import { LANES_MIN_N, solo } from '../sidecar/linalg/lanes';
import { bidiagonalDc } from '../sidecar/linalg/bidiagonal-dc';

const ROOT = resolve(__dirname.replace(/[\\/]out[\\/].*$/, ''));
const shapes: [number, number][] = [[256, 256], [512, 512], [1024, 1024], [2048, 2048], [1024, 4096]];
const big = process.argv.includes('--big');
const table = !process.argv.includes('--no-table');

function gaussian(m: number, n: number, seed: number): Matrix {
  // xorshift + Box–Muller: reproducible without a dependency.
  let x = seed >>> 0 || 1;
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 4294967296 + 1e-12);
  const data = new Float64Array(m * n);
  for (let i = 0; i < data.length; i++) data[i] = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return matrix(m, n, data);
}

function seconds(f: () => void, reps: number): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    f();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

function compare(): void {
  // numpy first, on as many threads as ours: the pool's size, the threads the engine gives one SVD
  // when nothing else is queued (pool.ts). Which of our stages split: lanes.ts.
  const threads = String(POOL_SIZE);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads };
  const py = spawnSync('/usr/bin/python3', [join(ROOT, 'bench', 'linalg_numpy.py'), ...shapes.map(([m, n]) => `${m}x${n}`)], { env, encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`numpy side failed: ${py.stderr}`);
  const lapack = JSON.parse(py.stdout) as { numpy: string; blas: unknown; results: Record<string, { vectors: number; values: number }> };
  console.log(`numpy ${lapack.numpy}, BLAS: ${JSON.stringify(lapack.blas)}`);
  console.log(`ours: portable float64 (JavaScript, products in WebAssembly SIMD), ${POOL_SIZE} threads (from n = ${LANES_MIN_N}: bidiagonalisation, tall QR, divide and conquer's products, reflectors), Node ${process.version}; LAPACK: ${POOL_SIZE} BLAS threads`);
  console.log('shape        | vectors: ours s  LAPACK s  ratio | values only: ours s  LAPACK s  ratio');
  for (const [m, n] of shapes) {
    const a = gaussian(m, n, m * 31 + n);
    const reps = m * n <= 512 * 512 ? 3 : 1;
    const ours = { vectors: seconds(() => svdPortable(a, true, false, undefined, POOL_SIZE), reps), values: seconds(() => svdPortable(a, false, false, undefined, POOL_SIZE), reps) };
    const ref = lapack.results[`${m}x${n}`];
    const cell = (o: number, r: number) => `${o.toFixed(3).padStart(8)} ${r.toFixed(3).padStart(9)} ${(o / r).toFixed(1).padStart(6)}`;
    console.log(`${`${m}×${n}`.padEnd(12)} | ${cell(ours.vectors, ref.vectors)}  | ${cell(ours.values, ref.values)}`);
  }
}

/** Where an SVD with vectors spends its time (svd.ts's three stages), on a square Gaussian matrix. */
function phases(n: number): void {
  const xt = gaussian(n, n, 11).data;
  let t = performance.now();
  const lap = () => { const s = (performance.now() - t) / 1000; t = performance.now(); return s.toFixed(2); };
  const bd = bidiagonalize(xt, n, n);
  const b = lap();
  const { ub, vb } = bidiagonalDc(bd.d, bd.e, true);
  const q = lap();
  solo.reflect([{ blocks: qBlocks(bd), ct: ub!, len: n, r0: 0, r1: n }, { blocks: pBlocks(bd), ct: vb, len: n, r0: 0, r1: n }]);
  console.log(`${n}×${n} with vectors on one thread, by stage: bidiagonalisation ${b} s, the bidiagonal's bases by divide and conquer ${q} s, reflectors applied to them ${lap()} s`);
}

if (table) compare();
if (process.argv.includes('--phases')) phases(1024);
if (big) {
  const [m, n] = [4096, 14336];
  const a = gaussian(m, n, 7);
  const t = performance.now();
  svdPortable(a, true, false, undefined, POOL_SIZE);
  const peak = process.resourceUsage().maxRSS * 1024; // KiB, over the whole process
  console.log(`${m}×${n} with vectors: ${((performance.now() - t) / 1000).toFixed(1)} s, peak RSS ${(peak / 2 ** 30).toFixed(2)} GiB`);
}
