import { h, setText } from './dom.js';
import { plural } from './format.js';
import type { LogRow } from './log-filter.js';
import type { LogModel, ViewChange } from './log-model.js';
import { createRowElement, fillRow, type RowElement } from './log-row.js';
import { indexOfRow, RowLayout } from './row-layout.js';

const ROW_HEIGHT = 28;
const DETAIL_HEIGHT = 260;
/** Rows rendered above and below the visible window, so fast scrolling shows no blank band. */
const OVERSCAN = 8;

/**
 * The virtualized log table: only the rows in (and just around) the viewport exist in the DOM, each
 * absolutely positioned inside a spacer as tall as the whole view. `render()` is called at most once
 * per animation frame by the console. Newest rows are at the bottom; while the user is at the bottom
 * the table follows new rows, and scrolling up stops that until "jump to latest" (or End).
 *
 * Keyboard: the viewport is one tab stop; ↑/↓, PageUp/PageDown, Home/End move the active row
 * (announced with aria-activedescendant), Enter or Space expands it, Escape collapses it.
 */
export class LogTable {
  readonly element: HTMLElement;
  private readonly grid: HTMLDivElement;
  private readonly viewport: HTMLDivElement;
  private readonly spacer: HTMLDivElement;
  private readonly empty: HTMLDivElement;
  /** Shown while there is no log at all (how to send one). */
  private readonly firstHint: HTMLElement;
  /** Shown when logs exist but the filters hide them all. */
  private readonly noMatch: HTMLParagraphElement;
  private readonly jumpButton: HTMLButtonElement;
  private readonly layout = new RowLayout(ROW_HEIGHT, DETAIL_HEIGHT);
  private readonly expanded = new Set<LogRow>();
  private rendered = new Map<LogRow, RowElement>();
  private readonly pool: RowElement[] = [];
  private readonly top = new WeakMap<RowElement, number>();
  private following = true;
  private unseen = 0;
  private active: LogRow | undefined;
  /** A row to scroll into view at the next render, once the spacer has its new height. */
  private toReveal: LogRow | undefined;
  private needle = '';
  /** Every visible row is filled again at the next render (highlight, expansion or focus changed). */
  private dirty = false;
  /** The scrollTop the table itself set last: a scroll event at that position is not the user's. */
  private ownScrollTop = -1;
  private viewportHeight = 0;

  constructor(
    private readonly model: LogModel,
    private readonly requestRender: () => void,
    emptyState: HTMLElement,
  ) {
    this.spacer = h('div', { class: 'spacer' });
    this.viewport = h('div', { class: 'viewport', role: 'rowgroup', onscroll: () => this.onScroll() }, this.spacer);
    this.grid = h(
      'div',
      {
        class: 'log-grid',
        tabindex: 0,
        role: 'grid',
        'aria-label': 'Logs, newest at the bottom. Arrow keys move, Enter expands, End jumps to the latest.',
        'aria-colcount': 6,
        onkeydown: (event: Event) => this.onKey(event as KeyboardEvent),
        onclick: (event: Event) => this.onClick(event as MouseEvent),
      },
      this.header(),
      this.viewport,
    );
    this.noMatch = h('p', { class: 'muted' }, 'No log matches the filters.');
    this.firstHint = emptyState;
    this.empty = h('div', { class: 'empty-state' }, emptyState, this.noMatch);
    this.jumpButton = h('button', { class: 'jump', type: 'button', hidden: true, onclick: () => this.jumpToLatest() });
    this.element = h('div', { class: 'log-table' }, this.grid, this.empty, this.jumpButton);
    // The stylesheet sizes rows from these, so the layout math and the CSS can never disagree.
    this.element.style.setProperty('--row-height', `${ROW_HEIGHT}px`);
    this.element.style.setProperty('--detail-height', `${DETAIL_HEIGHT}px`);
    new ResizeObserver(() => {
      this.viewportHeight = this.viewport.clientHeight;
      this.requestRender();
    }).observe(this.viewport);
  }

