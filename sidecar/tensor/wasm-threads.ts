// The wasm backend on several threads under Node. tfjs-backend-wasm ships a multi-threaded SIMD
// build, and Emscripten built it with Node support (pthreads as worker_threads), but tfjs's loader
// never picks it under Node (tfjs issue 3830): it hands the pthread workers a Blob URL, which
// worker_threads cannot start. Here the same build is started with its worker script written to a
// file, and registered as tfjs's `wasm` backend with the same kernels. XNNPACK's matrix products
// then split across threads: a 4096×688 by 688×688 product went from 40 to 75 GFLOP/s on 2 cores.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { withShortSpins } from './pthreadpool-spin';

/** tfjs's own limit: the build starts 8 pthread workers and XNNPACK's pool uses at most those. */
export const MAX_WASM_THREADS = 8;

/** Threads for the wasm backend: RANKWISE_WASM_THREADS if set, else one per core (at most 8). */
export function wasmThreads(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.RANKWISE_WASM_THREADS;
  if (raw === undefined || raw === '') return Math.min(MAX_WASM_THREADS, os.availableParallelism());
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`RANKWISE_WASM_THREADS must be a positive integer, not "${raw}"`);
  return Math.min(MAX_WASM_THREADS, n);
}

type WasmPackage = typeof import('@tensorflow/tfjs-backend-wasm');
type BackendModule = ConstructorParameters<WasmPackage['BackendWasm']>[0];
interface PThreads { unusedWorkers: { terminate(): unknown }[]; runningWorkers: { unref(): void }[] }
type ThreadedModule = BackendModule & {
  /** Emscripten's wrapper of an exported C function; its JavaScript type is given where it is used. */
  cwrap<F extends (...args: never[]) => unknown>(name: string, result: string | null, args: string[]): F;
  PThread: PThreads;
};

/**
 * Replaces the registered `wasm` backend by one that starts the threaded build with `threads`
 * threads. If that fails (no SharedArrayBuffer, workers that cannot start), tfjs's own factory
 * runs instead and `onFallback` says why.
 */
export function registerThreadedWasm(wasm: WasmPackage, threads: number, onFallback: (why: string) => void): void {
  const plain = tf.engine().findBackendFactory('wasm');
  if (!plain) throw new Error('the wasm backend is not registered');
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', async () => {
    try {
      wasm.setThreadsCount(threads);
      const backend = new wasm.BackendWasm(await startThreaded(threads));
      const pthread = (backend.wasm as ThreadedModule).PThread;
      // The build starts 8 workers whatever the count; the ones XNNPACK did not take only hold
      // memory (each its own V8 heap). Those it took wait on a futex between products: unreferenced,
      // they do not keep the process alive.
      pthread.unusedWorkers.splice(0).forEach((w) => w.terminate());
      pthread.runningWorkers.forEach((w) => w.unref());
      return backend;
    } catch (e) {
      onFallback((e as Error).message ?? String(e));
      wasm.setThreadsCount(1);
      return plain();
    }
  }, 2);
}

async function startThreaded(threads: number): Promise<ThreadedModule> {
  const out = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
  const script = join(out, 'tfjs-backend-wasm-threaded-simd.js');
  const worker = workerScript(out);
  // The pthread workers are handed the module compiled from this binary, so they spin as briefly.
  const wasmBinary = withShortSpins(readFileSync(join(out, 'tfjs-backend-wasm-threaded-simd.wasm')));
  const factory = require(script) as (config: object) => Promise<ThreadedModule>;
  // The build's C++ sizes its thread cap once, while it starts, as os.cpus().length / 2 (it
  // assumes two hyperthreads per core; in Node Emscripten reads os.cpus()). Report 2 × threads
  // for that moment, so the cap is the count asked for.
  const cpus = os.cpus;
  os.cpus = () => Array.from({ length: 2 * threads }, () => cpus()[0]);
  try {
    const module = await factory({
      locateFile: (file: string) => (file.endsWith('.worker.js') ? worker : join(out, file)),
      mainScriptUrlOrBlob: script,
      ...(wasmBinary ? { wasmBinary } : {}),
    });
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    return module;
  } finally {
    os.cpus = cpus;
  }
}

/** The pthread worker's script, as a file (worker_threads starts files, not Blobs). The package
 *  holds it as a string; it is written once per content under the temporary folder. */
function workerScript(out: string): string {
  const { wasmWorkerContents } = require(join(out, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  // The string holds its own "\n" escapes as real newlines (tfjs escapes them again before use).
  const text = wasmWorkerContents.replace(/\n/g, '\\n');
  const file = join(os.tmpdir(), `rankwise-tfjs-wasm-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.worker.js`);
  if (!existsSync(file)) {
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, text);
    renameSync(partial, file);
  }
  return file;
}
