// The wasm backend on its threaded build (sidecar/tensor/wasm-threads.ts): the thread count, the
// product it computes, the fallback to one thread, and a process that ends by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { MAX_WASM_THREADS, wasmThreads } from '../../../sidecar/tensor/wasm-threads';

const CHILD = join(__dirname, '..', '..', 'fixtures', 'wasm-backend-child.js');

interface ChildResult { name: string; threads: number; threaded: boolean; logs: string[]; product: number[]; sigma: number[] }

/** Runs the child with these node flags and thread setting; it must end by itself (no process.exit). */
function child(nodeFlags: string[], threads?: string): ChildResult {
  const env = { ...process.env };
  delete env.RANKWISE_WASM_THREADS;
  if (threads) env.RANKWISE_WASM_THREADS = threads;
  const r = spawnSync(process.execPath, [...nodeFlags, CHILD], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, `the child did not end by itself: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ChildResult;
}

/** The child's product in float64: A[i][k] = sin(200 i + k), B[k][j] = cos(100 k + j). */
function exactProduct(): number[] {
  const out: number[] = [];
  for (let i = 0; i < 300; i++) {
    for (let j = 0; j < 100; j++) {
      let s = 0;
      for (let k = 0; k < 200; k++) s += Math.fround(Math.sin(i * 200 + k)) * Math.fround(Math.cos(k * 100 + j));
      out.push(s);
    }
  }
  return out;
}

test('wasmThreads: one per core up to 8 by default, RANKWISE_WASM_THREADS otherwise, bad values refused', () => {
  assert.equal(wasmThreads({}), Math.min(MAX_WASM_THREADS, availableParallelism()));
  assert.equal(wasmThreads({ RANKWISE_WASM_THREADS: '' }), Math.min(MAX_WASM_THREADS, availableParallelism()));
  assert.equal(wasmThreads({ RANKWISE_WASM_THREADS: '3' }), 3);
  assert.equal(wasmThreads({ RANKWISE_WASM_THREADS: '64' }), MAX_WASM_THREADS);
  for (const bad of ['0', '-2', '1.5', 'two']) {
    assert.throws(() => wasmThreads({ RANKWISE_WASM_THREADS: bad }), /RANKWISE_WASM_THREADS must be a positive integer/);
  }
});

test('wasm backend: the threaded build runs the threads asked for, and its product is the one-thread build\'s', () => {
  const threaded = child([], '2');
  assert.equal(threaded.name, 'wasm');
  assert.equal(threaded.threaded, true);
  assert.equal(threaded.threads, 2);
  assert.ok(threaded.logs.includes('tensor backend: wasm (2 threads)'), threaded.logs.join('\n'));
  const exact = exactProduct();
  const worst = Math.max(...threaded.product.map((v, i) => Math.abs(v - exact[i])));
  assert.ok(worst < 1e-4, `largest error ${worst}`);

  // Without SharedArrayBuffer the threaded build cannot start: tfjs's own one-thread build runs,
  // and the log says why. XNNPACK splits a product by output tiles, so the values are identical.
  const single = child(['--no-harmony-sharedarraybuffer']);
  assert.equal(single.name, 'wasm');
  assert.equal(single.threaded, false);
  assert.equal(single.threads, 1);
  assert.match(single.logs[0], /the threaded build did not start \(SharedArrayBuffer is not defined\); running on one thread/);
  assert.deepEqual(single.product, threaded.product);
  // The linear-algebra pool, which needs shared memory too, runs its jobs on the calling thread.
  assert.equal(single.sigma.length, 80);
  assert.deepEqual(single.sigma, threaded.sigma);
});
