// The portable decompositions against LAPACK (numpy/scipy; test/reference/linalg/make_reference.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getLinalg, portableLinalg } from '../../../sidecar/linalg';
import { initBackend } from '../../../sidecar/tensor/backend';
import { frobenius, matmul, matrix, transpose, type Matrix } from '../../../sidecar/linalg/matrix';
import { ROOT } from '../../helpers/paths';

const dir = join(ROOT, 'test', 'reference', 'linalg');
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).arrays as Record<string, { offset: number; shape: number[] }>;
const blob = readFileSync(join(dir, 'reference.bin'));
function ref(key: string): Matrix {
  const { offset, shape } = index[key];
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(blob.buffer.slice(blob.byteOffset + offset, blob.byteOffset + offset + 8 * n));
  return matrix(shape[0], shape[1] ?? 1, data);
}
const la = portableLinalg();

function orthoError(q: Matrix): number {
  const g = matmul(q, q, { transA: true });
  let e = 0;
  for (let i = 0; i < g.rows; i++) for (let j = 0; j < g.cols; j++) e = Math.max(e, Math.abs(g.data[i * g.cols + j] - (i === j ? 1 : 0)));
  return e;
}

for (const name of ['random_64x48', 'random_120x200', 'cond1e6_128x128', 'rank10_96x64', 'model_l0_k_proj', 'model_l3_down_proj', 'cond1e6_300x100', 'rank10_60x250']) {
  test(`svd ${name}: values, reconstruction and orthogonality within 1e-5`, async () => {
    const a = ref(`${name}/a`);
    const want = ref(`${name}/s`).data;
    const { s, u, v } = await la.svd(a);
    assert.equal(s.length, want.length);
    // Tolerance 1e-5 relative to σ_max (the bound): singular values are perturbation-stable in
    // absolute terms, so exact-zero values of the rank-deficient case are compared against σ_max too.
    for (let i = 0; i < s.length; i++) assert.ok(Math.abs(s[i] - want[i]) <= 1e-5 * Math.max(want[i], want[0] * 1e-6), `σ${i}: ${s[i]} vs ${want[i]}`);
    const us = matrix(u!.rows, u!.cols, u!.data.map((x, k) => x * s[k % u!.cols]));
    const rec = matmul(us, v!, { transB: true });
    const diff = matrix(a.rows, a.cols, a.data.map((x, k) => x - rec.data[k]));
    assert.ok(frobenius(diff) / frobenius(a) <= 1e-5, `reconstruction ${frobenius(diff) / frobenius(a)}`);
    assert.ok(orthoError(u!) <= 1e-5, `U orthogonality ${orthoError(u!)}`);
    assert.ok(orthoError(v!) <= 1e-5, `V orthogonality ${orthoError(v!)}`);
    // Values alone come from the bidiagonal QR, the pairs from divide and conquer: both backward
    // stable, so they agree to rounding relative to σ_max (not digit for digit at the noise floor
    // of the rank-deficient cases).
    const values = await la.svd(a, { vectors: false });
    for (let i = 0; i < s.length; i++) assert.ok(Math.abs(values.s[i] - s[i]) <= 1e-13 * s[0], `values only σ${i}: ${values.s[i]} vs ${s[i]}`);
  });
}

