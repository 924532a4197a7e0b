// Number formatting shared by the panels (en-US grouping, like the Markdown report).
export const count = (n: number) => n.toLocaleString('en-US');
export const megabytes = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
export const seconds = (s: number) => (s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`);
export const percent = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;
/** Relative change from a to b, signed: "−20.0%". */
export const change = (a: number, b: number) => `${b >= a ? '+' : '−'}${Math.abs((b / a - 1) * 100).toFixed(1)}%`;
export const sig = (x: number) => (x === 0 ? '0' : Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3 ? x.toExponential(3) : x.toPrecision(4));
