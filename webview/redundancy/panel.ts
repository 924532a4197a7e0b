// Layer redundancy panel: Block Influence and cosine similarity per layer, the plan's removed layers
// marked; clicking a layer (bar or table row) asks the host to reveal it in the Models tree.
// Bundled by esbuild into dist/webview/redundancy/panel.css next to panel.js (base.css inlined through @import).
import './panel.css';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import { makeChart } from '../common/chart';
import { byId, h } from '../common/dom';
import { sig } from '../common/format';
import { themeColors } from '../common/theme';
import { connect, runPanel, type PanelState } from '../common/vscode-api';
import type { RedundancyData } from '../messages';

const host = connect('redundancy', { showCosine: true });
let state: PanelState<'redundancy', { showCosine: boolean }> = host.restore();

const app = byId('app');
const summary = h('p', { id: 'summary' }, 'Waiting for calibration statistics…');
const cosine = h('vscode-checkbox', { id: 'show-cosine', label: 'Cosine similarity' }) as VscodeCheckbox;
const canvas = h('canvas', { id: 'chart', role: 'img', 'aria-label': 'Block Influence per layer' });
const table = h('table', { id: 'layers' });
app.append(h('h1', {}, 'Layer redundancy'), summary, h('div', { class: 'controls' }, cosine),
  h('div', { class: 'chart' }, canvas), h('p', { class: 'hint' }, 'Click a layer to reveal it in the Models tree.'), table);

cosine.checked = state.ui.showCosine;
cosine.addEventListener('change', () => {
  state = { ...state, ui: { showCosine: cosine.checked } };
  host.save(state);
  render();
});

const reveal = (index: number) => host.post({ type: 'revealLayer', index });

function render(): void {
  const d = state.data;
  if (!d) return;
  const removed = new Set(d.removed);
  summary.textContent = `${d.model.split(/[\\/]/).pop()}: ${d.layers.length} layers; the plan removes ${d.removed.length ? `layer${d.removed.length > 1 ? 's' : ''} ${d.removed.join(', ')}` : 'no layers'}.`;
  drawChart(d, removed);
  drawTable(d, removed);
}

function drawChart(d: RedundancyData, removed: Set<number>): void {
  const t = themeColors();
  makeChart('redundancy', canvas, {
    type: 'bar',
    data: {
      labels: d.layers.map((l) => (removed.has(l.index) ? `${l.index} ✕` : String(l.index))),
      datasets: [
        { label: 'Block Influence', data: d.layers.map((l) => l.blockInfluence), yAxisID: 'bi',
          backgroundColor: d.layers.map((l) => (removed.has(l.index) ? t.removed : t.series[0])) },
        { label: 'Cosine similarity', data: d.layers.map((l) => l.cosine), yAxisID: 'cos', hidden: !state.ui.showCosine,
          backgroundColor: t.series[1] },
      ],
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      onClick: (_e, elements) => { if (elements.length) reveal(d.layers[elements[0].index].index); },
      onHover: (e, elements) => { (e.native?.target as HTMLElement | undefined)?.style.setProperty('cursor', elements.length ? 'pointer' : 'default'); },
      scales: {
        x: { title: { display: true, text: 'layer (✕ removed by the plan)' } },
        bi: { type: 'linear', position: 'left', beginAtZero: true, title: { display: true, text: 'Block Influence (1 − cos)' } },
        cos: { type: 'linear', position: 'right', display: state.ui.showCosine, min: Math.min(0, ...d.layers.map((l) => l.cosine)), max: 1,
          grid: { drawOnChartArea: false }, title: { display: true, text: 'cosine' } },
      },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${sig(c.parsed.y ?? 0)}` } } },
    },
  });
}

function drawTable(d: RedundancyData, removed: Set<number>): void {
  table.replaceChildren(h('thead', {}, h('tr', {}, h('th', {}, 'layer'), h('th', {}, 'Block Influence'), h('th', {}, 'cosine'), h('th', {}, 'plan'))),
    h('tbody', {}, ...d.layers.map((l) => {
      const link = h('button', { class: 'link', title: `Reveal layer ${l.index} in the Models tree` }, `layer ${l.index}`);
      link.addEventListener('click', () => reveal(l.index));
      return h('tr', removed.has(l.index) ? { class: 'removed' } : {}, h('td', {}, link), h('td', { class: 'num' }, sig(l.blockInfluence)),
        h('td', { class: 'num' }, sig(l.cosine)), h('td', {}, removed.has(l.index) ? 'removed' : ''));
    })));
}

runPanel(host, () => state, (next) => { state = next; }, render);