// top = k: the leading pairs, with U from A V / σ while σ_k ≥ 1e-4 σ_1 (svd.ts), else from the
// rotated bases (the rank10 cases with k = 12 and cond1e6 with k = 128 take that path: σ_k ≈ 0 or
// 1e-6 σ_1). The 300×100 and 60×250 cases go through the QR-first reduction (svd.ts, QR_FIRST).
for (const [name, k] of [['random_64x48', 20], ['random_120x200', 50], ['model_l3_down_proj', 100], ['cond1e6_128x128', 40], ['rank10_96x64', 12], ['cond1e6_128x128', 128], ['cond1e6_300x100', 30], ['rank10_60x250', 12]] as const) {
  test(`svd ${name} top ${k}: the full SVD's values and, up to sign, its leading ${k} pairs`, async () => {
    const a = ref(`${name}/a`);
    const full = await la.svd(a);
    const top = await la.svd(a, { top: k });
    assert.deepEqual(Array.from(top.s), Array.from(full.s));
    assert.equal(top.u!.cols, k);
    assert.equal(top.v!.cols, k);
    assert.ok(orthoError(top.u!) <= 1e-9, `U orthogonality ${orthoError(top.u!)}`);
    assert.ok(orthoError(top.v!) <= 1e-9, `V orthogonality ${orthoError(top.v!)}`);
    // Columns whose σ is separated from its neighbours are determined up to sign.
    const s = full.s;
    for (let j = 0; j < k; j++) {
      const gap = Math.min(j > 0 ? s[j - 1] - s[j] : Infinity, j + 1 < s.length ? s[j] - s[j + 1] : Infinity);
      if (gap < 1e-3 * s[0]) continue;
      for (const [x, y] of [[top.u!, full.u!], [top.v!, full.v!]]) {
        let dot = 0;
        for (let i = 0; i < x.rows; i++) dot += x.data[i * x.cols + j] * y.data[i * y.cols + j];
        assert.ok(Math.abs(Math.abs(dot) - 1) <= 1e-9, `pair ${j}: |cos| ${Math.abs(dot)}`);
      }
    }
  });
}
test('svd top: outside 1..min(m, n), or with full, is an error', async () => {
  const a = ref('random_64x48/a');
  for (const top of [0, 49, 2.5]) await assert.rejects(la.svd(a, { top }), /svd: top .* outside 1\.\.48/);
  await assert.rejects(la.svd(a, { top: 3, full: true }), /svd: top 3 outside 1\.\.48 \(or with full\)/);
});

test('cholesky and triangular solves match LAPACK to 1e-10 relative (well-conditioned SPD input)', async () => {
  const g = ref('chol/g');
  const { l, shift } = await la.cholesky(g);
  assert.equal(shift, 0);
  const want = ref('chol/l');
  const rel = (x: Matrix, y: Matrix) => frobenius(matrix(x.rows, x.cols, x.data.map((v, k) => v - y.data[k]))) / frobenius(y);
  assert.ok(rel(l, want) < 1e-10);
  const b = ref('chol/b');
  assert.ok(rel(await la.solveTriangular(l, b, { lower: true }), ref('chol/solve_lower')) < 1e-10);
  assert.ok(rel(await la.solveTriangular(l, b, { lower: true, transpose: true }), ref('chol/solve_upper_t')) < 1e-10);
  // Right side: X Lᵀ = Bᵀ  ⇔  L Xᵀ = B.
  const xr = await la.solveTriangular(l, transpose(b), { lower: true, side: 'right', transpose: true });
  assert.ok(rel(transpose(xr), ref('chol/solve_lower')) < 1e-10);
  const inv = await la.invTriangular(l, true);
  const eye = matmul(l, inv);
  for (let i = 0; i < eye.rows; i++) for (let j = 0; j < eye.cols; j++) assert.ok(Math.abs(eye.data[i * eye.cols + j] - (i === j ? 1 : 0)) < 1e-10);
});

test('cholesky of a rank-deficient Gram matrix shifts by −λ_min + ε and logs it (SVD-LLM rule)', async () => {
  const g = ref('chol_deficient/g');
  const eig = ref('chol_deficient/eig').data;
  const logs: string[] = [];
  const { l, shift, attempts } = await la.cholesky(g, { eps: 1e-6, log: (m) => logs.push(m) });
  assert.ok(attempts >= 2 && shift > 0);
  assert.equal(logs.length, attempts - 1);
  assert.match(logs[0], /not positive definite .* diagonal shift/);
  // First attempt's shift is −λ_min + 1e-6, with λ_min from our eigh matching LAPACK to 1e-8 of ‖G‖.
  const expected = Math.max(0, -eig[0]) + 1e-6 * 10 ** (attempts - 2);
  assert.ok(Math.abs(shift - expected) <= 1e-8 * eig[eig.length - 1], `${shift} vs ${expected}`);
  const rec = matmul(l, l, { transB: true });
  for (let i = 0; i < g.rows; i++) assert.ok(Math.abs(rec.data[i * g.rows + i] - g.data[i * g.rows + i] - shift) < 1e-8 * eig[eig.length - 1]);
});

