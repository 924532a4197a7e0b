// Plan files allow comments and trailing commas (VS Code's JSONC). Comments become spaces, so
// JSON.parse error positions still point at the right place; only commas outside strings that
// are followed by `}` or `]` are dropped.
export function stripJsonc(text: string): string {
  const out: string[] = [];
  const commas: number[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out.push(text.slice(i, j + 1));
      i = j + 1;
    } else if (c === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) {
      const line = text[i + 1] === '/';
      const found = line ? text.indexOf('\n', i) : text.indexOf('*/', i + 2);
      const stop = found < 0 ? text.length : line ? found : found + 2;
      out.push(text.slice(i, stop).replace(/[^\n]/g, ' '));
      i = stop;
    } else {
      if (c === ',') commas.push(out.length);
      out.push(c);
      i++;
    }
  }
  for (const k of commas) {
    let j = k + 1;
    while (j < out.length && /^\s*$/.test(out[j])) j++;
    if (j < out.length && (out[j] === '}' || out[j] === ']')) out[k] = ' ';
  }
  return out.join('');
}

export function parseJsonc(text: string, what: string): unknown {
  try {
    return JSON.parse(stripJsonc(text));
  } catch (e) {
    throw new SyntaxError(`${what}: not valid JSON (${(e as Error).message})`);
  }
}
