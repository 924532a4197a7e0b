// VS Code theme colours for the charts. VS Code sets --vscode-* variables on <html> and a theme class
// on <body>; canvas drawing cannot use CSS variables, so they are read here and re-read on a change.
export interface ThemeColors {
  foreground: string;
  muted: string;
  grid: string;
  fontFamily: string;
  fontSize: number;
  series: [string, string, string, string];
  /** Marks what a plan removes or drops. */
  removed: string;
}

const css = (name: string, fallback: string) =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

export function themeColors(): ThemeColors {
  return {
    foreground: css('--vscode-foreground', '#cccccc'),
    muted: css('--vscode-descriptionForeground', '#9d9d9d'),
    grid: css('--vscode-editorWidget-border', css('--vscode-panel-border', '#80808059')),
    fontFamily: css('--vscode-font-family', 'sans-serif'),
    fontSize: parseFloat(css('--vscode-font-size', '13')) || 13,
    series: [
      css('--vscode-charts-blue', '#3794ff'),
      css('--vscode-charts-orange', '#d18616'),
      css('--vscode-charts-green', '#89d185'),
      css('--vscode-charts-purple', '#b180d7'),
    ],
    removed: css('--vscode-charts-red', '#f14c4c'),
  };
}

/** Calls back when the theme changes (VS Code rewrites the <html> style and the <body> class). */
export function onThemeChange(cb: () => void): void {
  const observer = new MutationObserver(cb);
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
