import { localTime } from '../../src/util/local-time.js';
import { h, setText } from './dom.js';
import { formatDuration } from './format.js';
import { type LogRow, splitMatches, stringifyParsed } from './log-filter.js';

/** The DOM of one table row: a line of cells and, when expanded, a detail pane. */
export interface RowElement {
  root: HTMLDivElement;
  time: HTMLSpanElement;
  level: HTMLSpanElement;
  account: HTMLSpanElement;
  command: HTMLSpanElement;
  duration: HTMLSpanElement;
  summary: HTMLSpanElement;
  detail: HTMLDivElement;
}

export function createRowElement(): RowElement {
  const cell = (name: string) => h('span', { class: `cell ${name}`, role: 'gridcell' });
  const time = cell('time');
  const level = cell('level');
  const account = cell('account');
  const command = cell('command');
  const duration = cell('duration');
  const summary = cell('summary');
  const line = h('div', { class: 'line' }, time, level, account, command, duration, summary);
  const detail = h('div', { class: 'detail', role: 'region' });
  const root = h('div', { class: 'row', role: 'row' }, line, detail);
  return { root, time, level, account, command, duration, summary, detail };
}

/** Fills a (possibly recycled) row element for `row`; `needle` is the free-text filter to highlight. */
export function fillRow(el: RowElement, row: LogRow, index: number, needle: string, expanded: boolean, active: boolean): void {
  const { log } = row;
  el.root.id = `log-${row.n}`;
  el.root.dataset.level = log.level;
  el.root.setAttribute('aria-rowindex', String(index + 2)); // 1 is the header row
  el.root.setAttribute('aria-expanded', String(expanded));
  el.root.setAttribute('aria-selected', String(active));
  el.root.classList.toggle('expanded', expanded);
  el.root.classList.toggle('active', active);
  el.root.classList.toggle('failed', Boolean(log.data.error));
  setText(el.time, localTime(log.timestamp));
  el.time.title = log.timestamp;
  setText(el.level, log.level);
  highlight(el.account, log.emailAccountId, needle);
  highlight(el.command, log.command, needle);
  setText(el.duration, formatDuration(log.data.duration));
  highlight(el.summary, summaryOf(row), needle);
  el.detail.hidden = !expanded;
  if (expanded) fillDetail(el.detail, row, needle);
  else el.detail.replaceChildren();
}

/** The one-line preview: the error if the operation failed, else the raw line, else the response. */
function summaryOf(row: LogRow): string {
  const { raw, response, error } = row.log.data;
  const text = error ? `✖ ${error}` : (raw ?? response ?? '');
  return (text.length > 300 ? `${text.slice(0, 300)}…` : text).replace(/\s+/g, ' ');
}

function fillDetail(detail: HTMLDivElement, row: LogRow, needle: string): void {
  const { log } = row;
  const sections: Array<[string, string | undefined | null]> = [
    ['Raw', log.data.raw],
    ['Parsed', log.data.parsed === undefined ? undefined : stringifyParsed(log.data.parsed)],
    ['Response', log.data.response],
    ['Error', log.data.error],
  ];
  detail.replaceChildren(
    h('p', { class: 'meta' }, `id ${log.id} · ${log.timestamp} · account ${log.emailAccountId}`),
    ...sections.map(([label, text]) => {
      const body = h('pre', { class: text ? '' : 'empty' });
      if (text) highlight(body, text, needle);
      else body.textContent = '—';
      return h('section', { class: `part part-${label.toLowerCase()}` }, h('h3', {}, label), body);
    }),
  );
}

/** Writes `text` into `el` with every match of `needle` wrapped in <mark>. */
function highlight(el: HTMLElement, text: string, needle: string): void {
  if (!needle) {
    if (el.childElementCount > 0 || el.textContent !== text) el.textContent = text;
    return;
  }
  el.replaceChildren(...splitMatches(text, needle).map(([part, hit]) => (hit ? h('mark', {}, part) : document.createTextNode(part))));
}
