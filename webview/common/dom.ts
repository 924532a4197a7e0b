// DOM building without innerHTML: everything from the host is text, never markup.
type Child = Node | string | number | null | undefined | false;

export function h<T extends keyof HTMLElementTagNameMap>(tag: T, attrs?: Record<string, string>, ...children: Child[]): HTMLElementTagNameMap[T];
export function h(tag: string, attrs?: Record<string, string>, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`panel markup lacks #${id}`);
  return el as T;
}
