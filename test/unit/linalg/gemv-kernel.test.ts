// The bidiagonalisation's matrix-vector kernels (sidecar/linalg/gemv-kernel.ts) against plain loops,
// on blocks at odd offsets inside a shared kernel memory, with odd lengths and column counts that
// leave the four-column groups a remainder; and a column's (or row's) result the same whichever
// columns (rows) share its call, which is what lets the lanes split them; the rank-one update
// exactly as the scalar loop it replaced; a thread's reused reduction memory (grown, zeroed, capped)
// and an SVD on it after a larger one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gemvKernel, kernelMemory, REUSED_MEMORY_BYTES } from '../../../sidecar/linalg/gemv-kernel';
import { svdPortable } from '../../../sidecar/linalg/svd';
import { matrix } from '../../../sidecar/linalg/matrix';
import { uniform } from '../../helpers/lcg';

function filled(alloc: (length: number) => Float64Array, length: number, seed: number): Float64Array {
  const x = alloc(length);
  x.set(uniform(length, seed));
  return x;
}

const LD = 41;
const COLS = 11;

function setup() {
  const { memory, alloc } = kernelMemory([LD * COLS, LD, COLS + 3, LD + 3]);
  return { kernel: gemvKernel(memory), A: filled(alloc, LD * COLS, 1), v: filled(alloc, LD, 2), out: alloc(COLS + 3), y: filled(alloc, LD + 3, 3) };
}

for (const [len, nc] of [[0, 3], [1, 1], [7, 4], [16, 9], [33, 11]] as const) {
  test(`gemv dots over ${len} rows of ${nc} columns: Aᵀv to rounding, each column as if alone`, () => {
    const { kernel, A, v, out } = setup();
    const r0 = 3;
    kernel.dots(A, r0, LD, len, nc, v, 1, out, 2);
    for (let c = 0; c < nc; c++) {
      let want = 0;
      for (let r = 0; r < len; r++) want += A[r0 + c * LD + r] * v[1 + r];
      assert.ok(Math.abs(out[2 + c] - want) <= 1e-14 * Math.max(1, len), `column ${c}: ${out[2 + c]} vs ${want}`);
    }
    assert.equal(out[2 + nc], 0, 'wrote past its columns');
    const together = out.slice(2, 2 + nc);
    for (let c = 0; c < nc; c++) {
      kernel.dots(A, r0 + c * LD, LD, len, 1, v, 1, out, 0);
      assert.equal(out[0], together[c], `column ${c} alone`);
    }
  });

  test(`gemv matvec over ${len} rows of ${nc} columns: y += A u to rounding, each row as if alone`, () => {
    const { kernel, A, v: u, y } = setup();
    const y0 = Float64Array.from(y);
    kernel.matvec(A, 2, LD, len, nc, u, 5, y, 1);
    for (let r = 0; r < LD + 3; r++) {
      let want = y0[r];
      if (r >= 1 && r < 1 + len) for (let c = 0; c < nc; c++) want += u[5 + c] * A[2 + c * LD + r - 1];
      assert.ok(Math.abs(y[r] - want) <= 1e-14 * Math.max(1, nc), `row ${r}: ${y[r]} vs ${want}`);
    }
    const together = Float64Array.from(y);
    y.set(y0);
    for (let r = 0; r < len; r++) kernel.matvec(A, 2 + r, LD, 1, nc, u, 5, y, 1 + r);
    assert.deepEqual(y, together);
  });

  test(`gemv ger on ${nc} rows of ${len}: M += a vᵀ, each element M − (−a) v to the bit, nothing else written`, () => {
    const { kernel, A: M, v, y: a } = setup();
    const m0 = Float64Array.from(M);
    const at = 4; // rows at M[at + r·LD], odd offsets so that the pairs are not 16-byte aligned
    kernel.ger(M, at, LD, len, nc, a, 1, v, 3);
    for (let i = 0; i < M.length; i++) {
      const r = Math.floor((i - at) / LD);
      const t = i - at - r * LD;
      const inside = i >= at && r < nc && t < len;
      // As the unblocked reduction's scalar loop wrote it: s = −a, M −= s v.
      const want = inside ? m0[i] - (-a[1 + r]) * v[3 + t] : m0[i];
      assert.equal(M[i], want, `element ${i} (row ${r}, column ${t})`);
    }
  });
}

test('gemv refuses an operand outside its memory', () => {
  const { kernel, A, out } = setup();
  assert.throws(() => kernel.dots(A, 0, LD, 4, 1, new Float64Array(4), 0, out, 0), /not in the reduction memory/);
});

test('kernelMemory refuses more than WebAssembly\'s 4 GiB, before allocating', () => {
  assert.throws(() => kernelMemory([2 ** 28, 2 ** 28 + 8]), /exceed WebAssembly's 4 GiB/);
});

test('a reused kernel memory is the same one, grown when too small and zeroed over what is asked; larger asks get their own', () => {
  const first = kernelMemory([1000], true);
  first.alloc(1000).fill(7);
  const again = kernelMemory([10, 990], true);
  assert.equal(again.memory, first.memory, 'not reused');
  assert.ok(again.alloc(10).every((x) => x === 0) && again.alloc(990).every((x) => x === 0), 'not zeroed');
  const grown = kernelMemory([100_000], true);
  assert.equal(grown.memory, first.memory, 'a larger ask made a new memory instead of growing');
  assert.ok(grown.memory.buffer.byteLength >= 800_000);
  // The kernels follow the grown buffer (a cached instance would refuse its arrays).
  const x = grown.alloc(4);
  x.set([1, 2, 3, 4]);
  const out = new Float64Array(grown.memory.buffer, 64, 1);
  gemvKernel(grown.memory).dots(x, 0, 4, 4, 1, x, 0, out, 0);
  assert.equal(out[0], 30);
  assert.notEqual(kernelMemory([REUSED_MEMORY_BYTES / 8 + 1], true).memory, first.memory, 'a reduction past the cap kept in the reused memory');
  assert.notEqual(kernelMemory([10]).memory, first.memory, 'reuse was not asked for');
});

test('an SVD after a larger one in the same thread (its memory reused, dirty) gives the same bits as before it', () => {
  const rand = (rows: number, cols: number, seed: number) => matrix(rows, cols, uniform(rows * cols, seed));
  // 200 × 150 is past the bidiagonalisation's unblocked width: its panels' arrays are reused too.
  const small = rand(200, 150, 1);
  const before = svdPortable(small, true, false, 40);
  svdPortable(rand(300, 260, 2), true, false);
  const after = svdPortable(small, true, false, 40);
  assert.deepEqual(after.s, before.s);
  assert.deepEqual(after.u!.data, before.u!.data);
  assert.deepEqual(after.v!.data, before.v!.data);
});
