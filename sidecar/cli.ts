// `rankwise` command line: the same engine as the sidecar, without RPC. With --json each command
// prints exactly one JSON object on stdout; errors are one line on stderr and a non-zero exit.
import { resolve } from 'node:path';
import { BACKENDS } from './plan/plan';
import type { BackendChoice } from './rpc/protocol';
import { CancelledError, isCancel } from './errors';
import { parseArgs, flagString, flagInt, UsageError, type Args } from './cli/args';
import { inspectCommand } from './cli/inspect';
import { compressCommand } from './cli/compress';
import { evalCommand } from './cli/eval-command';
import { stderrJob } from './cli/progress';
import { relaunch } from './cli/relaunch';
import { lacksEngineEnv } from './engine-env';

const USAGE = `usage:
  rankwise inspect DIR [--json]
  rankwise compress PLAN [--json] [--backend auto|node-gpu|node|wasm|cpu] [--quiet]
  rankwise eval DIR --data FILE [--seq-len L] [--batch B] [--json] [--backend ...]`;

function backendFlag(args: Args): BackendChoice | undefined {
  const b = flagString(args, 'backend');
  if (b !== undefined && !BACKENDS.includes(b as BackendChoice)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}`);
  return b as BackendChoice | undefined;
}

async function main(argv: string[]): Promise<number> {
  // Before anything else: the engine's process must start with its environment (engine-env.ts).
  if (lacksEngineEnv()) return relaunch();
  const [command, ...rest] = argv;
  const args = parseArgs(rest, ['backend', 'data', 'seq-len', 'batch']);
  const json = args.flags.has('json');
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  const job = stderrJob(controller.signal, json || args.flags.has('quiet'));
  const need = (n: number, what: string) => {
    if (args.positionals.length !== n) throw new UsageError(`${command}: expected ${what}`);
  };
  let result: { json: unknown; text: string };
  switch (command) {
    case 'inspect':
      need(1, 'one checkpoint folder');
      result = await inspectCommand(resolve(args.positionals[0]));
      break;
    case 'compress':
      need(1, 'one plan file');
      result = await compressCommand(resolve(args.positionals[0]), backendFlag(args), job);
      break;
    case 'eval': {
      need(1, 'one checkpoint folder');
      const data = flagString(args, 'data');
      if (!data) throw new UsageError('eval: --data FILE is required');
      result = await evalCommand({
        dir: resolve(args.positionals[0]), data: resolve(data), seqLen: flagInt(args, 'seq-len'),
        batch: flagInt(args, 'batch'), backend: backendFlag(args), job,
      });
      break;
    }
    case undefined:
    case '--help':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
  process.stdout.write(json ? JSON.stringify(result.json) + '\n' : result.text);
  return 0;
}

// tfjs and its backends may print to stdout; keep stdout for our own output.
console.log = console.error;
console.info = console.error;
console.warn = console.error;

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) process.stderr.write(`rankwise: ${e.message}\n${USAGE}\n`);
    else if (isCancel(e)) process.stderr.write(`rankwise: ${e instanceof CancelledError ? e.message : 'cancelled'}\n`);
    else process.stderr.write(`rankwise: ${(e as Error).message ?? String(e)}\n`);
    if (process.env.RANKWISE_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(isCancel(e) ? 130 : e instanceof UsageError ? 2 : 1);
  },
);
