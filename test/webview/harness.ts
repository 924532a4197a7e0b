// Layer 4 of TESTING.md: the built panel bundles in headless Chromium. A tiny HTTP server plays the
// extension host: it serves panelHtml() with the extension's CSP plus an acquireVsCodeApi stub (VS Code
// injects its own), sends `update` messages and validates what the panels post with the extension's
// own parsePanelMessage. scripts/webview-test.mjs bundles this file and calls run().
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { panelHtml, makeNonce } from '../../extension/panels/html';
import { parsePanelMessage, type PanelData, type PanelKind, type RedundancyData, type ReportData, type SpectrumData } from '../../webview/messages';
import { ROOT } from '../helpers/paths';
import { fixture } from './fixtures';

/** Dark Modern's values for the variables the panels and @vscode-elements read. */
export const THEME: Record<string, string> = {
  '--vscode-editor-background': '#1f1f1f', '--vscode-foreground': '#cccccc', '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-font-family': 'system-ui, "Ubuntu", "Droid Sans", sans-serif', '--vscode-font-size': '13px', '--vscode-font-weight': 'normal',
  '--vscode-charts-blue': '#3794ff', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#89d185',
  '--vscode-charts-purple': '#b180d7', '--vscode-charts-red': '#f14c4c', '--vscode-editorWidget-border': '#454545',
  '--vscode-textLink-foreground': '#4daafc', '--vscode-textLink-activeForeground': '#4daafc', '--vscode-focusBorder': '#0078d4',
  '--vscode-button-background': '#0078d4', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#026ec1',
  '--vscode-button-secondaryBackground': '#313131', '--vscode-button-secondaryForeground': '#cccccc', '--vscode-button-border': '#ffffff12',
  '--vscode-checkbox-background': '#313131', '--vscode-checkbox-border': '#3c3c3c', '--vscode-checkbox-foreground': '#cccccc',
  '--vscode-dropdown-background': '#313131', '--vscode-dropdown-border': '#3c3c3c', '--vscode-dropdown-foreground': '#cccccc',
  '--vscode-dropdown-listBackground': '#1f1f1f', '--vscode-list-activeSelectionBackground': '#04395e', '--vscode-list-hoverBackground': '#2a2d2e',
  '--vscode-settings-dropdownListBorder': '#454545', '--vscode-disabledForeground': '#cccccc80',
};

// What VS Code injects into a webview before the panel's script: the theme as CSS variables on <html>
// (set through CSSOM, which the CSP allows), the theme class on <body>, and acquireVsCodeApi, whose
// state lives in sessionStorage here so that it survives a reload.
const STUB = `(() => {
  for (const [k, v] of Object.entries(${JSON.stringify(THEME)})) document.documentElement.style.setProperty(k, v);
  document.body.classList.add('vscode-dark');
  let taken = false;
  window.acquireVsCodeApi = () => {
    if (taken) throw new Error('acquireVsCodeApi called twice');
    taken = true;
    return Object.freeze({
      postMessage: (m) => window.__toHost(JSON.parse(JSON.stringify(m))),
      getState: () => JSON.parse(sessionStorage.getItem('vscode-state') ?? 'null') ?? undefined,
      setState: (s) => { sessionStorage.setItem('vscode-state', JSON.stringify(s)); return s; },
    });
  };
})();
`;

interface Check { name: string; ok: boolean; detail?: string }

function serve(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const panel = /^\/panel\/(redundancy|spectrum|report)$/.exec(url.pathname);
    if (panel) {
      const kind = panel[1];
      const nonce = makeNonce();
      const origin = `http://${req.headers.host}`;
      const html = panelHtml({ cspSource: origin, nonce, title: kind, scriptUri: `/dist/webview/${kind}/panel.js`, styleUri: `/dist/webview/${kind}/panel.css` })
        .replace('<script nonce=', `<script nonce="${nonce}" src="/stub.js"></script>\n<script nonce=`);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else if (url.pathname === '/stub.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(STUB);
    } else if (/^\/dist\/webview\/\w+\/panel\.(js|css)$/.test(url.pathname)) {
      const file = join(ROOT, url.pathname);
      if (!existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': url.pathname.endsWith('.js') ? 'text/javascript' : 'text/css' }).end(readFileSync(file));
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ server, origin: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
  }));
}

