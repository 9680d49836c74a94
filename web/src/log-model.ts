import type { LogEntry } from '../../src/protocol/log-entry.js';
import { type LogFilter, LogRow, matcher, NO_FILTER } from './log-filter.js';

/** What one change did to the filtered view, so the table can keep the user's scroll position. */
export interface ViewChange {
  /** Rows appended at the end of the view. */
  appended: number;
  /** Rows dropped from the start of the view (the oldest logs, beyond the capacity). */
  evicted: LogRow[];
  /** The view was rebuilt (filter change, clear, reset): positions are meaningless now. */
  rebuilt: boolean;
}

/**
 * The console's logs, oldest first, bounded to `capacity`; the filtered `view`; and while paused, the
 * logs held back. Pure data: no DOM, so a frame can apply any number of logs in one pass.
 */
export class LogModel {
  /** The rows that pass the filter, oldest first. */
  view: LogRow[] = [];
  /** The accounts and commands seen; a clear replaces the sets (a reader tells a new set from a grown one). */
  accounts = new Set<string>();
  commands = new Set<string>();
  private rows: LogRow[] = [];
  private held: LogEntry[] = [];
  private nextN = 0;
  private paused = false;
  private matches = matcher(NO_FILTER);

  constructor(readonly capacity = 10_000) {}

  /** Every kept log, filtered or not. */
  get total(): number {
    return this.rows.length;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** How many logs arrived while paused. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Adds logs in arrival order; while paused they are held back. */
  add(logs: readonly LogEntry[]): ViewChange {
    if (this.paused) {
      this.held.push(...logs);
      // A paused console must not grow without bound: keep at most what could be shown.
      if (this.held.length > this.capacity) this.held.splice(0, this.held.length - this.capacity);
      return { appended: 0, evicted: [], rebuilt: false };
    }
    let appended = 0;
    for (const log of logs) {
      const row = new LogRow(log, this.nextN++);
      this.rows.push(row);
      this.accounts.add(log.emailAccountId);
      this.commands.add(log.command);
      if (this.matches(row)) {
        this.view.push(row);
        appended++;
      }
    }
    return { appended, evicted: this.evict(), rebuilt: false };
  }

  setFilter(filter: LogFilter): ViewChange {
    this.matches = matcher(filter);
    this.view = this.rows.filter(this.matches);
    return { appended: 0, evicted: [], rebuilt: true };
  }

  pause(): void {
    this.paused = true;
  }

  /** Resumes, appending everything held back while paused. */
  resume(): ViewChange {
    this.paused = false;
    const held = this.held;
    this.held = [];
    return this.add(held);
  }

  /** Drops every log, shown or held (logs-cleared, or the SDK's reset). */
  clear(): ViewChange {
    this.rows = [];
    this.view = [];
    this.held = [];
    this.accounts = new Set();
    this.commands = new Set();
    return { appended: 0, evicted: [], rebuilt: true };
  }

  /** Trims the oldest rows beyond capacity (a memmove of pointers: microseconds even for 10,000 rows). */
  private evict(): LogRow[] {
    if (this.rows.length <= this.capacity) return [];
    const drop = this.rows.length - this.capacity;
    const firstKept = this.rows[drop]!.n;
    this.rows.splice(0, drop);
    let inView = 0;
    while (inView < this.view.length && this.view[inView]!.n < firstKept) inView++;
    return this.view.splice(0, inView);
  }
}
