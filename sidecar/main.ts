// Sidecar entry (`node dist/sidecar.js [--backend X]`): JSON-RPC over stdio, logs on stderr.
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { serve } from './rpc/server';
import { BACKENDS } from './plan/plan';
import type { BackendChoice } from './rpc/protocol';

// stdout carries JSON-RPC frames only: anything a library prints must go to stderr.
console.log = console.error;
console.info = console.error;
console.warn = console.error;

const i = process.argv.indexOf('--backend');
const backend = (i > 0 ? process.argv[i + 1] : process.env.RANKWISE_BACKEND ?? 'auto') as BackendChoice;
if (!BACKENDS.includes(backend)) {
  process.stderr.write(`rankwise sidecar: --backend must be one of ${BACKENDS.join(', ')}\n`);
  process.exit(2);
}

const connection = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
serve(connection, { backend, version: process.env.RANKWISE_VERSION ?? '0.1.0', exit: (code) => process.exit(code) });
connection.onClose(() => process.exit(0));
connection.listen();
process.stderr.write(`rankwise sidecar ${process.pid} listening on stdio\n`);
