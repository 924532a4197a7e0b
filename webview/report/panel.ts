// Report panel after a run: parameters, bytes and perplexity before and after, time per phase (chart),
// backend, the matrices' ranks, and a link that asks the host to open the output folder.
// Bundled by esbuild into dist/webview/report/panel.css next to panel.js (base.css inlined through @import).
import './panel.css';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { makeChart } from '../common/chart';
import { byId, h } from '../common/dom';
import { change, count, megabytes, percent, seconds } from '../common/format';
import { themeColors } from '../common/theme';
import { connect, runPanel, type PanelState } from '../common/vscode-api';
import type { ReportData } from '../messages';

const host = connect('report', {});
let state: PanelState<'report', object> = host.restore();

const app = byId('app');
const title = h('h1', {}, 'Compression report');
const output = h('p', { id: 'output' });
const summary = h('table', { id: 'summary' });
const canvas = h('canvas', { id: 'chart', role: 'img', 'aria-label': 'Time per phase' });
const matrices = h('table', { id: 'matrices' });
app.append(title, output, summary, h('h2', {}, 'Time per phase'), h('div', { class: 'chart phases' }, canvas),
  h('h2', {}, 'Matrices'), matrices);

const openOutput = () => host.post({ type: 'openOutput' });

function render(): void {
  const r = state.data;
  if (!r) return;
  title.textContent = `Compression report: ${r.method}${r.method === 'layer-removal' ? '' : ` at ${percent(r.ratio, 0)}`}`;
  const link = h('button', { class: 'link', id: 'output-link', title: 'Open the output folder' }, r.output);
  link.addEventListener('click', openOutput);
  const button = h('vscode-button', { id: 'open-output', secondary: '' }, 'Open output folder');
  button.addEventListener('click', openOutput);
  output.replaceChildren('Output: ', link, ' ', button);
  const row = (label: string, before: string, after: string, delta = '') =>
    h('tr', {}, h('th', {}, label), h('td', { class: 'num' }, before), h('td', { class: 'num' }, after), h('td', { class: 'num' }, delta));
  const e = r.evaluation;
  summary.replaceChildren(
    h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'before'), h('th', {}, 'after'), h('th', {}, 'change'))),
    h('tbody', {},
      row('Parameters', count(r.parametersBefore), count(r.parametersAfter), change(r.parametersBefore, r.parametersAfter)),
      row('Size', megabytes(r.bytesBefore), megabytes(r.bytesAfter), change(r.bytesBefore, r.bytesAfter)),
      e ? row(`Perplexity (${e.windows} × ${e.seqLen} tokens)`, e.perplexityBefore.toFixed(2), e.perplexityAfter.toFixed(2),
        change(e.perplexityBefore, e.perplexityAfter)) : null,
      r.removedLayers.length ? row('Removed layers', '', r.removedLayers.join(', ')) : null,
      row('Backend', '', r.backend),
      row('Time', '', seconds(r.seconds))));
  drawChart(r);
  matrices.replaceChildren(
    h('thead', {}, h('tr', {}, h('th', {}, 'matrix'), h('th', {}, 'shape'), h('th', {}, 'rank'), h('th', {}, 'kept energy'))),
    h('tbody', {}, ...r.matrices.map((m) => h('tr', {}, h('td', {}, m.name), h('td', { class: 'num' }, m.shape.join(' × ')),
      h('td', { class: 'num' }, m.rank === null ? 'dense' : String(m.rank)),
      h('td', { class: 'num' }, m.keptEnergy === null ? '' : percent(m.keptEnergy, 2))))));
}

function drawChart(r: ReportData): void {
  const t = themeColors();
  makeChart('report', canvas, {
    type: 'bar',
    data: {
      labels: r.phases.map((p) => p.name),
      datasets: [{ label: 'seconds', data: r.phases.map((p) => p.seconds), backgroundColor: t.series[0] }],
    },
    options: {
      indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
      scales: { x: { beginAtZero: true, title: { display: true, text: 'seconds' } } },
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => seconds(c.parsed.x ?? 0) } } },
    },
  });
}

runPanel(host, () => state, (next) => { state = next; }, render);