  /** Highlights this text in the rows (the free-text filter). */
  setNeedle(needle: string): void {
    if (needle === this.needle) return;
    this.needle = needle;
    this.dirty = true;
  }

  /** Scrolls to the newest row and follows again. */
  jumpToLatest(): void {
    this.following = true;
    this.unseen = 0;
    this.active = undefined;
    this.dirty = true;
    this.requestRender();
  }

  /** Applies a model change and paints the visible window: the only DOM writes of a frame. */
  render(change: ViewChange): void {
    const view = this.model.view;
    if (change.rebuilt) {
      this.recycleAll();
      for (const row of this.expanded) if (indexOfRow(view, row) === -1) this.expanded.delete(row);
      this.unseen = 0;
    }
    // Keep what the user is reading in place when the oldest rows are trimmed above it.
    let shift = 0;
    for (const row of change.evicted) {
      shift += this.expanded.delete(row) ? ROW_HEIGHT + DETAIL_HEIGHT : ROW_HEIGHT;
      if (row === this.active) this.active = undefined;
    }
    if (!this.following) this.unseen += change.appended;

    this.layout.update(view, this.expanded);
    // Nothing to scroll (an empty or short view, e.g. after a clear): there is only "the latest".
    if (this.layout.totalHeight <= this.viewportHeight) {
      this.following = true;
      this.unseen = 0;
    }
    this.spacer.style.height = `${this.layout.totalHeight}px`;
    if (this.following) this.scrollTo(this.layout.totalHeight);
    else if (shift > 0) this.scrollTo(Math.max(0, this.viewport.scrollTop - shift));
    if (this.toReveal) this.reveal(indexOfRow(view, this.toReveal));
    this.toReveal = undefined;
    this.paint();

    this.empty.hidden = view.length > 0;
    this.firstHint.hidden = this.model.total > 0;
    this.noMatch.hidden = this.model.total === 0;
    this.grid.setAttribute('aria-rowcount', String(view.length + 1));
    this.jumpButton.hidden = this.following;
    setText(this.jumpButton, this.unseen > 0 ? `↓ Jump to latest (${plural(this.unseen, 'new log')})` : '↓ Jump to latest');
  }

  private paint(): void {
    const view = this.model.view;
    const next = new Map<LogRow, RowElement>();
    if (view.length > 0) {
      const scrollTop = this.viewport.scrollTop;
      const first = Math.max(0, this.layout.indexAt(scrollTop) - OVERSCAN);
      const last = Math.min(view.length - 1, this.layout.indexAt(scrollTop + this.viewportHeight) + OVERSCAN);
      for (let i = first; i <= last; i++) {
        const row = view[i]!;
        let el = this.rendered.get(row);
        const fresh = el === undefined;
        if (el) this.rendered.delete(row);
        else el = this.pool.pop() ?? createRowElement();
        if (fresh || this.dirty) fillRow(el, row, i, this.needle, this.expanded.has(row), row === this.active);
        else el.root.setAttribute('aria-rowindex', String(i + 2));
        const y = this.layout.offsetOf(i);
        if (this.top.get(el) !== y) {
          el.root.style.transform = `translateY(${y}px)`;
          this.top.set(el, y);
        }
        if (!el.root.isConnected) this.spacer.appendChild(el.root);
        next.set(row, el);
      }
    }
    for (const el of this.rendered.values()) this.release(el);
    this.rendered = next;
    this.dirty = false;
    const activeEl = this.active ? next.get(this.active) : undefined;
    if (activeEl) this.grid.setAttribute('aria-activedescendant', activeEl.root.id);
    else this.grid.removeAttribute('aria-activedescendant');
  }

  private header(): HTMLElement {
    const col = (label: string, name: string) => h('span', { class: `cell ${name}`, role: 'columnheader' }, label);
    return h(
      'div',
      { class: 'header line', role: 'row', 'aria-rowindex': 1 },
      col('Time', 'time'),
      col('Level', 'level'),
      col('Account', 'account'),
      col('Command', 'command'),
      col('Duration', 'duration'),
      col('Raw / error', 'summary'),
    );
  }

