// The run report, as JSON (for the report panel and scripts) and Markdown (for people), written into
// the output folder under these names. Plain data: the extension imports it too.
export const REPORT_JSON = 'rankwise-report.json';
export const REPORT_MD = 'rankwise-report.md';

export interface MatrixReport {
  name: string;
  shape: [number, number];
  /** null when the matrix was left dense. */
  rank: number | null;
  keptEnergy: number | null;
  /** Kept singular indices when they are not simply 0..rank-1 (GRASP, SoCo). */
  kept?: number[];
  reason?: string;
}

export interface Report {
  method: string;
  ratio: number;
  model: string;
  output: string;
  backend: string;
  parametersBefore: number;
  parametersAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  removedLayers: number[];
  evaluation?: { data: string; seqLen: number; windows: number; predictions: number; perplexityBefore: number; perplexityAfter: number };
  calibration?: { data: string; samples: number; seqLen: number; seed: number };
  phases: { name: string; seconds: number }[];
  seconds: number;
  matrices: MatrixReport[];
  createdAt: string;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const pct = (a: number, b: number) => `${((1 - b / a) * 100).toFixed(1)}%`;

export function reportMarkdown(r: Report): string {
  const lines = [
    `# Rankwise report: ${r.method}${r.method === 'layer-removal' ? '' : ` at ${(r.ratio * 100).toFixed(0)}%`}`,
    '',
    `- Model: \`${r.model}\``,
    `- Output: \`${r.output}\``,
    `- Backend: ${r.backend}`,
    `- Parameters: ${fmt(r.parametersBefore)} → ${fmt(r.parametersAfter)} (−${pct(r.parametersBefore, r.parametersAfter)})`,
    `- Size: ${mb(r.bytesBefore)} → ${mb(r.bytesAfter)}`,
  ];
  if (r.removedLayers.length) lines.push(`- Removed layers: ${r.removedLayers.join(', ')}`);
  if (r.evaluation) {
    const e = r.evaluation;
    lines.push(`- Perplexity: ${e.perplexityBefore.toFixed(2)} → ${e.perplexityAfter.toFixed(2)} (${e.windows} windows of ${e.seqLen} tokens, ${fmt(e.predictions)} predictions, \`${e.data}\`)`);
  }
  if (r.calibration) {
    const c = r.calibration;
    lines.push(`- Calibration: ${c.samples} × ${c.seqLen} tokens from \`${c.data}\`, seed ${c.seed}`);
  }
  lines.push(`- Time: ${r.seconds.toFixed(1)} s (${r.phases.map((p) => `${p.name} ${p.seconds.toFixed(1)} s`).join(', ')})`, '');
  lines.push('| matrix | shape | rank | kept energy |', '| --- | --- | --- | --- |');
  for (const m of r.matrices) {
    const energy = m.keptEnergy === null ? '' : `${(m.keptEnergy * 100).toFixed(2)}%`;
    lines.push(`| ${m.name} | ${m.shape.join('×')} | ${m.rank ?? `dense${m.reason ? ` (${m.reason})` : ''}`} | ${energy} |`);
  }
  return lines.join('\n') + '\n';
}
