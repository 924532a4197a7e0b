// The extension's side of the sidecar: started lazily on the first request, restarted once if it
// dies, and every failure turned into an error the caller can show (never a hang). No vscode
// import: the extension passes in where logs go, so this is tested with plain Node.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  CancellationToken, createMessageConnection, ErrorCodes as RpcErrors, ResponseError, StreamMessageReader, StreamMessageWriter,
  type MessageConnection, type RequestType, type RequestType0,
} from 'vscode-jsonrpc/node';
import { Notifications, Requests, type LogParams, type ProgressParams } from '../../sidecar/rpc/protocol';
import { engineEnv } from '../../sidecar/engine-env';

export interface SidecarOptions {
  /** Program that runs JavaScript: a Node binary, or VS Code's own executable with ELECTRON_RUN_AS_NODE. */
  command: string;
  script: string;
  args?: string[];
  /** The process's environment (default this one's), with the engine's settings added (engine-env.ts). */
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** Lowest level of the sidecar's `[level] message` lines to pass to log; other stderr lines always pass. */
  logLevel?: LogLevel;
  /** Called when the process exits unexpectedly, with whether the next request will start it again. */
  onExit?: (info: SidecarExit & { willRestart: boolean }) => void;
}

/** How a sidecar process ended, as the client saw it. */
export interface SidecarExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** V8 said "JavaScript heap out of memory" on stderr before the process ended. */
  outOfMemory: boolean;
}

/** The sidecar could not be started, or ended before answering; `exit` says how, when it ran at all. */
export class SidecarExitedError extends Error {
  constructor(message: string, readonly exit?: SidecarExit) {
    super(message);
  }
}

const OUT_OF_MEMORY = /JavaScript heap out of memory/;
/** stderr lines kept per process, to tell why it ended. */
const TAIL_LINES = 40;

export type LogLevel = LogParams['level'];
const LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Whether a sidecar stderr line passes the level filter (crash traces and other output always do). */
export function passesLevel(line: string, min: LogLevel): boolean {
  const level = /^\[(debug|info|warn|error)\] /.exec(line)?.[1] as LogLevel | undefined;
  return !level || LEVELS.indexOf(level) >= LEVELS.indexOf(min);
}

interface Running { child: ChildProcess; connection: MessageConnection }

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** How a process ended, in words for a message. */
export function describeExit(e: SidecarExit): string {
  if (e.outOfMemory) return 'JavaScript heap limit';
  if (e.signal === 'SIGKILL') return 'SIGKILL: killed by the system, e.g. when memory ran out, or by a user';
  return e.signal ?? `exit code ${e.code}`;
}

export class SidecarClient {
  private running?: Promise<Running>;
  private crashes = 0;
  /** Processes stop() ended on purpose: their exit is not a crash. */
  private readonly stopped = new WeakSet<ChildProcess>();
  private readonly exits = new WeakMap<ChildProcess, SidecarExit>();
  private readonly progress = new Map<string, (p: ProgressParams) => void>();
  private nextToken = 0;
  private currentPid?: number;

  /** options is read at every start, so changed settings apply from the next (re)start. */
  constructor(private readonly options: () => SidecarOptions) {}

  /** Process id of the running sidecar, undefined before the first request and after an exit. */
  get pid(): number | undefined {
    return this.currentPid;
  }

