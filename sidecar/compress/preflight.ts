// Checks a run makes before any work, so that a plan that cannot finish fails in seconds, not
// after hours of calibration: the output folder must be new and writable and must not overlap
// the model folder once symbolic links are resolved (plan.ts compares the paths as written), and
// temporary folders that killed runs left beside the output are removed.
import { realpath, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { PlanError } from '../errors';
import { checkOutputLocation, tempFoldersOf } from '../checkpoint/writer';
import type { Plan } from '../plan/plan';
import type { Job } from './job';

/** p with symbolic links resolved as far as it exists (the output usually does not exist yet). */
async function resolvedPath(p: string): Promise<string> {
  const rest: string[] = [];
  for (let head = p; ; head = dirname(head)) {
    const real = await realpath(head).catch(() => undefined);
    if (real !== undefined) return join(real, ...rest);
    if (dirname(head) === head) return p;
    rest.unshift(basename(head));
  }
}

const within = (child: string, parent: string) => {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/** Whether a process with this id exists (EPERM: it does, under another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function preflight(plan: Plan, job: Job): Promise<void> {
  const model = await resolvedPath(plan.model);
  const output = await resolvedPath(plan.output);
  if (within(output, model)) throw new PlanError(`plan: "output" (${plan.output}) resolves to ${output}, inside the model folder ${model}`);
  if (within(model, output)) throw new PlanError(`plan: "output" (${plan.output}) resolves to ${output}, which contains the model folder ${model}`);
  await checkOutputLocation(plan.output);
  for (const t of await tempFoldersOf(plan.output)) {
    if (t.pid !== process.pid && !running(t.pid)) {
      await rm(t.path, { recursive: true, force: true });
      job.log('info', `removed ${t.path}: the unfinished output of an earlier run (process ${t.pid}) that did not end cleanly`);
    } else {
      job.log('warn', `left ${t.path} in place: process ${t.pid} that writes it is still running`);
    }
  }
}
