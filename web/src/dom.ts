/** A child of `h()`: nodes and strings are appended; null, undefined and false are skipped. */
export type Child = Node | string | null | undefined | false;

type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

/**
 * Creates an element: `h('button', { class: 'x', onclick: fn, disabled: true }, 'Label')`.
 * Keys starting with `on` add listeners; `true` sets an empty attribute; false/null/undefined skip it.
 * Text is always set as text, never parsed as HTML, so log content can never inject markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children to a node, skipping empty ones. */
function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** Sets text only when it changed: cheaper than a DOM write on every frame. */
export function setText(el: Node, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