  private start(): Promise<Running> {
    this.running ??= new Promise<Running>((resolve, reject) => {
      const opts = this.options();
      const child = spawn(opts.command, [opts.script, ...(opts.args ?? [])], { stdio: ['pipe', 'pipe', 'pipe'], env: engineEnv(opts.env ?? process.env) });
      let pending = '';
      const tail: string[] = [];
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => {
        const lines = (pending + d).split('\n');
        pending = lines.pop()!;
        tail.push(...lines);
        tail.splice(0, tail.length - TAIL_LINES);
        lines.filter((l) => l && passesLevel(l, opts.logLevel ?? 'info')).forEach((l) => opts.log(l));
      });
      // A write racing the process's death fails with EPIPE; the exit handler reports the death.
      child.stdin!.on('error', (e) => opts.log(`sidecar stdin: ${e.message}`));
      const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
      connection.onNotification(Notifications.progress, (p) => this.progress.get(p.token)?.(p));
      connection.onNotification(Notifications.log, () => {}); // the same lines arrive on stderr
      // 'close' (not 'exit') comes after stderr is drained, so the last words of a crash are in `tail`.
      // This listener is the child's first, so requests' own 'close' listeners find the exit recorded.
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        if (child.pid === undefined) return; // never started: 'error' reported it
        const exit = { code, signal, outOfMemory: [...tail, pending].some((l) => OUT_OF_MEMORY.test(l)) };
        this.exits.set(child, exit);
        if (pending) opts.log(pending);
        connection.dispose();
        if (this.currentPid === child.pid) {
          this.running = undefined;
          this.currentPid = undefined;
        }
        if (this.stopped.has(child)) return;
        this.crashes++;
        const willRestart = this.crashes === 1;
        opts.log(`sidecar exited (${describeExit(exit)})${willRestart ? '; it starts again on the next request' : ''}`);
        opts.onExit?.({ ...exit, willRestart });
      });
      child.once('error', (e) => {
        this.running = undefined;
        reject(new SidecarExitedError(`could not start the Rankwise sidecar (${opts.command} ${opts.script}): ${e.message}`));
      });
      child.once('spawn', () => {
        this.currentPid = child.pid;
        connection.listen();
        resolve({ child, connection });
      });
    });
    return this.running;
  }

  /**
   * Sends a request (starting the sidecar if needed). The token's cancellation reaches the sidecar
   * as `$/cancelRequest`; onProgress receives the `rankwise/progress` notifications of this request.
   * If the sidecar dies during the request, the promise rejects with SidecarExitedError.
   */
  async request<R>(type: RequestType0<R, void>, params?: undefined, token?: CancellationToken): Promise<R>;
  async request<P extends object, R>(type: RequestType<P, R, void>, params: P, token?: CancellationToken, onProgress?: (p: ProgressParams) => void): Promise<R>;
  async request<P extends object, R>(type: RequestType<P, R, void> | RequestType0<R, void>, params?: P, token?: CancellationToken, onProgress?: (p: ProgressParams) => void): Promise<R> {
    if (this.crashes > 1) throw new SidecarExitedError('the Rankwise sidecar crashed twice; run "Rankwise: Restart sidecar"');
    const { child, connection } = await this.start();
    if (!alive(child)) throw new SidecarExitedError('the Rankwise sidecar stopped before the request was sent');
    const progressToken = onProgress ? `rankwise-${process.pid}-${++this.nextToken}` : undefined;
    if (progressToken) this.progress.set(progressToken, onProgress!);
    let onClose = () => {};
    const exited = new Promise<never>((_, reject) => {
      onClose = () => {
        const exit = this.exits.get(child)!;
        reject(new SidecarExitedError(exit.outOfMemory
          ? `the Rankwise sidecar ran out of memory during the request (${describeExit(exit)})`
          : `the Rankwise sidecar stopped during the request (${describeExit(exit)})`, exit));
      };
      child.once('close', onClose);
    });
    try {
      const sent = type.numberOfParams === 0
        ? connection.sendRequest(type as RequestType0<R, void>, token)
        : connection.sendRequest(type as RequestType<P, R, void>, (progressToken ? { ...params, progressToken } : params) as P, token);
      return await Promise.race([sent, exited]).catch(async (e: unknown) => {
        if (e instanceof ResponseError && e.code !== RpcErrors.PendingResponseRejected && e.code !== RpcErrors.ConnectionInactive) throw e;
        // The connection broke before the process was reaped: report the exit, which follows within moments.
        const died = await Promise.race([exited.catch((x: unknown) => x), new Promise((r) => setTimeout(() => r(e), 2000))]);
        throw died;
      });
    } finally {
      child.off('close', onClose);
      if (progressToken) this.progress.delete(progressToken);
    }
  }

  /** Explicit restart ("Rankwise: Restart sidecar"): also resets the crash budget. */
  async restart(): Promise<void> {
    await this.stop();
    this.crashes = 0;
  }

  /** Asks the sidecar to shut down, and kills it if it has not exited within a second. */
  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    this.currentPid = undefined;
    if (!running) return;
    const { child, connection } = await running.catch(() => ({ child: undefined, connection: undefined }));
    if (!child || !alive(child)) return;
    this.stopped.add(child);
    const gone = new Promise<void>((r) => child.once('close', () => r()));
    connection!.sendRequest(Requests.shutdown).catch(() => {}); // the process may exit before it answers
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
    await gone;
    clearTimeout(timer);
  }
}
