// Runs this CLI again as a child with the engine's environment (engine-env.ts), when it was started
// without it. The child gets a process group of its own so that a terminal's Ctrl-C reaches it
// once, through this process, which forwards SIGINT, SIGTERM and SIGHUP and exits as the child did.
// (A SIGKILL cannot be forwarded: the child then runs on to its end, as a detached job would.)
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { engineEnv } from '../engine-env';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The child's exit code (128 + signal number when a signal ended it). */
export function relaunch(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: engineEnv(), detached: true });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of FORWARDED) process.on(s, forward);
    const done = () => FORWARDED.forEach((s) => process.off(s, forward));
    child.once('error', (e) => {
      done();
      reject(e);
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
