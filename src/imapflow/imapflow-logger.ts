import { LOG_LEVELS, type LogLevel } from '../protocol/constants.js';
import { ConnectionTracker } from './connection-tracker.js';
import { type EntryShape, commandEntry, connectionEntry } from './entry-builder.js';
import { type LogSink, deliveryTo } from './sink.js';

type LoggerMethod = (...args: unknown[]) => void;
/** A method of your own logger: pino's and console's take typed arguments, hence `any`. */
type ForeignMethod = (...args: any[]) => unknown;
const IMAPFLOW_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
type ImapflowLevel = (typeof IMAPFLOW_LEVELS)[number];

/** Options of imapflowLogger(); docs/producers.md describes each. */
export interface ImapflowLoggerOptions {
  /** Where entries go: a publisher (createPublisher) or, with livetail embedded, `lt.logs`. */
  sink: LogSink;
  /** Whose logs these are: the livetail user the entries belong to. */
  userId: string;
  /** The email account this ImapFlow client is connected to (one logger per client). */
  emailAccountId: string;
  /** Level of successful chatter commands (`chatterCommands`). Default info; debug keeps them out of an info-level stream. */
  chatterLevel?: LogLevel;
  /** The chatter. Default CAPABILITY, NOOP, ID, NAMESPACE. */
  chatterCommands?: readonly string[];
  /** Entries below this level are not built nor sent. Default debug (all; the server's REALTIME_LOG_LEVEL filters too). */
  minLevel?: LogLevel;
  /**
   * Follow FETCH responses too: a FETCH entry then keeps its first `* n FETCH` lines and counts the
   * rest. Off by default: ImapFlow logs each row at trace and formats it for the log only when a logger
   * takes trace, which about doubles its CPU per fetched message (bench W7); without it a FETCH entry
   * has its tagged line and its other untagged data.
   */
  fetchResponses?: boolean;
  /** Untagged responses kept verbatim per command (the rest are counted). Default 10. */
  maxUntaggedLines?: number;
  /** Characters kept of each untagged line. Default 300. */
  maxLineChars?: number;
  /** Longest `raw`, in characters. Default 4096. */
  maxRawChars?: number;
  /** Longest `response` (and `error`), in characters. Default 8192. */
  maxResponseChars?: number;
  /** Your own logger (pino, console-like): every call ImapFlow makes is passed on to it unchanged. */
  logger?: Partial<Record<ImapflowLevel, ForeignMethod>> & { isLevelEnabled?: (level: string) => boolean };
  /**
   * Told when the sink refused an entry: publish() threw, or an in-process `lt.logs.log()` rejected — then
   * with a LivetailError whose `code` says why (VALIDATION_FAILED, INVALID_BODY, STORE_UNAVAILABLE, …).
   * Default: ignored.
   */
  onError?: (error: unknown) => void;
  /** For tests: the clock, in ms (default performance.now). */
  now?: () => number;
}

/** What ImapFlow calls: one method per level, each taking its `{ src, msg, cid, … }` object. */
export type ImapflowLogger = { [L in Exclude<ImapflowLevel, 'trace'>]: LoggerMethod } & {
  /** Present only when FETCH responses are followed (or your logger takes trace): ImapFlow formats FETCH rows only for a logger that has it. */
  trace?: LoggerMethod;
  /** Entries handed to the sink, and sink failures, since creation. */
  stats(): { entries: number; sinkErrors: number };
};

interface LogCall {
  src?: unknown;
  msg?: unknown;
  cid?: unknown;
  err?: unknown;
}

/**
 * A logger for ImapFlow's `logger` option that turns the client's traffic into livetail log entries,
 * one per tagged command (see commandEntry), sanitized before they leave it, and hands them to `sink`.
 * It never throws into ImapFlow and never leaves a rejection unhandled.
 *
 *   const client = new ImapFlow({ host, auth, logger: imapflowLogger({ sink, userId, emailAccountId }) });
 */
