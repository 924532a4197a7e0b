// Spectrum panel: one matrix's singular values (log scale), raw and whitened, their cumulative energy,
// and the indices the plan keeps (contiguous for SVD methods, scattered for GRASP and SoCo).
// Bundled by esbuild into dist/webview/spectrum/panel.css next to panel.js (base.css inlined through @import).
import './panel.css';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import { makeChart } from '../common/chart';
import { byId, h } from '../common/dom';
import { percent, sig } from '../common/format';
import { themeColors } from '../common/theme';
import { connect, runPanel, type PanelState } from '../common/vscode-api';
import type { SpectrumData } from '../messages';

interface Ui { log: boolean; whitened: boolean }
const host = connect('spectrum', { log: true, whitened: true });
let state: PanelState<'spectrum', Ui> = host.restore();

const app = byId('app');
const title = h('h1', {}, 'Spectrum');
const summary = h('p', { id: 'summary' }, 'Select a matrix in the Models tree or put the cursor on one in a plan.');
const picker = h('vscode-single-select', { id: 'matrix', 'aria-label': 'Matrix' }) as VscodeSingleSelect;
const log = h('vscode-checkbox', { id: 'log-scale', label: 'Log scale' }) as VscodeCheckbox;
const whitened = h('vscode-checkbox', { id: 'show-whitened', label: 'Whitened (SVD-LLM)' }) as VscodeCheckbox;
const canvas = h('canvas', { id: 'chart', role: 'img', 'aria-label': 'Singular values' });
app.append(title, summary, h('div', { class: 'controls' }, picker, log, whitened), h('div', { class: 'chart' }, canvas));

log.checked = state.ui.log;
whitened.checked = state.ui.whitened;
for (const [box, key] of [[log, 'log'], [whitened, 'whitened']] as const) {
  box.addEventListener('change', () => {
    state = { ...state, ui: { ...state.ui, [key]: box.checked } };
    host.save(state);
    render();
  });
}
picker.addEventListener('change', () => {
  if (state.data && picker.value && picker.value !== state.data.name) host.post({ type: 'select', name: picker.value });
});

/** Cumulative fraction of Σσ² up to and including each index. */
function cumulativeEnergy(values: number[]): number[] {
  const total = values.reduce((s, v) => s + v * v, 0);
  let acc = 0;
  return values.map((v) => (acc += v * v) / total);
}

function keptEnergy(values: number[], kept: number[]): number {
  const total = values.reduce((s, v) => s + v * v, 0);
  return kept.reduce((s, i) => s + values[i] * values[i], 0) / total;
}

function isContiguousPrefix(kept: number[]): boolean {
  return [...kept].sort((a, b) => a - b).every((v, i) => v === i);
}

function render(): void {
  const d = state.data;
  if (!d) return;
  title.textContent = `Spectrum: ${d.name}`;
  const parts = [`${d.shape[0]} × ${d.shape[1]}, ${d.values.length} singular values`];
  if (d.kept) {
    const how = isContiguousPrefix(d.kept) ? 'the top' : 'scattered indices,';
    parts.push(`${d.method ?? 'the plan'} keeps ${how} ${d.kept.length} (${percent(keptEnergy(d.values, d.kept))} of the energy)`);
  }
  if (!d.whitened) parts.push('no calibration statistics for whitening');
  summary.textContent = parts.join('; ') + '.';
  whitened.disabled = !d.whitened;
  picker.replaceChildren(...(d.choices ?? [d.name]).map((n) => h('vscode-option', n === d.name ? { value: n, selected: '' } : { value: n }, n)));
  picker.disabled = !d.choices?.length;
  drawChart(d);
}

function drawChart(d: SpectrumData): void {
  const t = themeColors();
  const point = (v: number[]) => v.map((y, x) => ({ x, y }));
  const showWhitened = state.ui.whitened && d.whitened !== undefined;
  makeChart('spectrum', canvas, {
    type: 'line',
    data: {
      datasets: [
        { label: 'σ', data: point(d.values), yAxisID: 'sigma', borderColor: t.series[0], backgroundColor: t.series[0], pointRadius: 0, borderWidth: 1.5 },
        { label: 'σ whitened', data: point(d.whitened ?? []), yAxisID: 'whitened', hidden: !showWhitened,
          borderColor: t.series[3], backgroundColor: t.series[3], pointRadius: 0, borderWidth: 1.5 },
        { label: 'kept by the plan', type: 'scatter', data: (d.kept ?? []).map((i) => ({ x: i, y: d.values[i] })), yAxisID: 'sigma',
          borderColor: t.series[2], backgroundColor: t.series[2], pointRadius: 2.5, pointHoverRadius: 4 },
        { label: 'cumulative energy', data: point(cumulativeEnergy(d.values)), yAxisID: 'energy',
          borderColor: t.series[1], backgroundColor: t.series[1], pointRadius: 0, borderWidth: 1, borderDash: [4, 3] },
      ],
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false, parsing: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', min: 0, max: d.values.length - 1, title: { display: true, text: 'rank index' } },
        sigma: { type: state.ui.log ? 'logarithmic' : 'linear', position: 'left', title: { display: true, text: 'singular value' } },
        whitened: { type: state.ui.log ? 'logarithmic' : 'linear', position: 'right', display: showWhitened,
          grid: { drawOnChartArea: false }, title: { display: true, text: 'whitened singular value' } },
        energy: { type: 'linear', position: 'right', min: 0, max: 1, grid: { drawOnChartArea: false },
          ticks: { callback: (v) => percent(Number(v), 0) }, title: { display: true, text: 'cumulative energy' } },
      },
      plugins: {
        tooltip: { callbacks: {
          title: (items) => `rank ${items[0]?.parsed.x ?? ''}`,
          label: (c) => `${c.dataset.label}: ${c.dataset.yAxisID === 'energy' ? percent(c.parsed.y ?? 0, 2) : sig(c.parsed.y ?? 0)}`,
        } },
      },
    },
  });
}

runPanel(host, () => state, (next) => { state = next; }, render);
