// chart.js set-up shared by the panels: only the pieces they use, theme fonts and colours, and a
// registry of live charts on `window.rankwiseCharts` (read by the panel tests and handy in devtools).
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement,
  LogarithmicScale, PointElement, ScatterController, Tooltip, type ChartConfiguration, type ChartType,
} from 'chart.js';
import { themeColors, type ThemeColors } from './theme';

Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement,
  LogarithmicScale, PointElement, ScatterController, Tooltip);

declare global {
  interface Window { rankwiseCharts?: Record<string, Chart> }
}

export function applyTheme(t: ThemeColors): void {
  Chart.defaults.color = t.foreground;
  Chart.defaults.borderColor = t.grid;
  Chart.defaults.font.family = t.fontFamily;
  Chart.defaults.font.size = t.fontSize;
}

/** Creates (or replaces) the chart registered under `id` on the given canvas. */
export function makeChart<T extends ChartType>(id: string, canvas: HTMLCanvasElement, config: ChartConfiguration<T>): Chart<T> {
  applyTheme(themeColors());
  const charts = (window.rankwiseCharts ??= {});
  charts[id]?.destroy();
  const chart = new Chart(canvas, config);
  charts[id] = chart as unknown as Chart;
  return chart;
}
