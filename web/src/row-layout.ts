import type { LogRow } from './log-filter.js';

/**
 * Vertical layout of the virtualized table: every row is `rowHeight` tall, an expanded row adds
 * `detailHeight` (its detail pane scrolls inside). Only a handful of rows are ever expanded, so the
 * layout is computed from the sorted positions of the expanded rows instead of one offset per row.
 */
export class RowLayout {
  /** View indexes of the expanded rows, ascending. */
  private expandedAt: number[] = [];
  /** Rows in the view. */
  private count = 0;

  constructor(
    readonly rowHeight: number,
    readonly detailHeight: number,
  ) {}

  /** Recomputes where the expanded rows are in `view` (sorted by `n`). */
  update(view: readonly LogRow[], expanded: ReadonlySet<LogRow>): void {
    this.expandedAt = [];
    for (const row of expanded) {
      const index = indexOfRow(view, row);
      if (index !== -1) this.expandedAt.push(index);
    }
    this.expandedAt.sort((a, b) => a - b);
    this.count = view.length;
  }

  get totalHeight(): number {
    return this.count * this.rowHeight + this.expandedAt.length * this.detailHeight;
  }

  /** The y of the top of the row at `index`. */
  offsetOf(index: number): number {
    let extra = 0;
    for (const at of this.expandedAt) {
      if (at >= index) break;
      extra += this.detailHeight;
    }
    return index * this.rowHeight + extra;
  }

  /** The index of the row covering `y` (clamped to the view). */
  indexAt(y: number): number {
    let extra = 0;
    for (const at of this.expandedAt) {
      const top = at * this.rowHeight + extra;
      if (y < top) break;
      if (y < top + this.rowHeight + this.detailHeight) return at;
      extra += this.detailHeight;
    }
    const index = Math.floor((y - extra) / this.rowHeight);
    return Math.max(0, Math.min(this.count - 1, index));
  }

  heightOf(index: number): number {
    return this.expandedAt.includes(index) ? this.rowHeight + this.detailHeight : this.rowHeight;
  }
}

/** Binary search by `n`: the view is ordered by arrival. */
export function indexOfRow(view: readonly LogRow[], row: LogRow): number {
  let lo = 0;
  let hi = view.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const n = view[mid]!.n;
    if (n === row.n) return mid;
    if (n < row.n) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
