import { z } from 'zod';
import { LOG_LEVELS } from './constants.js';

/** Bounds on the free-form `parsed` field of a log entry (configurable: MAX_PARSED_DEPTH, MAX_PARSED_BYTES). */
export interface ParsedBounds {
  maxDepth: number;
  maxBytes: number;
}

export const DEFAULT_PARSED_BOUNDS: ParsedBounds = { maxDepth: 16, maxBytes: 64 * 1024 };

/** Depth of a JSON value: a scalar is 0, `{}` or `[]` is 1, `{a:{}}` is 2. Stops counting past `limit`. */
export function jsonDepth(value: unknown, limit = Infinity): number {
  if (value === null || typeof value !== 'object') return 0;
  let max = 0;
  for (const child of Object.values(value as Record<string, unknown>)) {
    const d = jsonDepth(child, limit);
    if (d > max) max = d;
    if (max >= limit) break;
  }
  return max + 1;
}

/**
 * The UTF-8 length of `text`, counted without encoding it (and without Node's Buffer: this module runs in
 * browsers too). A lone surrogate counts 3, as U+FFFD, which is what an encoder writes for it.
 */
function utf8Length(text: string): number {
  let bytes = text.length; // one byte per UTF-16 unit, plus what wider characters add
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: 2 units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

const logLevel = z.enum(LOG_LEVELS);

/**
 * A string stored in a column of its own (user and account ids, the command, a job id): PostgreSQL's
 * text cannot hold U+0000, so one would fail the whole transaction it is grouped with; it is refused
 * here instead, for its own request only.
 */
const columnText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !value.includes('\u0000'), { message: 'must not contain U+0000 (NUL)' });

/** What an operation recorded: the raw line, what was parsed from it, the response, and how it went. */
function logDataSchema(bounds: ParsedBounds) {
  return z.strictObject({
    raw: z.string().max(256 * 1024).optional(),
    parsed: z
      .unknown()
      .optional()
      .superRefine((value, ctx) => {
        if (value === undefined) return;
        if (jsonDepth(value, bounds.maxDepth + 1) > bounds.maxDepth) {
          ctx.addIssue({ code: 'custom', message: `parsed is nested deeper than ${bounds.maxDepth} levels` });
          return;
        }
        const bytes = utf8Length(JSON.stringify(value) ?? '');
        if (bytes > bounds.maxBytes) {
          ctx.addIssue({ code: 'custom', message: `parsed is ${bytes} bytes serialized; the limit is ${bounds.maxBytes}` });
        }
      }),
    response: z.string().max(256 * 1024).optional(),
    duration: z.number().finite().nonnegative().optional(),
    error: z.string().max(64 * 1024).nullable().optional(),
  });
}

/**
 * A log entry as a producer sends it. The server adds `id` and `timestamp`.
 * `userId` is required with the service token and must match the caller with a session.
 */
export function logEntryInputSchema(bounds: ParsedBounds = DEFAULT_PARSED_BOUNDS) {
  return z.strictObject({
    userId: columnText(256).optional(),
    emailAccountId: columnText(256),
    level: logLevel,
    command: columnText(128),
    data: logDataSchema(bounds).default({}),
  });
}
export type LogEntryInput = z.input<ReturnType<typeof logEntryInputSchema>>;
export type ValidLogEntryInput = z.output<ReturnType<typeof logEntryInputSchema>>;

/** A stored log entry: what `initial-logs` and `log` carry and `GET /api/logs` returns. */
export const logEntrySchema = z.strictObject({
  id: z.uuid(),
  timestamp: z.iso.datetime(),
  userId: z.string(),
  emailAccountId: z.string(),
  level: logLevel,
  command: z.string(),
  data: z.strictObject({
    raw: z.string().optional(),
    parsed: z.unknown().optional(),
    response: z.string().optional(),
    duration: z.number().optional(),
    error: z.string().nullable().optional(),
  }),
});
export type LogEntry = z.infer<typeof logEntrySchema>;

/**
 * A job state change as a producer sends it: `jobId` and `status` are required, anything else is
 * carried through untouched as the `data` of the `job-event` message.
 */
export const jobEventInputSchema = z.looseObject({
  userId: columnText(256).optional(),
  jobId: columnText(256),
  status: z.string().min(1).max(64),
});
export type JobEventInput = z.input<typeof jobEventInputSchema>;

/** The `data` of a `job-event`: the event object, with the owner's `userId`. */
export const jobEventDataSchema = z.looseObject({
  userId: z.string(),
  jobId: z.string(),
  status: z.string(),
});
export type JobEventData = z.infer<typeof jobEventDataSchema>;
