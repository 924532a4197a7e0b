// The algebra of SVD-LLM and ASVD on random data, float64: Theorem 3.2 of the SVD-LLM paper (the
// output error of whitened truncation is exactly the discarded singular values), whitening beats
// plain truncation on anisotropic inputs, the closed-form update is the least-squares optimum, and
// ASVD's diagonal scaling is undone in W_v.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getLinalg } from '../../../sidecar/linalg';
import { identity } from '../../../sidecar/linalg/matrix';
import { scaledTruncation, updatedU, whitenedTruncation } from '../../../sidecar/methods/whitened-svd';
import { asvdScale } from '../../../sidecar/methods/asvd';
import { prng } from '../../fixtures/checkpoints';
import { fro, mat, mul, outputError, randn, sub, t, type Mat } from './helpers';

const rand = prng(42);
const m = 20;
const n = 12;
const r = 4;
const W = randn(m, n, rand);
// Anisotropic inputs (channel scales 0.1 … 10), tokens × n: where whitening differs from plain SVD.
const scaled = (x: Mat) => mat(x.rows, n, x.data.map((v, i) => v * 10 ** (-1 + (2 * (i % n)) / (n - 1))));
const X = scaled(randn(60, n, rand));
const gram = (x: Mat) => mul(t(x), x);
const tail = (s: Float64Array, k: number) => Math.sqrt(s.slice(k).reduce((a, b) => a + b * b, 0));

test('SVD-LLM Theorem 3.2: ‖W X − W_u W_v X‖_F = √(Σ_{i>r} σ_i²) of W S, and whitening beats plain SVD', async () => {
  const S = (await getLinalg().cholesky(gram(X))).l;
  const f = await whitenedTruncation(W, S, r);
  assert.equal(f.u.rows, m);
  assert.equal(f.u.cols, r);
  assert.equal(f.v.rows, r);
  assert.equal(f.v.cols, n);
  const err = outputError(X, W, mul(f.u, f.v));
  // Float64 end to end on a well-conditioned 20×12 problem: agreement to 1e-9 relative.
  assert.ok(Math.abs(err / tail(f.sigma, r) - 1) < 1e-9, `error ${err} vs tail ${tail(f.sigma, r)}`);
  assert.ok(Math.abs(f.keptEnergy - (1 - (tail(f.sigma, r) / tail(f.sigma, 0)) ** 2)) < 1e-12);
  // Each further discarded σ costs exactly its share: rank r − 1 loses σ_r² more.
  const f2 = await whitenedTruncation(W, S, r - 1);
  assert.ok(Math.abs(outputError(X, W, mul(f2.u, f2.v)) / tail(f.sigma, r - 1) - 1) < 1e-9);
  // Plain truncation (S = I) at the same rank: measured 4.3× the whitened error here; require 2×.
  const plain = await whitenedTruncation(W, identity(n), r);
  const errPlain = outputError(X, W, mul(plain.u, plain.v));
  assert.ok(errPlain > 2 * err, `plain ${errPlain} vs whitened ${err}`);
});

test('SVD-LLM update: W_u = W Ĝ Bᵀ (B Ĝ Bᵀ)⁻¹ is the least-squares optimum on the update inputs', async () => {
  const S = (await getLinalg().cholesky(gram(X))).l;
  const f = await whitenedTruncation(W, S, r);
  // Update inputs: other tokens, shifted away from the whitening sample (as compressed layers shift them).
  const noise = randn(80, n, rand);
  const Xh = scaled(mat(80, n, randn(80, n, rand).data.map((v, i) => v + 0.5 * noise.data[i])));
  const u2 = await updatedU(W, f.v, gram(Xh));
  const before = outputError(Xh, W, mul(f.u, f.v));
  const after = outputError(Xh, W, mul(u2, f.v));
  // Measured 4.9% lower here; the optimum can only be lower, require 1%.
  assert.ok(after < 0.99 * before, `update ${after} vs whitening only ${before}`);
  // Normal equations of min ‖Y − U B X̂ᵀ‖: the residual is orthogonal to B X̂ᵀ (float64: 1e-9 relative).
  const Y = mul(Xh, t(W));
  const BX = mul(Xh, t(f.v)); // tokens × r
  const resid = sub(Y, mul(BX, t(u2)));
  const g = mul(t(resid), BX);
  assert.ok(fro(g) < 1e-9 * fro(Y) * fro(BX), `gradient ${fro(g)}`);
});

test('ASVD: S = diag((mean|x|)^α + 1e-6); W_u W_v S is the best rank-r approximation of W S', async () => {
  assert.deepEqual([...asvdScale(Float64Array.from([4, 0, 9]), 0.5)], [2 + 1e-6, 1e-6, 3 + 1e-6]);
  const s = asvdScale(Float64Array.from({ length: n }, (_, j) => 0.01 + j), 0.5);
  const f = await scaledTruncation(W, s, r);
  const D = mat(n, n, new Float64Array(n * n).map((_, k) => (k % (n + 1) === 0 ? s[k / (n + 1)] : 0)));
  const err = fro(mul(sub(W, mul(f.u, f.v)), D));
  // Eckart–Young in the scaled space; float64: 1e-9 relative.
  assert.ok(Math.abs(err / tail(f.sigma, r) - 1) < 1e-9, `${err} vs ${tail(f.sigma, r)}`);
  const plain = await scaledTruncation(W, new Float64Array(n).fill(1), r);
  // Unscaled truncation, measured 1.17× worse in the scaled norm; require 5%.
  assert.ok(fro(mul(sub(W, mul(plain.u, plain.v)), D)) > 1.05 * err, 'scaling changes which directions are kept');
});
