import type { JobEventData, LogEntry } from '../protocol/log-entry.js';
import { localTime } from '../util/local-time.js';
import type { Colors } from './colors.js';

/**
 * One log as one terminal line, like `kubectl logs -f`:
 * `14:03:07.123 INFO  acct-1  FETCH  42ms  A1 FETCH 1:* (FLAGS) → A1 OK`, with the error in red.
 * Control characters in the content are escaped so a log can never move the cursor or recolour the terminal.
 */
export function formatLogLine(log: LogEntry, c: Colors): string {
  const level = log.level.toUpperCase().padEnd(5);
  const styled = log.level === 'error' ? c.red(level) : log.level === 'warn' ? c.yellow(level) : log.level === 'info' ? c.blue(level) : c.gray(level);
  const { raw, response, duration, error } = log.data;
  const parts = [
    c.gray(localTime(log.timestamp)),
    styled,
    c.cyan(clean(log.emailAccountId)),
    c.bold(clean(log.command)),
    duration === undefined ? undefined : c.dim(`${Math.round(duration)}ms`),
    raw === undefined ? undefined : clean(raw),
    response === undefined ? undefined : c.dim(`→ ${clean(response)}`),
    error ? c.red(`✖ ${clean(error)}`) : undefined,
  ];
  return parts.filter((p) => p !== undefined && p !== '').join(' ');
}

/** A job event as one line: `14:03:07.123 JOB   job-7 active 40%`. */
export function formatJobLine(event: JobEventData, c: Colors, now = new Date()): string {
  const { jobId, status, progress: percent, failedReason } = event;
  const progress = typeof percent === 'number' ? ` ${percent}%` : '';
  const failed = typeof failedReason === 'string' ? c.red(` ✖ ${clean(failedReason)}`) : '';
  const statusText = status === 'failed' ? c.red(status) : status === 'completed' ? c.green(status) : c.yellow(status);
  return `${c.gray(localTime(now.toISOString()))} ${c.bold('JOB  ')} ${c.cyan(clean(jobId))} ${statusText}${progress}${failed}`;
}


/** Newlines and other control characters shown escaped, on one line. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => (ch === '\n' ? '\\n' : ch === '\t' ? ' ' : ch === '\r' ? '\\r' : `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
