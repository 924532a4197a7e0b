// The kernels' two binaries (scripts/build.mjs, sidecar/linalg/wasm-kernel.ts): the product kernels'
// fused ones, which this Node compiles (Node 20 behind a flag the engine sets), and the plain ones
// everywhere with RANKWISE_WASM_FMA=off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fusedKernels, type KernelBinary } from '../../../sidecar/linalg/wasm-kernel';

declare const GEMM_KERNEL_WASM: KernelBinary;
declare const GRAM_KERNEL_WASM: KernelBinary;
declare const ATTENTION_KERNEL_WASM: KernelBinary;
declare const GEMV_KERNEL_WASM: KernelBinary;
declare const RMSNORM_KERNEL_WASM: KernelBinary;
declare const LSE_KERNEL_WASM: KernelBinary;

const bytes = (b64: string) => Buffer.from(b64, 'base64');

test('the product kernels have a fused binary that differs from the plain one, and this process runs it', () => {
  for (const [name, k] of Object.entries({ gemm: GEMM_KERNEL_WASM, gram: GRAM_KERNEL_WASM, attention: ATTENTION_KERNEL_WASM })) {
    assert.ok(k.fused, `${name}: no fused binary`);
    assert.notEqual(k.fused, k.plain, name);
    assert.equal(WebAssembly.validate(bytes(k.plain)), true, name);
  }
  // The kernels with no tile products keep one binary.
  for (const k of [GEMV_KERNEL_WASM, RMSNORM_KERNEL_WASM, LSE_KERNEL_WASM]) assert.equal(k.fused, undefined);
  assert.equal(fusedKernels(), true);
  for (const k of [GEMM_KERNEL_WASM, GRAM_KERNEL_WASM, ATTENTION_KERNEL_WASM]) assert.equal(WebAssembly.validate(bytes(k.fused!)), true);
});

test('RANKWISE_WASM_FMA=off runs the plain kernels: the Gram kernel then rounds each product before adding it', () => {
  // The Gram kernel's exact-sum tests in a process of their own, on the plain binary.
  const file = join(__dirname, 'gram-kernel.test.js');
  // Without the runner's context a test file reports in TAP on its own.
  const env: NodeJS.ProcessEnv = { ...process.env, RANKWISE_WASM_FMA: 'off' };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, [file], { env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /# pass 2\b/);
  assert.deepEqual(fusedIn({ RANKWISE_WASM_FMA: 'off' }), { fused: false });
  assert.deepEqual(fusedIn({}), { fused: true });
});

/** What a fresh process with this setting decides (a Node 20 one starts with relaxed SIMD off). */
function fusedIn(setting: NodeJS.ProcessEnv): unknown {
  const env = { ...process.env, ...setting };
  if (!('RANKWISE_WASM_FMA' in setting)) delete env.RANKWISE_WASM_FMA;
  const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'fixtures', 'fused-kernels-child.js')], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}