/** One page per panel, with the host's side of the conversation recorded. */
class PanelPage<K extends PanelKind> {
  readonly fromPanel: unknown[] = [];
  readonly errors: string[] = [];
  data: PanelData[K] | undefined;
  private waiters: { pred: (m: unknown) => boolean; resolve: (m: unknown) => void }[] = [];

  private constructor(readonly kind: K, readonly page: Page) {}

  static async open<K extends PanelKind>(context: BrowserContext, kind: K): Promise<PanelPage<K>> {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1000, height: kind === 'report' ? 900 : 640 });
    const p = new PanelPage(kind, page);
    await page.exposeFunction('__toHost', (m: unknown) => {
      p.fromPanel.push(m);
      p.waiters = p.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
    await page.addInitScript(() => {
      const w = window as unknown as { __csp: string[] };
      w.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page.on('console', (m) => { if (m.type() === 'error') p.errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => p.errors.push(`pageerror: ${e.message}`));
    return p;
  }

  /** Resolves with the next panel message the extension's validator accepts and `pred` matches. */
  next(pred: (m: unknown) => boolean, ms = 10_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message from the ${this.kind} panel in ${ms} ms`)), ms);
      this.waiters.push({ pred: (m) => pred(parsePanelMessage(this.kind, m, this.data as never)), resolve: (m) => { clearTimeout(timer); resolve(m); } });
    });
  }

  async load(origin: string): Promise<void> {
    const ready = this.next((m) => (m as { type?: string })?.type === 'ready');
    await this.page.goto(`${origin}/panel/${this.kind}`);
    await ready;
  }

  async waitForChart(id: string): Promise<void> {
    await this.page.waitForFunction((cid) => (window as unknown as { rankwiseCharts?: Record<string, unknown> }).rankwiseCharts?.[cid] !== undefined, id);
  }

  async send(data: PanelData[K]): Promise<void> {
    this.data = data;
    await this.page.evaluate((d) => window.postMessage({ type: 'update', data: d }, '*'), data as unknown);
  }

  chart(id: string): Promise<{ type: string; labels: string[]; datasets: { label: string; length: number; hidden: boolean; color: unknown }[]; scales: Record<string, string> } | null> {
    return this.page.evaluate((cid) => {
      const c = (window as unknown as { rankwiseCharts?: Record<string, { config: { type: string }; data: { labels?: unknown[]; datasets: { label?: string; data: unknown[]; hidden?: boolean; backgroundColor?: unknown }[] }; scales: Record<string, { type: string }>; isDatasetVisible(i: number): boolean }> }).rankwiseCharts?.[cid];
      if (!c) return null;
      return {
        type: c.config.type, labels: (c.data.labels ?? []).map(String),
        datasets: c.data.datasets.map((d, i) => ({ label: d.label ?? '', length: d.data.length, hidden: !c.isDatasetVisible(i), color: d.backgroundColor })),
        scales: Object.fromEntries(Object.entries(c.scales).map(([k, s]) => [k, s.type])),
      };
    }, id);
  }

  /** Share of painted pixels on the chart canvas, and of pixels within ±24 per channel of `hex`. */
  paint(hex: string): Promise<{ painted: number; colour: number }> {
    return this.page.evaluate((col) => {
      const canvas = document.querySelector('canvas') as HTMLCanvasElement;
      const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(col.slice(i, i + 2), 16));
      let painted = 0, colour = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 0) painted++;
        if (px[i + 3] > 200 && Math.abs(px[i] - r) < 24 && Math.abs(px[i + 1] - g) < 24 && Math.abs(px[i + 2] - b) < 24) colour++;
      }
      const n = px.length / 4;
      return { painted: painted / n, colour: colour / n };
    }, hex);
  }

  /** Page coordinates of a chart element (dataset ds, index i), for real mouse clicks and hovers. */
  point(id: string, ds: number, i: number): Promise<{ x: number; y: number }> {
    return this.page.evaluate(([cid, d, k]) => {
      const c = (window as unknown as { rankwiseCharts: Record<string, { canvas: HTMLCanvasElement; getDatasetMeta(d: number): { data: { x: number; y: number; base?: number }[] } }> }).rankwiseCharts[cid as string];
      const el = c.getDatasetMeta(d as number).data[k as number];
      const box = c.canvas.getBoundingClientRect();
      // Bars: aim between the top and the base so that thin bars are still hit.
      const y = el.base !== undefined ? (el.y + el.base) / 2 : el.y;
      return { x: box.left + el.x, y: box.top + y };
    }, [id, ds, i] as const);
  }

  csp(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);
  }
}

const near = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;

export async function run(options: { screenshots: string }): Promise<{ passed: number; failed: number }> {
  const checks: Check[] = [];
  const check = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
      checks.push({ name, ok: true });
      console.log(`ok   ${name}`);
    } catch (e) {
      checks.push({ name, ok: false, detail: e instanceof Error ? e.message : String(e) });
      console.log(`FAIL ${name}\n     ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const expect = (cond: unknown, msg: string) => { if (!cond) throw new Error(msg); };

  const { server, origin } = await serve();
  const profile = mkdtempSync(join(tmpdir(), 'rankwise-chromium-'));
  mkdirSync(options.screenshots, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const redundancy = fixture('redundancy.json') as RedundancyData;
  const svd = fixture('spectrum-svd.json') as SpectrumData;
  const grasp = fixture('spectrum-grasp.json') as SpectrumData;
  const report = fixture('report.json') as ReportData;
  const pages: PanelPage<PanelKind>[] = [];

  try {
    // ---- Layer redundancy
    const r = await PanelPage.open(context, 'redundancy');
    pages.push(r);
    await check('redundancy: loads and posts "ready"', () => r.load(origin));
    await check('redundancy: renders Block Influence and cosine from the reference model', async () => {
      await r.send(redundancy);
      await r.waitForChart('redundancy');
      const c = await r.chart('redundancy');
      expect(c && c.type === 'bar', 'no bar chart');
      expect(c!.datasets.map((d) => `${d.label}:${d.length}`).join() === 'Block Influence:8,Cosine similarity:8', `datasets ${JSON.stringify(c!.datasets)}`);
      expect(redundancy.removed.every((i) => c!.labels[i] === `${i} ✕`), `removed layers not marked in ${c!.labels}`);
      const colours = c!.datasets[0].color as string[];
      expect(redundancy.layers.every((l) => colours[l.index] === (redundancy.removed.includes(l.index) ? THEME['--vscode-charts-red'] : THEME['--vscode-charts-blue'])), `bar colours ${colours}`);
      const p = await r.paint(THEME['--vscode-charts-blue']);
      // Thresholds: axes and labels alone paint ~3% of the canvas; the blue bars add well over 0.5%.
      expect(p.painted > 0.03 && p.colour > 0.005, `canvas looks blank: ${JSON.stringify(p)}`);
      await r.page.screenshot({ path: join(options.screenshots, 'redundancy.png') });
    });
    await check('redundancy: theme variables applied', async () => {
      const bg = await r.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(bg === 'rgb(31, 31, 31)', `body background ${bg}`);
    });
    await check('redundancy: clicking a bar posts revealLayer for that layer', async () => {
      const target = redundancy.removed[1];
      const pt = await r.point('redundancy', 0, target);
      const got = r.next((m) => (m as { type?: string; index?: number })?.type === 'revealLayer' && (m as { index: number }).index === target);
      await r.page.mouse.click(pt.x, pt.y);
      await got;
    });
    await check('redundancy: the table link posts revealLayer too', async () => {
      const got = r.next((m) => (m as { index?: number })?.index === 0);
      await r.page.getByRole('button', { name: 'layer 0', exact: true }).click();
      await got;
    });
    await check('redundancy: an invalid update is dropped, the chart kept', async () => {
      await r.page.evaluate(() => window.postMessage({ type: 'update', data: { model: 'x', layers: [{ index: 3 }], removed: [9] } }, '*'));
      await r.page.waitForTimeout(100);
      const c = await r.chart('redundancy');
      expect(c?.datasets[0].length === 8, 'the chart changed');
    });
    await check('redundancy: UI state and data restored after a reload (getState/setState)', async () => {
      await r.page.locator('#show-cosine').click();
      expect((await r.chart('redundancy'))?.datasets[1].hidden, 'unchecking cosine did not hide it');
      await r.load(origin); // No update is sent after the reload: the panel must draw from its state.
      await r.waitForChart('redundancy');
      const c = await r.chart('redundancy');
      expect(c?.datasets[0].length === 8 && c.datasets[1].hidden, `restored chart ${JSON.stringify(c?.datasets)}`);
      expect(await r.page.locator('#show-cosine').evaluate((e) => !(e as HTMLInputElement).checked), 'checkbox not restored');
    });

    // ---- Spectrum
    const s = await PanelPage.open(context, 'spectrum');
    pages.push(s);
    const choices = [svd.name, grasp.name];
    await check('spectrum: loads and posts "ready"', () => s.load(origin));
    await check('spectrum: renders raw and whitened singular values, energy and the kept prefix (SVD)', async () => {
      await s.send({ ...svd, choices });
      await s.waitForChart('spectrum');
      const c = await s.chart('spectrum');
      const lengths = c?.datasets.map((d) => `${d.label}:${d.length}`).join();
      expect(lengths === `σ:${svd.values.length},σ whitened:${svd.whitened!.length},kept by the plan:${svd.kept!.length},cumulative energy:${svd.values.length}`, `datasets ${lengths}`);
      expect(c!.scales.sigma === 'logarithmic' && c!.scales.whitened === 'logarithmic', `scales ${JSON.stringify(c!.scales)}`);
      const p = await s.paint(THEME['--vscode-charts-blue']);
      // The σ line is 1.5 px wide over ~900 px: a few hundred blue pixels, far above 0.05%.
      expect(p.painted > 0.03 && p.colour > 0.0005, `canvas looks blank: ${JSON.stringify(p)}`);
      const summary = await s.page.locator('#summary').textContent();
      expect(summary?.includes(`keeps the top ${svd.kept!.length}`), `summary: ${summary}`);
    });
    await check('spectrum: hover shows rank and value', async () => {
      const i = 40;
      const pt = await s.point('spectrum', 0, i);
      await s.page.mouse.move(pt.x, pt.y);
      const tip = await s.page.evaluate(() => {
        const t = (window as unknown as { rankwiseCharts: Record<string, { tooltip: { title: string[]; body: { lines: string[] }[] } }> }).rankwiseCharts.spectrum.tooltip;
        return { title: t.title, lines: t.body.flatMap((b) => b.lines) };
      });
      expect(tip.title[0] === `rank ${i}`, `tooltip title ${tip.title}`);
      const line = tip.lines.find((l) => l.startsWith('σ: '));
      // The tooltip prints 4 significant digits: compare to 5e-4 relative.
      expect(line && near(Number(line.slice(3)) / svd.values[i], 1, 5e-4), `tooltip lines ${tip.lines}`);
    });
    await check('spectrum: picking a matrix posts select; the update draws GRASP\'s scattered indices', async () => {
      const got = s.next((m) => (m as { type?: string; name?: string })?.type === 'select' && (m as { name: string }).name === grasp.name);
      await s.page.locator('#matrix').evaluate((el, name) => {
        (el as HTMLSelectElement).value = name;
        el.dispatchEvent(new Event('change'));
      }, grasp.name);
      await got;
      await s.send({ ...grasp, choices });
      await s.page.waitForFunction((n) => document.querySelector('h1')?.textContent?.includes(n), grasp.name);
      const c = await s.chart('spectrum');
      expect(c?.datasets[2].length === grasp.kept!.length && c.datasets[0].length === grasp.values.length, `datasets ${JSON.stringify(c?.datasets)}`);
      const summary = await s.page.locator('#summary').textContent();
      expect(summary?.includes(`keeps scattered indices, ${grasp.kept!.length}`), `summary: ${summary}`);
      await s.page.screenshot({ path: join(options.screenshots, 'spectrum.png') });
    });
    await check('spectrum: a select outside the offered choices is refused by the host validator', async () => {
      expect(parsePanelMessage('spectrum', { type: 'select', name: 'model.layers.99.mlp.up_proj' }, s.data as SpectrumData) === undefined, 'accepted');
    });
    await check('spectrum: linear-scale setting survives a reload', async () => {
      await s.page.locator('#log-scale').click();
      expect((await s.chart('spectrum'))?.scales.sigma === 'linear', 'not linear after unchecking');
      await s.load(origin);
      await s.waitForChart('spectrum');
      const c = await s.chart('spectrum');
      expect(c?.scales.sigma === 'linear' && c.datasets[2].length === grasp.kept!.length, `restored ${JSON.stringify(c)}`);
      await s.page.locator('#log-scale').click();
    });

    // ---- Report
    const p = await PanelPage.open(context, 'report');
    pages.push(p);
    await check('report: loads and posts "ready"', () => p.load(origin));
    await check('report: shows parameters, size, perplexity, backend and phase times of a real run', async () => {
      await p.send(report);
      await p.waitForChart('report');
      const c = await p.chart('report');
      expect(c?.datasets.length === 1 && c.datasets[0].length === report.phases.length, `datasets ${JSON.stringify(c?.datasets)}`);
      const text = (await p.page.locator('#summary').textContent()) ?? '';
      for (const want of [report.parametersBefore.toLocaleString('en-US'), report.parametersAfter.toLocaleString('en-US'),
        report.evaluation!.perplexityBefore.toFixed(2), report.evaluation!.perplexityAfter.toFixed(2), report.backend]) {
        expect(text.includes(want), `summary lacks ${want}: ${text}`);
      }
      const rows = await p.page.locator('#matrices tbody tr').count();
      expect(rows === report.matrices.length, `${rows} matrix rows`);
      const paint = await p.paint(THEME['--vscode-charts-blue']);
      // Four horizontal bars fill far more than 0.5% of the canvas.
      expect(paint.colour > 0.005, `canvas looks blank: ${JSON.stringify(paint)}`);
      await p.page.screenshot({ path: join(options.screenshots, 'report.png') });
    });
    await check('report: the output link and the button post openOutput', async () => {
      for (const sel of ['#output-link', '#open-output']) {
        const got = p.next((m) => (m as { type?: string })?.type === 'openOutput');
        await p.page.locator(sel).click();
        await got;
      }
    });

    // ---- Every panel
    await check('all panels: the CSP blocks inline script', async () => {
      const ran = await r.page.evaluate(() => {
        const el = document.createElement('script');
        el.textContent = 'window.__inlineRan = true';
        document.body.append(el);
        return (window as unknown as { __inlineRan?: boolean }).__inlineRan === true;
      });
      expect(!ran, 'inline script ran');
      const v = await r.csp();
      expect(v.some((x) => x.startsWith('script-src')), `no violation recorded: ${v}`);
      await r.page.evaluate(() => { (window as unknown as { __csp: string[] }).__csp.length = 0; });
      r.errors.splice(0, r.errors.length, ...r.errors.filter((e) => !e.includes('Content Security Policy')));
    });
    await check('all panels: no console errors and no CSP violations', async () => {
      const problems: string[] = [];
      for (const pg of pages) {
        problems.push(...pg.errors.map((e) => `${pg.kind}: ${e}`), ...(await pg.csp()).map((e) => `${pg.kind}: CSP ${e}`));
      }
      expect(problems.length === 0, problems.join('\n     '));
    });
  } finally {
    await context.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  const failed = checks.filter((c) => !c.ok).length;
  return { passed: checks.length - failed, failed };
}
