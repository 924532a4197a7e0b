// The linear-algebra worker pool: the same results as the kernels on the calling thread, for
// concurrent jobs, and a fallback to the calling thread once no worker is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinalgPool, linalgPool } from '../../../sidecar/linalg/pool';
import { lend, readOnly } from '../../../sidecar/linalg/shared-memory';
import { mapInputs, runOp, type CholeskyParts, type Op, type RefitParts } from '../../../sidecar/linalg/pool-ops';
import { refitLeft } from '../../../sidecar/linalg/least-squares';
import { portableLinalg } from '../../../sidecar/linalg';
import { svdPortable, type SvdParts } from '../../../sidecar/linalg/svd';
import { matmul, matrix, type Matrix } from '../../../sidecar/linalg/matrix';
import { prng } from '../../fixtures/checkpoints';
import { warmUp } from '../../../sidecar/linalg/pool-warmup';
import { gramUpper } from '../../../sidecar/linalg/gram-kernel';
import { CLAIM_SLOTS, CONTROL_WORDS, TAKEN_HERE, claim, isOpen, open, taker } from '../../../sidecar/linalg/pool-claims';

function random(rows: number, cols: number, seed: number): Matrix {
  const rand = prng(seed);
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => rand() * 2 - 1));
}

const same = (x: Float64Array | undefined, y: Float64Array | undefined) => assert.deepEqual(Array.from(x ?? []), Array.from(y ?? []));
const svd = (pool: LinalgPool, a: Matrix, o: { vectors?: boolean; full?: boolean } = {}) =>
  pool.run({ op: 'svd', a, vectors: o.vectors ?? true, full: o.full ?? false }) as Promise<SvdParts>;
const sameSvd = (got: SvdParts, want: SvdParts) => {
  same(got.s, want.s);
  same(got.u?.data, want.u?.data);
  same(got.v?.data, want.v?.data);
};

/** Runs f with a pool of `size` workers, closed after. */
async function withPool(size: number, f: (pool: LinalgPool) => Promise<void>): Promise<void> {
  const pool = new LinalgPool(size);
  try {
    await f(pool);
  } finally {
    await pool.close();
  }
}

test('pool: concurrent SVDs equal the portable SVD bit for bit, in the order asked', () => withPool(2, async (pool) => {
  const shapes: [number, number][] = [[40, 24], [24, 40], [33, 33], [64, 16], [16, 64], [50, 30]];
  const inputs = shapes.map(([m, n], i) => random(m, n, i + 1));
  const got = await Promise.all(inputs.map((a) => svd(pool, a)));
  for (const [i, a] of inputs.entries()) {
    const want = svdPortable(a, true, false);
    sameSvd(got[i], want);
    assert.deepEqual([got[i].u?.rows, got[i].u?.cols, got[i].v?.rows, got[i].v?.cols], [want.u?.rows, want.u?.cols, want.v?.rows, want.v?.cols]);
  }
  // The caller's matrix is copied, not transferred away.
  assert.equal(inputs[0].data.length, 40 * 24);
}));

test('pool: values only and full bases as svdPortable gives them', () => withPool(1, async (pool) => {
  const a = random(30, 12, 9);
  const values = await svd(pool, a, { vectors: false });
  same(values.s, svdPortable(a, false, false).s);
  assert.equal(values.u, undefined);
  const full = await svd(pool, a, { full: true });
  assert.deepEqual([full.u?.rows, full.u?.cols, full.v?.rows], [30, 30, 12]);
  same(full.u?.data, svdPortable(a, true, true).u?.data);
}));

