import { loadPlan } from '../plan/plan';
import type { BackendChoice } from '../rpc/protocol';
import { compress } from '../compress/run';
import { reportMarkdown } from '../compress/report';
import type { Job } from '../compress/job';

export async function compressCommand(planPath: string, backend: BackendChoice | undefined, job: Job): Promise<{ json: unknown; text: string }> {
  const plan = await loadPlan(planPath);
  if (backend) plan.backend = backend;
  const r = await compress(plan, job);
  const { report: _report, reportPath, ...rest } = r;
  const json = { ...rest, report_path: reportPath };
  return { json, text: reportMarkdown(r.report) + `\nReport written to ${r.reportPath}\n` };
}
