import { passesLevel } from '../../src/logs/levels.js';
import { LOG_LEVELS, type LogLevel } from '../../src/protocol/constants.js';
import type { LogEntry } from '../../src/protocol/log-entry.js';

/** What the console shows: a minimum level, one account, one command, and free text (all optional). */
export interface LogFilter {
  minLevel: LogLevel;
  /** '' = every account. */
  account: string;
  /** '' = every command. */
  command: string;
  /** Case-insensitive substring of the account, command, raw line, parsed data, response or error. */
  text: string;
}

export const NO_FILTER: LogFilter = { minLevel: LOG_LEVELS[0], account: '', command: '', text: '' };

/** A log as the console keeps it: `n` orders rows (ids are opaque); the search text is made on first use. */
export class LogRow {
  private text: string | undefined;

  constructor(
    readonly log: LogEntry,
    readonly n: number,
  ) {}

  /** Lower-cased text the free-text filter searches: only built once someone searches. */
  get haystack(): string {
    if (this.text === undefined) {
      const { raw, parsed, response, error } = this.log.data;
      this.text = [this.log.emailAccountId, this.log.command, raw, parsed === undefined ? undefined : stringifyParsed(parsed), response, error]
        .filter((part) => typeof part === 'string' && part !== '')
        .join('\n')
        .toLowerCase();
    }
    return this.text;
  }
}

/** The filter as a test of one row, with the per-filter work (lower-casing the text) done once, not per row. */
export function matcher(filter: LogFilter): (row: LogRow) => boolean {
  const { minLevel, account, command } = filter;
  const text = filter.text.toLowerCase();
  return (row) =>
    passesLevel(row.log.level, minLevel) &&
    (!account || row.log.emailAccountId === account) &&
    (!command || row.log.command === command) &&
    (!text || row.haystack.includes(text));
}

/**
 * Splits `text` into plain and matched parts for highlighting `needle` (case-insensitive):
 * `split('A1 FETCH', 'fetch')` → [['A1 ', false], ['FETCH', true]].
 */
export function splitMatches(text: string, needle: string): Array<[string, boolean]> {
  if (!needle) return [[text, false]];
  const lower = text.toLowerCase();
  const target = needle.toLowerCase();
  const parts: Array<[string, boolean]> = [];
  let from = 0;
  // Bounded: each iteration consumes at least one character of `text`.
  for (let at = lower.indexOf(target, from); at !== -1; at = lower.indexOf(target, from)) {
    if (at > from) parts.push([text.slice(from, at), false]);
    parts.push([text.slice(at, at + target.length), true]);
    from = at + target.length;
  }
  if (from < text.length) parts.push([text.slice(from), false]);
  return parts;
}

/** `parsed` as shown in the detail pane and searched by the free-text filter. */
export function stringifyParsed(parsed: unknown): string {
  try {
    return JSON.stringify(parsed, null, 2) ?? String(parsed);
  } catch {
    return String(parsed);
  }
}