  private recycleAll(): void {
    for (const el of this.rendered.values()) this.release(el);
    this.rendered.clear();
  }

  private release(el: RowElement): void {
    el.root.remove();
    this.top.delete(el);
    this.pool.push(el);
  }

  private scrollTo(top: number): void {
    const max = Math.max(0, this.layout.totalHeight - this.viewportHeight);
    const clamped = Math.min(top, max);
    if (Math.abs(this.viewport.scrollTop - clamped) >= 1) this.viewport.scrollTop = clamped;
    this.ownScrollTop = this.viewport.scrollTop;
  }

  private onScroll(): void {
    const top = this.viewport.scrollTop;
    if (Math.abs(top - this.ownScrollTop) < 1) return;
    const atBottom = top + this.viewport.clientHeight >= this.viewport.scrollHeight - ROW_HEIGHT / 2;
    if (atBottom !== this.following) {
      this.following = atBottom;
      if (atBottom) this.unseen = 0;
    }
    this.ownScrollTop = -1;
    this.requestRender();
  }

  private onClick(event: MouseEvent): void {
    const line = (event.target as Element).closest('.row > .line');
    if (!line) return;
    const row = this.rowOf(line.parentElement!);
    if (!row) return;
    this.active = row;
    this.toggle(row);
  }

  private onKey(event: KeyboardEvent): void {
    const view = this.model.view;
    if (view.length === 0) return;
    const current = this.active ? indexOfRow(view, this.active) : -1;
    const page = Math.max(1, Math.floor(this.viewportHeight / ROW_HEIGHT) - 1);
    let target: number | undefined;
    switch (event.key) {
      case 'ArrowDown':
        target = current === -1 ? this.layout.indexAt(this.viewport.scrollTop) : current + 1;
        break;
      case 'ArrowUp':
        target = current === -1 ? this.layout.indexAt(this.viewport.scrollTop + this.viewportHeight - ROW_HEIGHT) : current - 1;
        break;
      case 'PageDown':
        target = Math.max(current, 0) + page;
        break;
      case 'PageUp':
        target = Math.max(current, 0) - page;
        break;
      case 'Home':
        target = 0;
        break;
      case 'End':
        event.preventDefault();
        this.jumpToLatest();
        return;
      case 'Enter':
      case ' ':
        if (this.active) {
          event.preventDefault();
          this.toggle(this.active);
        }
        return;
      case 'Escape':
        if (this.active && this.expanded.has(this.active)) this.toggle(this.active);
        return;
      default:
        return;
    }
    event.preventDefault();
    const index = Math.max(0, Math.min(view.length - 1, target));
    this.active = view[index];
    this.dirty = true;
    this.toReveal = this.active;
    this.requestRender();
  }

  private toggle(row: LogRow): void {
    if (!this.expanded.delete(row)) this.expanded.add(row);
    this.dirty = true;
    // Expanding the newest row while following would push it out of view: stop following to read it.
    if (this.expanded.has(row)) this.following = false;
    this.toReveal = row;
    this.requestRender();
  }

  /** Scrolls just enough for the row at `index` (with its detail) to be visible; called from render. */
  private reveal(index: number): void {
    if (index < 0) return;
    const y = this.layout.offsetOf(index);
    const bottom = y + this.layout.heightOf(index);
    const scrollTop = this.viewport.scrollTop;
    if (y < scrollTop) {
      this.following = false;
      this.scrollTo(y);
    } else if (bottom > scrollTop + this.viewportHeight) {
      this.scrollTo(Math.min(y, bottom - this.viewportHeight));
    }
  }

  private rowOf(root: Element): LogRow | undefined {
    for (const [row, el] of this.rendered) if (el.root === root) return row;
    return undefined;
  }
}
