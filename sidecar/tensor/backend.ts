// Picks the best tfjs backend that loads here: native CUDA, native CPU, wasm (SIMD, threaded), plain JS.
// The native packages are optional dependencies: their install downloads libtensorflow, which
// fails offline, so their absence is normal and only logged.
import * as tf from '@tensorflow/tfjs-core';
import { dirname, join } from 'node:path';
import type { BackendChoice } from '../rpc/protocol';
import { registerThreadedWasm, wasmThreads } from './wasm-threads';
import { registerWasmSlices } from './wasm-slice';

export interface BackendInfo {
  /** What the user chose or `auto`. */
  requested: BackendChoice;
  /** Our name for what runs: node-gpu, node, wasm or cpu. */
  name: Exclude<BackendChoice, 'auto'>;
  /** tfjs's registered backend name (`tensorflow`, `wasm`, `cpu`). */
  tfName: string;
  /** Why better backends were skipped, for the log. */
  skipped: string[];
  /** Threads of the wasm backend's products (1 elsewhere: the native ones manage their own). */
  threads: number;
}

const ORDER: Exclude<BackendChoice, 'auto'>[] = ['node-gpu', 'node', 'wasm', 'cpu'];

let threadedRegistered = false;

async function load(name: Exclude<BackendChoice, 'auto'>, log: (msg: string) => void): Promise<string> {
  switch (name) {
    case 'node-gpu':
      // Both native packages register the backend as `tensorflow`; the GPU one links CUDA.
      require('@tensorflow/tfjs-node-gpu');
      return 'tensorflow';
    case 'node':
      require('@tensorflow/tfjs-node');
      return 'tensorflow';
    case 'wasm': {
      const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
      const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
      wasm.setWasmPaths(join(dir, 'dist') + '/');
      if (!threadedRegistered) {
        threadedRegistered = true;
        registerThreadedWasm(wasm, wasmThreads(), (why) => log(`wasm backend: the threaded build did not start (${why}); running on one thread`));
        registerWasmSlices();
      }
      return 'wasm';
    }
    case 'cpu':
      require('@tensorflow/tfjs-backend-cpu');
      return 'cpu';
  }
}

let current: BackendInfo | undefined;

/** Initialises tfjs once per process; later calls return the first result unless the choice differs. */
export async function initBackend(requested: BackendChoice = 'auto', log: (msg: string) => void = () => {}): Promise<BackendInfo> {
  if (current && (requested === 'auto' || requested === current.name)) return current;
  const candidates = requested === 'auto' ? ORDER : [requested];
  const skipped: string[] = [];
  for (const name of candidates) {
    try {
      const tfName = await load(name, log);
      if (!(await tf.setBackend(tfName))) throw new Error(`tfjs could not initialise backend ${tfName}`);
      await tf.ready();
      const threads = name === 'wasm' ? (require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm')).getThreadsCount() : 1;
      current = { requested, name, tfName, skipped, threads };
      log(`tensor backend: ${name}${threads > 1 ? ` (${threads} threads)` : ''}${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}`);
      return current;
    } catch (e) {
      const why = (e as Error).message.split('\n')[0];
      skipped.push(`${name}: ${why}`);
    }
  }
  throw new Error(`no tensor backend could be loaded: ${skipped.join('; ')}`);
}

export function backendInfo(): BackendInfo | undefined {
  return current;
}
