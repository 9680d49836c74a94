import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's logger (accessLog sets it in the standalone server): its lines carry the request id. */
    log?: Logger;
  }
}

/** A client's X-Request-Id is kept only when it is a short token: anything else could forge or inject into the log. */
const GIVEN_ID = /^[\w.-]{1,64}$/;

/** Requests that get no access line: probes and scrapes, several a second, would drown the others. */
const QUIET = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The access log of the standalone server: every request gets an id (the client's X-Request-Id if it
 * is a short token, else a new UUID), echoed in X-Request-Id, and `req.log`, a child logger (made when first used) bound to
 * `req: { id, method, path }` for whatever is logged about it; when its response closes, one line with
 * method, path (no query), status and time in ms: `info`, or `error` for a 5xx. Never headers or bodies.
 *
 * The same line pino-http wrote, written directly: pino-http's per-request machinery (its serializers,
 * a child of a child, three listeners per response) cost more CPU than a small POST's own work.
 */
export function accessLog(logger: Logger): NodeMiddleware {
  return (req, res, next) => {
    const started = Date.now();
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && GIVEN_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', id);
    const url = req.url ?? '/'; // always set on a server's request
    const query = url.indexOf('?');
    const bound = { id, method: req.method, path: query === -1 ? url : url.slice(0, query) };
    lazyRequestLogger(req, logger, bound);
    if (!QUIET.has(url)) {
      res.once('close', () => {
        const statusCode = res.statusCode;
        const line = { req: bound, res: { statusCode }, responseTime: Date.now() - started };
        if (statusCode >= 500) logger.error({ ...line, err: new Error(`failed with status code ${statusCode}`) }, 'request errored');
        else logger.info(line, res.writableEnded ? 'request completed' : 'request aborted');
      });
    }
    next();
  };
}

/**
 * A middleware that needs nothing of Express's: the standalone server runs it in its Express app and,
 * without Express, before the ingest lane.
 */
export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** Where a request keeps what its logger is made from, and the logger once made (see lazyRequestLogger). */
const REQUEST_LOGGER = Symbol('livetail.requestLogger');

/** A request's logger, or what makes it on first use. */
class LazyLogger {
  private made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bound: { id: string; method: string | undefined; path: string },
  ) {}

  readonly get = (): Logger => (this.made ??= this.parent.child({ req: this.bound }));

  set(logger: Logger | undefined): void {
    this.made = logger;
  }
}

type LoggedRequest = IncomingMessage & { [REQUEST_LOGGER]?: LazyLogger };

/**
 * One accessor pair for every request: V8 keeps an object's accessors in its hidden class, so a getter
 * of its own per request would give each request a class of its own and make every property access on
 * requests (Express's, body-parser's) polymorphic.
 */
const LOG_PROPERTY: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: LoggedRequest) {
    return this[REQUEST_LOGGER]?.get();
  },
  set(this: LoggedRequest, logger: Logger | undefined) {
    this[REQUEST_LOGGER]?.set(logger);
  },
};

/**
 * Gives `req` its `log`, made on first use: most requests log nothing but their access line, and a
 * pino child costs more than the rest of the access log (its bindings are serialized and run through
 * the parent's redaction when it is made). A handler may also set `req.log` itself.
 */
function lazyRequestLogger(req: IncomingMessage, logger: Logger, bound: { id: string; method: string | undefined; path: string }): void {
  (req as LoggedRequest)[REQUEST_LOGGER] = new LazyLogger(logger, bound);
  Object.defineProperty(req, 'log', LOG_PROPERTY);
}

/**
 * `req.log` as a function that holds neither the request nor a logger it has not needed yet: for what
 * outlives the response (RequestFailures keeps it once the response has closed).
 */
export function requestLoggerOf(req: IncomingMessage): () => Logger | undefined {
  const lazy = (req as LoggedRequest)[REQUEST_LOGGER];
  if (lazy) return lazy.get;
  const log = req.log;
  return () => log;
}
