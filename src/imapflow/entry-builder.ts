import { sanitizeEntry } from '../sanitizer/sanitizer.js';
import type { LogLevel } from '../protocol/constants.js';
import type { LogEntryInput } from '../protocol/log-entry.js';
import type { FinishedCommand } from './connection-tracker.js';
import { cut } from './untagged-summary.js';

/** A log entry the adapter hands its sink: named for its user, sanitized. */
export type CapturedEntry = LogEntryInput & { userId: string };

export interface EntryShape {
  userId: string;
  emailAccountId: string;
  /** Commands logged at `chatterLevel` instead of info when they succeed. */
  chatterCommands: ReadonlySet<string>;
  chatterLevel: LogLevel;
  /** Longest `raw` and `response`, in characters; longer ones are cut with a note of how much. */
  maxRawChars: number;
  maxResponseChars: number;
}

/**
 * The log entry for a finished command: `command`, `raw`, `parsed`, `response` (the tagged completion,
 * then the untagged summary), `duration` (ms from its line to its end), `error` (null when it succeeded)
 * and `level` (error when it failed, the chatter level for chatter, info otherwise). Sanitized with the
 * server's own rules before it leaves the adapter, so no credential reaches the sink in clear.
 */
export function commandEntry(done: FinishedCommand, shape: EntryShape): CapturedEntry {
  const failed = done.error !== undefined;
  const response = [done.tagged, ...done.untagged].filter((line) => line !== undefined).join('\n');
  return finish(shape, {
    level: failed ? 'error' : shape.chatterCommands.has(done.command) ? shape.chatterLevel : 'info',
    command: done.command,
    data: {
      raw: done.raw,
      parsed: done.parsed,
      ...(response ? { response } : {}),
      duration: Math.round((done.endedAt - done.startedAt) * 1000) / 1000,
      error: done.error ?? null,
    },
  });
}

/** The entry for a connection that failed while no command was running: command CONNECTION, level error. */
export function connectionEntry(error: string, shape: EntryShape): CapturedEntry {
  return finish(shape, { level: 'error', command: 'CONNECTION', data: { error } });
}

function finish(shape: EntryShape, entry: Pick<LogEntryInput, 'level' | 'command' | 'data'>): CapturedEntry {
  // Sanitized whole first, so a secret is masked everywhere before any cut could split it.
  const clean = sanitizeEntry({ userId: shape.userId, emailAccountId: shape.emailAccountId, level: entry.level, command: entry.command, data: entry.data ?? {} });
  const data = clean.data;
  if (data.raw !== undefined) data.raw = cut(data.raw, shape.maxRawChars);
  if (data.response !== undefined) data.response = cut(data.response, shape.maxResponseChars);
  if (typeof data.error === 'string') data.error = cut(data.error, shape.maxResponseChars);
  return clean;
}
