// The sidecar's JSON-RPC server: one engine call per request, progress as notifications,
// `$/cancelRequest` mapped to an AbortSignal, every failure a ResponseError with a code.
import { CancellationToken, MessageConnection, ResponseError } from 'vscode-jsonrpc';
import { dirname, resolve } from 'node:path';
import { openCheckpoint } from '../checkpoint/checkpoint';
import { CheckpointError } from '../checkpoint/errors';
import { ArchError, resolveArch } from '../arch/table';
import { summarize } from '../inspect/summary';
import { initBackend, backendInfo } from '../tensor/backend';
import { loadPlan, validatePlan, type Calibration } from '../plan/plan';
import { compress } from '../compress/run';
import type { Job } from '../compress/job';
import { CancelledError, PlanError, RankwiseError, isCancel } from '../errors';
import { spectrum } from '../inspect/spectrum';
import { layerRedundancy } from '../inspect/redundancy';
import { ErrorCodes, Notifications, PROTOCOL_VERSION, Requests, type BackendChoice, type LogParams } from './protocol';

export function toResponseError(e: unknown): ResponseError<void> {
  // A cancelled compression's message says what was kept for resuming.
  if (isCancel(e)) return new ResponseError(ErrorCodes.Cancelled, e instanceof CancelledError ? e.message : 'cancelled');
  if (e instanceof RankwiseError) return new ResponseError(e.code, e.message);
  if (e instanceof CheckpointError || e instanceof ArchError) return new ResponseError(ErrorCodes.InvalidCheckpoint, e.message);
  if (e instanceof RangeError && /allocation failed|Invalid typed array length|Array buffer/i.test(e.message)) {
    return new ResponseError(ErrorCodes.OutOfMemory, `out of memory: ${e.message}`);
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return new ResponseError(ErrorCodes.NotFound, err.message);
  return new ResponseError(ErrorCodes.Internal, err?.message ?? String(e));
}

/** A request's calibration settings, checked as a plan's calibration block is, so errors name the field. */
function calibrationOf(dir: string, raw: unknown): Calibration & { data: string } {
  const { calibration } = validatePlan({ model: dir, output: `${dir}.calibration`, method: 'layer-removal', calibration: raw }, process.cwd());
  if (!calibration.data) throw new PlanError('"calibration.data" is required: the text the statistics come from');
  return { ...calibration, data: calibration.data };
}

export function serve(connection: MessageConnection, opts: { backend: BackendChoice; version: string; exit: (code: number) => void }): void {
  const log = (level: LogParams['level'], message: string) => {
    process.stderr.write(`[${level}] ${message}\n`);
    void connection.sendNotification(Notifications.log, { level, message });
  };
  const jobFor = (token: CancellationToken, progressToken?: string): Job => {
    const controller = new AbortController();
    if (token.isCancellationRequested) controller.abort();
    token.onCancellationRequested(() => controller.abort());
    return {
      signal: controller.signal,
      progress: (phase, done, total, message) => {
        if (progressToken) void connection.sendNotification(Notifications.progress, { token: progressToken, phase, done, total, message });
      },
      log,
    };
  };
  const handle = <P, R>(fn: (p: P, token: CancellationToken) => Promise<R>) => async (p: P, token: CancellationToken): Promise<R | ResponseError<void>> => {
    try {
      return await fn(p, token);
    } catch (e) {
      const re = toResponseError(e);
      log(re.code === ErrorCodes.Internal ? 'error' : 'info', `${re.message}${re.code === ErrorCodes.Internal && e instanceof Error ? `\n${e.stack}` : ''}`);
      return re;
    }
  };
  const backend = () => initBackend(opts.backend, (m) => log('info', m));

  const hello = handle(async () => ({ protocol: PROTOCOL_VERSION, version: opts.version, backend: (await backend()).name, pid: process.pid }));
  connection.onRequest(Requests.hello, (token) => hello(undefined, token));
  const open = handle(async (p: { dir: string }) => {
    const ckpt = await openCheckpoint(resolve(p.dir));
    try {
      return summarize(ckpt);
    } finally {
      await ckpt.close();
    }
  });
  connection.onRequest(Requests.open, open);
  connection.onRequest(Requests.tree, open);
  connection.onRequest(Requests.spectrum, handle(async (p, token) => {
    await backend();
    const job = jobFor(token, p.progressToken);
    const ckpt = await openCheckpoint(resolve(p.dir));
    try {
      const arch = resolveArch(ckpt.config, ckpt.tensors.keys());
      return await spectrum(ckpt, arch, p.name, job, backendInfo()!.name, p.calibration && calibrationOf(p.dir, p.calibration));
    } finally {
      await ckpt.close();
    }
  }));
  connection.onRequest(Requests.redundancy, handle(async (p, token) => {
    const calibration = calibrationOf(p.dir, p.calibration);
    await backend();
    return layerRedundancy(resolve(p.dir), calibration, jobFor(token, p.progressToken), backendInfo()!.name);
  }));
  connection.onRequest(Requests.compress, handle(async (p, token) => {
    const plan = p.planPath ? await loadPlan(resolve(p.planPath)) : validatePlan(p.plan, resolve(p.baseDir ?? (p.planPath ? dirname(p.planPath) : process.cwd())));
    if (opts.backend !== 'auto' && plan.backend === 'auto') plan.backend = opts.backend;
    return compress(plan, jobFor(token, p.progressToken));
  }));
  connection.onRequest(Requests.shutdown, async () => {
    // The response is written after this handler resolves (vscode-jsonrpc queues writes), so exit a
    // moment later; a client that closes the pipe first ends the process through onClose anyway.
    setTimeout(() => opts.exit(0), 100);
  });
}
