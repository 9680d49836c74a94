import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

/**
 * The server's own log: JSON lines (or pretty with LOG_FORMAT=pretty). Secrets are kept out twice:
 * nothing logs headers or log payloads in the first place, and `redactSecrets` censors them in case one
 * slips.
 */
export function createLogger(
  options: { level: string; format: 'json' | 'pretty'; nodeId?: string },
  destination?: DestinationStream,
): Logger {
  const config: pino.LoggerOptions = {
    level: options.level,
    base: { node: options.nodeId },
    // Not pino's `redact`: with wildcard paths it runs its redactor on every value of every line (it cost
    // about 18 KB of garbage per socket-connect line and 35 KB per socket-close line, and was half of what
    // the two lines cost). This looks at a line's keys and one or two levels of objects, and copies only
    // where something is censored. It sees each line's own object, not a child logger's bindings (pino
    // writes those once, when the child is made): livetail's only child binds a request's id, method and path.
    formatters: { log: redactSecrets },
  };
  const stream = destination ?? (options.format === 'pretty' ? pretty({ colorize: process.stdout.isTTY, sync: true }) : batchedStdout());
  return pino(config, stream);
}

/** What a censored value is logged as. */
export const REDACTED = '[redacted]';
/** Keys censored at a line's top level and in any object there (`err.body`, `req.cookie`, `headers.authorization`). */
const SECRET_KEYS = new Set(['cookie', 'authorization', 'token', 'password', 'secret', 'log', 'logs', 'entry', 'body']);
/** Keys censored in the `headers` of an object at the top level (`req.headers.cookie`). */
const HEADER_SECRET_KEYS = new Set(['cookie', 'authorization']);

/**
 * A log line's object with every secret-named value censored: `cookie`,
 * `authorization`, `token`, `password`, `secret`, `log`, `logs`, `entry` and `body`, at the top level and
 * in any object there; `cookie` and `authorization` in that object's `headers`. The object itself is never
 * changed: what is censored is copied, with its prototype (an Error stays an Error for pino's serializer).
 */
export function redactSecrets(line: Record<string, unknown>): Record<string, unknown> {
  return censored(line, SECRET_KEYS, censorTopLevelObject);
}

/** An object at a line's top level: the same keys, and the secret headers in its `headers`. */
const censorTopLevelObject = (value: object): object => censored(value, SECRET_KEYS, censorHeaders);
const censorHeaders = (value: object, key: string): object => (key === 'headers' ? censored(value, HEADER_SECRET_KEYS) : value);

/**
 * `object` with the values under `keys` censored and each other object value passed through `inner`;
 * `object` itself when nothing changed.
 */
function censored<T>(object: T, keys: Set<string>, inner?: (value: object, key: string) => object): T {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return object;
  let copy: Record<string, unknown> | undefined;
  const source = object as Record<string, unknown>;
  for (const key in source) {
    if (!Object.prototype.hasOwnProperty.call(source, key)) continue;
    const value = source[key];
    if (value === undefined) continue;
    const replaced = keys.has(key) ? REDACTED : inner && typeof value === 'object' && value !== null ? inner(value, key) : value;
    if (replaced === value) continue;
    copy ??= Object.create(Object.getPrototypeOf(source), Object.getOwnPropertyDescriptors(source)) as Record<string, unknown>;
    Object.defineProperty(copy, key, { value: replaced, enumerable: true, writable: true, configurable: true });
  }
  return (copy ?? object) as T;
}

/** How long a line may wait in the buffer before it is written. */
const FLUSH_INTERVAL_MS = 250;

/**
 * stdout, written in blocks of up to 4 KiB rather than one system call per line: under a connect storm
 * two lines per socket cost more CPU than the rest of the connect. A timer writes whatever waits at least
 * every 250 ms, and pino writes the rest synchronously when the process exits.
 */
function batchedStdout(): DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => {
    try {
      stream.flush();
    } catch {
      // not ready yet (the file descriptor opens asynchronously) or already closed: the next tick retries
    }
  }, FLUSH_INTERVAL_MS).unref();
  return stream;
}