export function imapflowLogger(options: ImapflowLoggerOptions): ImapflowLogger {
  if (!options || typeof options.userId !== 'string' || !options.userId) throw new TypeError('imapflowLogger needs a userId: whose logs these are');
  if (typeof options.emailAccountId !== 'string' || !options.emailAccountId) throw new TypeError('imapflowLogger needs an emailAccountId: the account this client is connected to');
  const counts = { entries: 0, sinkErrors: 0 };
  const onError = options.onError ?? (() => {});
  const deliver = deliveryTo(options.sink, (error) => {
    counts.sinkErrors++;
    safely(() => onError(error));
  });
  const now = options.now ?? (() => performance.now());
  const minLevel = LOG_LEVELS.indexOf(options.minLevel ?? 'debug');
  const shape: EntryShape = {
    userId: options.userId,
    emailAccountId: options.emailAccountId,
    chatterCommands: new Set((options.chatterCommands ?? ['CAPABILITY', 'NOOP', 'ID', 'NAMESPACE']).map((c) => c.toUpperCase())),
    chatterLevel: options.chatterLevel ?? 'info',
    maxRawChars: options.maxRawChars ?? 4096,
    maxResponseChars: options.maxResponseChars ?? 8192,
  };
  const bounds = { maxLines: options.maxUntaggedLines ?? 10, maxLineChars: options.maxLineChars ?? 300 };
  const send = (entry: ReturnType<typeof commandEntry>) => {
    if (LOG_LEVELS.indexOf(entry.level) < minLevel) return;
    counts.entries++;
    deliver(entry);
  };

  const connections = new Map<string, ConnectionTracker>();
  const tracker = (cid: string) => {
    let found = connections.get(cid);
    if (!found) {
      found = new ConnectionTracker(
        bounds,
        (done) => send(commandEntry(done, shape)),
        (error) => send(connectionEntry(error, shape)),
      );
      connections.set(cid, found);
    }
    return found;
  };

  const handle = (level: ImapflowLevel, call: LogCall) => {
    if (call === null || typeof call !== 'object') return;
    const cid = typeof call.cid === 'string' ? call.cid : '';
    if (typeof call.msg === 'string' && (call.src === 'c' || call.src === 's')) {
      // An unparseable server line logged at error is not traffic the tracker can place.
      if (call.src === 'c') tracker(cid).client(call.msg, now());
      else if (level !== 'error') tracker(cid).server(call.msg, now());
      else connections.get(cid)?.failed(describeError(call.err) ?? call.msg);
      return;
    }
    if (call.msg === 'Connection closed' && call.src === undefined) {
      const closing = connections.get(cid);
      connections.delete(cid);
      closing?.closed(now());
      return;
    }
    if ((level === 'error' || level === 'fatal') && call.err !== undefined) {
      const error = describeError(call.err);
      if (error) tracker(cid).failed(error);
    }
  };

  const inner = options.logger;
  const followTrace = options.fetchResponses === true || (typeof inner?.trace === 'function' && (inner.isLevelEnabled?.('trace') ?? true));
  const logger = { stats: () => ({ ...counts }) } as ImapflowLogger;
  for (const level of IMAPFLOW_LEVELS) {
    if (level === 'trace' && !followTrace) continue;
    logger[level] = (...args: unknown[]) => {
      const forward = inner?.[level];
      if (typeof forward === 'function') safely(() => forward.apply(inner, args));
      safely(() => handle(level, args[0] as LogCall));
    };
  }
  return logger;
}

/** "ECONNRESET: read ECONNRESET" from a logged error (an Error, or what ImapFlow flattened). */
function describeError(err: unknown): string | undefined {
  if (err === null || err === undefined) return undefined;
  if (typeof err !== 'object') return String(err);
  const { message, code } = err as { message?: unknown; code?: unknown };
  const text = typeof message === 'string' && message ? message : undefined;
  const label = typeof code === 'string' && code ? code : undefined;
  if (label && text && !text.includes(label)) return `${label}: ${text}`;
  return text ?? label;
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // Nothing here may reach ImapFlow: a throw inside its logging would break its protocol handling.
  }
}