test('pool: solves, composite jobs and Cholesky (with its shift log) as on the calling thread', () => withPool(2, async (pool) => {
  const a = random(20, 12, 11);
  const b = random(12, 7, 12);
  const gram = matmul(a, a, { transA: true }); // 12 × 12, positive definite
  const lower = (runOp({ op: 'cholesky', a: gram }) as CholeskyParts).l;
  const ops: Op[] = [
    { op: 'solve', t: lower, b, o: { lower: true } },
    { op: 'solve', t: lower, b: random(7, 12, 13), o: { lower: true, side: 'right', transpose: true } },
  ];
  const got = await Promise.all(ops.map((o) => pool.run(o)));
  for (const [i, o] of ops.entries()) same((got[i] as Matrix).data, (runOp(o) as Matrix).data);
  // The composite jobs: the SVD of a product, and the least-squares refit (with its own Cholesky).
  const product = (await pool.run({ op: 'svdOfProduct', a, b: gram })) as SvdParts;
  const direct = svdPortable(matmul(a, gram), true, false);
  sameSvd(product, direct);
  const refit = { op: 'refitLeft', w: random(9, 12, 15), b: random(4, 12, 16), g: gram } as const;
  const r0 = (await pool.run(refit)) as RefitParts;
  same(r0.u.data, refitLeft(refit.w, refit.b, refit.g).data);
  assert.deepEqual([r0.u.rows, r0.u.cols, r0.logs.length], [9, 4, 0]);
  // A rank-deficient Gram needs the SVD-LLM shift: the worker's log lines come back with it.
  const deficient = matmul(random(3, 12, 14), random(3, 12, 14), { transA: true });
  const r = (await pool.run({ op: 'cholesky', a: deficient, eps: 1e-6 })) as CholeskyParts;
  assert.ok(r.shift > 0 && r.attempts >= 2);
  assert.match(r.logs[0], /^cholesky: matrix 12×12 not positive definite/);
  same(r.l.data, (runOp({ op: 'cholesky', a: deficient, eps: 1e-6 }) as CholeskyParts).l.data);
  await assert.rejects(pool.run({ op: 'cholesky', a: random(2, 3, 1) }), /not square/);
}));

test('pool: a float32 operand (weights as tfjs holds them) gives what its float64 widening gives, to the bit', () => withPool(2, async (pool) => {
  const a = random(20, 12, 21);
  const gram = matmul(a, a, { transA: true });
  const lower = (runOp({ op: 'cholesky', a: gram }) as CholeskyParts).l;
  // Values a float32 holds exactly, in a float32 array and widened into a float64 one.
  const w32 = Float32Array.from(random(9, 12, 22).data);
  const w32m = { rows: 9, cols: 12, data: lend(Float32Array.from(w32)) };
  const w64 = matrix(9, 12, Float64Array.from(w32));
  const b = random(4, 12, 23);
  for (const run of [(o: Op) => pool.run(o), async (o: Op) => runOp(o)]) {
    sameSvd((await run({ op: 'svdOfProduct', a: w32m, b: lower, top: 4 })) as SvdParts, runOp({ op: 'svdOfProduct', a: w64, b: lower, top: 4 }) as SvdParts);
    sameSvd((await run({ op: 'svdOfProduct', a: w32m, b: gram })) as SvdParts, runOp({ op: 'svdOfProduct', a: w64, b: gram }) as SvdParts);
    same(((await run({ op: 'refitLeft', w: w32m, b, g: gram })) as RefitParts).u.data, refitLeft(w64, b, gram).data);
  }
}));

test('pool: with its workers gone, jobs run on the calling thread', async () => {
  const pool = new LinalgPool(1);
  await pool.close();
  const a = random(20, 10, 3);
  same((await svd(pool, a)).s, svdPortable(a, true, false).s);
});

test('pool: a worker that reported ready while this thread was busy past the deadline is kept', async () => {
  const pool = new LinalgPool(1, { readyMs: 100 });
  try {
    // Synchronous work far past the deadline: the worker's ready message and the deadline's timer
    // are both waiting when it ends.
    for (const end = Date.now() + 3000; Date.now() < end;);
    const a = random(70, 70, 8);
    same((await svd(pool, a)).s, svdPortable(a, true, false).s);
    assert.equal(pool.workerCount, 1);
  } finally {
    await pool.close();
  }
});

test('pool: closing settles every job: the one a worker was running fails, open ones run here', async () => {
  const pool = new LinalgPool(1);
  await svd(pool, random(70, 70, 5)); // the worker is up and waiting for jobs
  const running = assert.rejects(pool.run({ op: 'svd', a: random(900, 900, 6), vectors: true, full: false }), /pool closed while a worker ran the job/);
  await new Promise((r) => setTimeout(r, 50)); // it took the job at once
  const open = random(30, 20, 7);
  const queued = svd(pool, open);
  await pool.close();
  await running;
  same((await queued).s, svdPortable(open, true, false).s);
});

