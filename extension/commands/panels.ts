// "Show layer redundancy" and "Show spectrum": ask the sidecar under a cancellable progress
// notification, cache what it computed per checkpoint and settings (reopening a panel is instant),
// and keep the panels in step with the plan being edited.
import * as vscode from 'vscode';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ErrorCodes, Requests, type CalibrationParams, type RedundancyResult, type SpectrumResult } from '../../sidecar/rpc/protocol';
import type { SidecarClient } from '../sidecar/client';
import type { SummaryCache } from '../checkpoints/summaries';
import { plannedLayers, projections, type PlanAnalysis } from '../plans/analyze';
import { openPanel, showRedundancyPanel, showSpectrumPanel, type SpectrumData } from '../panels';
import { REPORT_JSON } from '../../sidecar/compress/report';

const CALIBRATION_KEY = 'rankwise.redundancyCalibration';

export class PanelCommands {
  private readonly redundancy = new Map<string, Promise<RedundancyResult>>();
  private readonly spectra = new Map<string, Promise<SpectrumResult>>();
  /** The plan whose removals the redundancy panel marks, per model folder. */
  private readonly plans = new Map<string, PlanAnalysis>();

  constructor(private readonly sidecar: SidecarClient, private readonly summaries: SummaryCache, private readonly state: vscode.Memento) {}

  /** Forgets computed results (the checkpoints changed on disk). */
  clear(): void {
    this.redundancy.clear();
    this.spectra.clear();
  }

  private run<R>(title: string, work: (token: vscode.CancellationToken, report: (m: string) => void) => Promise<R>): Promise<R | undefined> {
    return Promise.resolve(vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
      try {
        return await work(token, (message) => progress.report({ message }));
      } catch (e) {
        if ((e as { code?: unknown }).code !== ErrorCodes.Cancelled) void vscode.window.showErrorMessage(`Rankwise: ${(e as Error).message}`);
        return undefined;
      }
    }));
  }

  private cached<R>(map: Map<string, Promise<R>>, key: string, make: () => Promise<R>): Promise<R> {
    let p = map.get(key);
    if (!p) {
      const started = make();
      started.catch(() => map.get(key) === started && map.delete(key));
      map.set(key, started);
      p = started;
    }
    return p;
  }

  /** Calibration text for the redundancy panel: the plan's, else the one the user picked last (or picks now). */
  private async calibration(dir: string, plan?: PlanAnalysis): Promise<CalibrationParams | undefined> {
    const c = plan?.plan?.calibration;
    if (c?.data) return { data: c.data, samples: c.samples, seqLen: c.seqLen, seed: c.seed };
    const remembered = this.state.get<CalibrationParams>(CALIBRATION_KEY);
    if (remembered) return remembered;
    const pick = await vscode.window.showOpenDialog({
      canSelectFiles: true, canSelectFolders: true, openLabel: 'Use as calibration text',
      title: `Calibration text for ${basename(dir)} (hidden states are compared on it)`,
    });
    if (!pick?.[0]) return undefined;
    // 16 windows of up to 256 tokens: enough for a stable mean cosine, seconds on a small model.
    const chosen = { data: pick[0].fsPath, samples: 16, seqLen: Math.min(256, (await this.summaries.get(dir)).context), seed: 0 };
    await this.state.update(CALIBRATION_KEY, chosen);
    return chosen;
  }

  async showRedundancy(dir: string, plan?: PlanAnalysis): Promise<RedundancyResult | undefined> {
    if (plan) this.plans.set(dir, plan);
    const calibration = await this.calibration(dir, plan ?? this.plans.get(dir));
    if (!calibration) return undefined;
    const key = JSON.stringify([dir, calibration]);
    const result = await this.run(`Layer redundancy of ${basename(dir)}`, (token, report) =>
      this.cached(this.redundancy, key, () => this.sidecar.request(Requests.redundancy, { dir, calibration }, token, (p) => report(`${p.phase} ${p.done}/${p.total}`))));
    if (!result) return undefined;
    showRedundancyPanel({ model: dir, layers: result.layers, removed: await this.removedBy(dir, result) });
    return result;
  }

  private async removedBy(dir: string, r: RedundancyResult): Promise<number[]> {
    const plan = this.plans.get(dir)?.plan;
    if (!plan) return [];
    return plannedLayers(plan, r.layers.map((l) => l.blockInfluence), await this.summaries.get(dir));
  }

  /** A plan was edited: mark its removals in an open redundancy panel of the same model. */
  async planChanged(analysis: PlanAnalysis): Promise<void> {
    const panel = openPanel('redundancy');
    const dir = analysis.modelDir;
    if (!dir || !analysis.plan || panel?.data?.model !== dir) return;
    this.plans.set(dir, analysis);
    const bi = panel.data.layers.map((l) => l.blockInfluence);
    panel.update({ ...panel.data, removed: plannedLayers(analysis.plan, bi, await this.summaries.get(dir)) });
  }

  /**
   * The spectrum of one matrix: raw, and whitened when the plan has calibration text; the indices
   * the plan keeps: 0..r−1 for the SVD methods, and for GRASP and SoCo (which choose by score, not
   * σ) those recorded in the report of a finished run of the plan.
   */
  async spectrumData(dir: string, name: string, plan?: PlanAnalysis, token?: vscode.CancellationToken): Promise<SpectrumData> {
    const c = plan?.plan?.calibration;
    const calibration = c?.data ? { data: c.data, samples: c.samples, seqLen: c.seqLen, seed: c.seed } : undefined;
    const s = await this.cached(this.spectra, JSON.stringify([dir, name, calibration]), () => this.sidecar.request(Requests.spectrum, { dir, name, calibration }, token));
    const summary = await this.summaries.get(dir);
    const method = plan?.plan?.method;
    const rank = plan?.ranks.get(name);
    const kept = method === 'grasp' || method === 'soco' ? await keptInReport(plan!.plan!.output, name)
      : rank !== undefined ? Array.from({ length: rank }, (_, i) => i) : undefined;
    return {
      model: dir, name: s.name, shape: s.shape, values: s.values, choices: projections(summary).map((p) => p.name),
      ...(s.whitened ? { whitened: s.whitened } : {}), ...(kept ? { kept } : {}), ...(method ? { method } : {}),
    };
  }

  async showSpectrum(dir: string, name: string, plan?: PlanAnalysis): Promise<void> {
    const data = await this.run(`Spectrum of ${name}`, (token) => this.spectrumData(dir, name, plan, token));
    if (data) showSpectrumPanel(data);
  }
}

/** Kept singular indices of a matrix in the report a finished run wrote to its output folder. */
async function keptInReport(output: string, name: string): Promise<number[] | undefined> {
  try {
    const report = JSON.parse(await readFile(join(output, REPORT_JSON), 'utf8')) as { matrices?: { name: string; rank: number | null; kept?: number[] }[] };
    const m = report.matrices?.find((x) => x.name === name);
    if (!m || m.rank === null) return undefined;
    return m.kept ?? Array.from({ length: m.rank }, (_, i) => i);
  } catch {
    return undefined; // not run yet: the scores that choose the indices come from the run
  }
}