test('eigh matches LAPACK eigenvalues and returns orthonormal vectors', async () => {
  const g = ref('chol/g');
  const { values, vectors } = await la.eigh(g);
  const x = ref('chol_deficient/g');
  const want = ref('chol_deficient/eig').data;
  const got = (await la.eigh(x, { vectors: false })).values;
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-9 * want[want.length - 1]);
  assert.ok(orthoError(vectors!) < 1e-10);
  for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1]);
});

test('full SVD: U is m×m and V is n×n, both orthogonal, and their leading columns reproduce A', async () => {
  for (const name of ['random_64x48', 'random_120x200', 'rank10_96x64', 'cond1e6_300x100', 'rank10_60x250']) {
    const a = ref(`${name}/a`);
    const { s, u, v } = await la.svd(a, { full: true });
    assert.equal(u!.rows, a.rows);
    assert.equal(u!.cols, a.rows);
    assert.equal(v!.rows, a.cols);
    assert.equal(v!.cols, a.cols);
    // Same 1e-5 bound as the thin case: the completed columns come from the same reflectors.
    assert.ok(orthoError(u!) <= 1e-5, `${name}: U orthogonality ${orthoError(u!)}`);
    assert.ok(orthoError(v!) <= 1e-5, `${name}: V orthogonality ${orthoError(v!)}`);
    const k = s.length;
    const us = matrix(a.rows, k, Float64Array.from({ length: a.rows * k }, (_, i) => u!.data[Math.floor(i / k) * a.rows + (i % k)] * s[i % k]));
    const vk = matrix(a.cols, k, Float64Array.from({ length: a.cols * k }, (_, i) => v!.data[Math.floor(i / k) * a.cols + (i % k)]));
    const rec = matmul(us, vk, { transB: true });
    const diff = matrix(a.rows, a.cols, a.data.map((x, i) => x - rec.data[i]));
    assert.ok(frobenius(diff) / frobenius(a) <= 1e-5, `${name}: reconstruction ${frobenius(diff) / frobenius(a)}`);
  }
});

test('eigh vectors satisfy A v = λ v on an indefinite matrix, values match LAPACK', async () => {
  // Indefinite and rank-deficient: G − mean(diag)·I has eigenvalues of both signs and a 44-fold one.
  const g = ref('chol_deficient/g');
  const want = ref('chol_deficient/eig').data;
  const n = g.rows;
  let c = 0;
  for (let i = 0; i < n; i++) c += g.data[i * n + i] / n;
  const a = matrix(n, n, g.data.map((x, i) => (Math.floor(i / n) === i % n ? x - c : x)));
  const { values, vectors } = await la.eigh(a);
  const scale = want[n - 1];
  // 1e-9·‖G‖: the shifted-SVD route errs by a few ε·‖A‖ (LAPACK's own accuracy is ε·‖A‖).
  for (let i = 0; i < n; i++) assert.ok(Math.abs(values[i] - (want[i] - c)) <= 1e-9 * scale, `λ${i}: ${values[i]} vs ${want[i] - c}`);
  assert.ok(orthoError(vectors!) <= 1e-10);
  const av = matmul(a, vectors!);
  let res = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) res = Math.max(res, Math.abs(av.data[i * n + j] - values[j] * vectors!.data[i * n + j]));
  assert.ok(res <= 1e-9 * scale, `residual ${res}`);
});

test('getLinalg falls back to the portable implementation on the cpu backend', async () => {
  await initBackend('cpu');
  assert.equal(getLinalg().name, 'portable');
});

test('a matrix that stays indefinite after maxAttempts shifts is an error, not a wrong factor', async () => {
  // Shifted by −λ_min + ε the matrix is always positive definite, so force failure with maxAttempts 1.
  const g = ref('chol_deficient/g');
  await assert.rejects(la.cholesky(g, { maxAttempts: 1 }), /not positive definite after 1 attempts/);
});