test('pool: the portable linalg sends large operations to the process pool, with the same bits', async () => {
  const a = random(96, 80, 4); // above the pool threshold (64³ of work)
  const before = linalgPool().jobsDone;
  const got = await portableLinalg().svd(a);
  assert.equal(linalgPool().jobsDone, before + 1);
  const want = svdPortable(a, true, false);
  sameSvd(got, want);
  const logs: string[] = [];
  const deficient = matmul(random(3, 100, 6), random(3, 100, 6), { transA: true }); // 100³/3 of work
  const chol = await portableLinalg().cholesky(deficient, { log: (m) => logs.push(m) });
  assert.equal(linalgPool().jobsDone, before + 2);
  assert.ok(chol.shift > 0 && logs.length === chol.attempts - 1, 'the shifts are logged here');
  const ata = matmul(a, a, { transA: true }); // 80 × 80
  sameSvd(await portableLinalg().svdOfProduct(a, ata), svdPortable(matmul(a, ata), true, false));
  assert.equal(linalgPool().jobsDone, before + 3);
  // A small one stays on this thread.
  await portableLinalg().svd(random(12, 8, 5));
  assert.equal(linalgPool().jobsDone, before + 3);
});

test('pool: a Cholesky asked to overwrite its input writes L into that shared memory, on a worker, with the copying path\'s bits', async () => {
  // Rank-deficient (a shift is needed): the retries must see the Gram as it was.
  const g = matmul(random(60, 100, 40), random(60, 100, 40), { transA: true });
  const copied = await portableLinalg().cholesky(g);
  const own = matrix(100, 100, new Float64Array(new SharedArrayBuffer(8 * 100 * 100)));
  own.data.set(g.data);
  const before = linalgPool().jobsDone;
  const inPlace = await portableLinalg().cholesky(own, { overwrite: true });
  assert.equal(linalgPool().jobsDone, before + 1, 'on the pool');
  assert.ok(copied.attempts > 1, 'needed a shift');
  assert.equal(inPlace.shift, copied.shift);
  assert.deepEqual(own.data, copied.l.data, 'L in the input\'s memory');
  assert.deepEqual(inPlace.l.data, copied.l.data);
});

test('pool: a job gets its own copy of inputs in shared memory (a view of the wasm heap changes under it)', () => withPool(1, async (pool) => {
  // The one worker is busy with the first SVD while the second is posted and its input overwritten.
  const busy = random(160, 160, 21);
  const a = random(40, 30, 22);
  const inShared = matrix(40, 30, new Float64Array(new SharedArrayBuffer(a.data.byteLength)));
  inShared.data.set(a.data);
  const first = svd(pool, busy);
  const second = svd(pool, inShared);
  inShared.data.fill(0);
  await first;
  sameSvd(await second, svdPortable(a, true, false));
}));

test('pool ops never write their inputs (what lets readOnly() matrices be shared by jobs)', () => {
  const a = random(30, 12, 27);
  const gram = matmul(a, a, { transA: true });
  const lower = (runOp({ op: 'cholesky', a: gram }) as CholeskyParts).l;
  const ops: Op[] = [
    { op: 'svd', a: random(20, 12, 28), vectors: true, full: false },
    { op: 'svd', a: random(12, 20, 29), vectors: true, full: false, top: 3 },
    { op: 'cholesky', a: gram },
    { op: 'solve', t: lower, b: random(12, 5, 30), o: { lower: true } },
    { op: 'solve', t: lower, b: random(5, 12, 31), o: { lower: true, side: 'right' } },
    { op: 'svdOfProduct', a: random(9, 12, 32), b: lower, top: 4 },
    { op: 'refitLeft', w: random(9, 12, 33), b: random(4, 12, 34), g: gram },
    { op: 'gram', x: Float32Array.from(random(16, 12, 35).data), rows: 16, dim: 12 },
  ];
  for (const o of ops) {
    const before: number[][] = [];
    mapInputs(o, (m) => (before.push(Array.from(m.data)), m), (x) => (before.push(Array.from(x)), x));
    runOp(o);
    const after: number[][] = [];
    mapInputs(o, (m) => (after.push(Array.from(m.data)), m), (x) => (after.push(Array.from(x)), x));
    assert.deepEqual(after, before, o.op);
  }
});

