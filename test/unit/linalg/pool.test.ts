// The SVD worker pool: the same results as the portable SVD on the calling thread, for concurrent
// jobs, and a fallback to the calling thread once no worker is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SvdPool, svdPool } from '../../../sidecar/linalg/pool';
import { portableLinalg } from '../../../sidecar/linalg';
import { svdPortable } from '../../../sidecar/linalg/svd';
import { matrix, type Matrix } from '../../../sidecar/linalg/matrix';
import { prng } from '../../fixtures/checkpoints';

function random(rows: number, cols: number, seed: number): Matrix {
  const rand = prng(seed);
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => rand() * 2 - 1));
}

const same = (x: Float64Array | undefined, y: Float64Array | undefined) => assert.deepEqual(Array.from(x ?? []), Array.from(y ?? []));

test('pool: concurrent SVDs equal the portable SVD bit for bit, in the order asked', async () => {
  const pool = new SvdPool(2);
  try {
    const shapes: [number, number][] = [[40, 24], [24, 40], [33, 33], [64, 16], [16, 64], [50, 30]];
    const inputs = shapes.map(([m, n], i) => random(m, n, i + 1));
    const got = await Promise.all(inputs.map((a) => pool.svd(a)));
    for (const [i, a] of inputs.entries()) {
      const want = svdPortable(a, true, false);
      same(got[i].s, want.s);
      same(got[i].u?.data, want.u?.data);
      same(got[i].v?.data, want.v?.data);
      assert.deepEqual([got[i].u?.rows, got[i].u?.cols, got[i].v?.rows, got[i].v?.cols], [want.u?.rows, want.u?.cols, want.v?.rows, want.v?.cols]);
    }
    // The caller's matrix is copied, not transferred away.
    assert.equal(inputs[0].data.length, 40 * 24);
  } finally {
    await pool.close();
  }
});

test('pool: values only and full bases as svdPortable gives them', async () => {
  const pool = new SvdPool(1);
  try {
    const a = random(30, 12, 9);
    const values = await pool.svd(a, { vectors: false });
    same(values.s, svdPortable(a, false, false).s);
    assert.equal(values.u, undefined);
    const full = await pool.svd(a, { full: true });
    assert.deepEqual([full.u?.rows, full.u?.cols, full.v?.rows], [30, 30, 12]);
    same(full.u?.data, svdPortable(a, true, true).u?.data);
  } finally {
    await pool.close();
  }
});

test('pool: with its workers gone, jobs run on the calling thread', async () => {
  const pool = new SvdPool(1);
  await pool.close();
  const a = random(20, 10, 3);
  same((await pool.svd(a)).s, svdPortable(a, true, false).s);
});

test('pool: the portable linalg sends large SVDs to the process pool, with the same bits', async () => {
  const a = random(96, 80, 4); // above the pool threshold (64³ of work)
  const before = svdPool().jobsDone;
  const got = await portableLinalg().svd(a);
  assert.equal(svdPool().jobsDone, before + 1);
  const want = svdPortable(a, true, false);
  same(got.s, want.s);
  same(got.u?.data, want.u?.data);
  same(got.v?.data, want.v?.data);
  // A small one stays on this thread.
  await portableLinalg().svd(random(12, 8, 5));
  assert.equal(svdPool().jobsDone, before + 1);
});
