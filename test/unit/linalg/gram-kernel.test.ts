// The host Gram kernel (sidecar/linalg/gram-kernel.ts): exact float32 slab sums added in float64,
// over bands of G's rows, whichever rows a call is given; each multiply-add rounded once where the
// fused kernel runs on an FMA instruction, twice where the plain one runs (wasm-kernel.test.ts runs
// this file again with RANKWISE_WASM_FMA=off).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addGram, GRAM_BAND_BYTES, gramKernelBytes, SLAB_ROWS } from '../../../sidecar/linalg/gram-kernel';
import { uniform } from '../../helpers/lcg';
import { roundsOnce } from '../../helpers/fma';

function rowsOf(rows: number, dim: number, seed: number): Float32Array {
  return Float32Array.from(uniform(rows * dim, seed, -1, 2));
}

/** What the kernel computes for rows ≤ 128 (one slab): each entry's float32 products summed in
 *  float32 in row order, then added to the float64 entry. A fused multiply-add rounds the exact
 *  c + x·y once to float32; here the product is exact in float64 and the sum is rounded to float64
 *  first, which differs from one rounding only when that lands on a float32 tie (the test's inputs
 *  hit none); otherwise x·y is rounded to float32 before the add. */
function reference(x: Float32Array, rows: number, dim: number, sum: Float64Array, once: boolean): void {
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      let c = 0;
      for (let t = 0; t < rows; t++) {
        const p = x[t * dim + i] * x[t * dim + j];
        c = Math.fround(c + (once ? p : Math.fround(p)));
      }
      sum[i * dim + j] += c;
    }
  }
}

test('gram kernel: a width whose Gram spans several bands gives the exact float32 sums, upper triangle only', () => {
  // 1001 columns (not a multiple of 8): about 8 MB of float64 rows, more than one band.
  const [rows, dim] = [24, 1001];
  assert.ok(8 * dim * dim > 1.5 * GRAM_BAND_BYTES);
  const x = rowsOf(rows, dim, 5);
  const got = new Float64Array(dim * dim).fill(0.5);
  addGram(x, rows, dim, got);
  const want = (once: boolean) => {
    const w = new Float64Array(dim * dim).fill(0.5);
    reference(x, rows, dim, w, once);
    return w;
  };
  // Where the CPU cannot be read, the sums are one rounding's or the other's, entirely.
  const fused = want(true);
  const once = roundsOnce() ?? got.every((v, i) => v === fused[i]);
  assert.deepEqual(got, once ? fused : want(false));
  // The kernel's memory holds a band and a slab, not the whole float64 Gram.
  assert.ok(gramKernelBytes() <= GRAM_BAND_BYTES + 4 * 1008 * SLAB_ROWS + 8 * 8 * 1008 + 65536, `${gramKernelBytes()} bytes`);
});

test('gram kernel: rows given in bands add up to the whole call, bit for bit, and touch nothing else', () => {
  const [rows, dim] = [300, 203];
  const x = rowsOf(rows, dim, 9);
  const whole = new Float64Array(dim * dim).fill(1);
  addGram(x, rows, dim, whole);
  const banded = new Float64Array(dim * dim).fill(1);
  for (const [from, to] of [[0, 56], [56, 64], [64, 203]]) {
    const before = Float64Array.from(banded);
    addGram(x, rows, dim, banded, from, to);
    for (let i = 0; i < dim; i++) {
      for (let j = 0; j < dim; j++) {
        if (!(i >= from && i < to && j >= i)) assert.equal(banded[i * dim + j], before[i * dim + j], `(${i}, ${j}) outside ${from}..${to}`);
      }
    }
  }
  assert.deepEqual(banded, whole);
  assert.throws(() => addGram(x, rows, dim, banded, 4, 20), /rows 4\.\.20 of 203/);
});