test('pool: a readOnly() matrix is read in place by every job, not copied for each', () => withPool(1, async (pool) => {
  // Shared memory already: taken as it is. Plain memory: one shared copy.
  const sharedA = matrix(4, 3, new Float64Array(new SharedArrayBuffer(96)));
  assert.equal(readOnly(sharedA).data, sharedA.data);
  const plain = random(4, 3, 23);
  const copied = readOnly(plain);
  assert.ok(copied.data.buffer instanceof SharedArrayBuffer);
  same(copied.data, plain.data);
  // The contract is that no one writes it again; written anyway while the job waits for the busy
  // worker, the job sees the writes, which it would not through a copy.
  const busy = random(160, 160, 24);
  const a = readOnly(random(40, 30, 25));
  const first = svd(pool, busy);
  const second = svd(pool, a);
  const b = random(40, 30, 26);
  a.data.set(b.data);
  await first;
  sameSvd(await second, svdPortable(b, true, false));
}));

test('pool: a gram job reads its lent input in place and adds its band of rows into the lent sum, which nothing copies', () => withPool(1, async (pool) => {
  const rows = 64;
  const dim = 24;
  const x = lend(new Float32Array(new SharedArrayBuffer(4 * rows * dim)));
  x.set(Float32Array.from(random(rows, dim, 36).data));
  // What the sum held before: the job adds to it, in its rows 8..16 only.
  const out = lend(new Float64Array(new SharedArrayBuffer(8 * dim * dim)).fill(7));
  // Written while the job waits for the busy worker: read in place, the job sees the new rows.
  const busy = svd(pool, random(160, 160, 37));
  const band = pool.run({ op: 'gram', x, rows, dim, out, from: 8, to: 16 });
  const y = Float32Array.from(random(rows, dim, 38).data);
  x.set(y);
  await busy;
  await band;
  const g = gramUpper(y, rows, dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < dim; j++) {
      const inBand = i >= 8 && i < 16 && j >= i;
      assert.equal(out[i * dim + j], inBand ? 7 + g[i * dim + j] : 7, `(${i}, ${j})`);
    }
  }
}));

test('pool: each job is taken exactly once, by whichever worker claims it first', () => {
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS));
  const job = { id: 7 };
  assert.equal(claim(ctrl, job, -1), false, 'not open yet');
  open(ctrl, job.id);
  assert.ok(isOpen(ctrl, job.id));
  assert.equal(claim(ctrl, job, -2), true);
  assert.equal(claim(ctrl, job, -1), false, 'taken');
  assert.equal(taker(ctrl, job.id), 1);
  // The slot's next job: a stale copy of job 7 cannot take it.
  const later = { id: job.id + CLAIM_SLOTS };
  open(ctrl, later.id);
  assert.equal(claim(ctrl, job, -1), false);
  assert.equal(isOpen(ctrl, job.id), false);
  assert.equal(claim(ctrl, later, TAKEN_HERE), true);
  assert.equal(taker(ctrl, later.id), -1, 'taken on the posting thread');
});

test('pool warm-up: every step runs (the ops of SVD-LLM\'s jobs), and it stops once a job is posted', async () => {
  let calls = 0;
  warmUp(() => (calls++, false));
  assert.equal(calls, 5, 'a Gram, a Cholesky factor, three SVD/solve/refit steps');
  calls = 0;
  warmUp(() => ++calls > 2);
  assert.equal(calls, 3, 'two steps, then the stop');
  // A warm pool's workers answer the first job (posted while they warm up) as a cold one would.
  const pool = new LinalgPool(2, { warm: true });
  try {
    const a = random(70, 50, 31);
    sameSvd(await svd(pool, a), svdPortable(a, true, false));
  } finally {
    await pool.close();
  }
});
