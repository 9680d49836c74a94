import { AsyncLocalStorage } from 'node:async_hooks';
import type http from 'node:http';
import type { Logger } from 'pino';
import { HttpError } from '../errors.js';
import { requestLoggerOf } from './access-log.js';
import type { Metrics } from '../metrics/metrics.js';

type ScopedRequest = http.IncomingMessage & { log?: Logger };

/**
 * What an error thrown in a request's scope needs. Resources a request creates (a pooled connection, a
 * timer) keep the scope for their lifetime, so once the response closes only its logger stays.
 */
interface RequestScope {
  req: ScopedRequest | undefined;
  res: http.ServerResponse | undefined;
  /** The request's logger, once the response has closed (made only if an error needs it). */
  log: (() => Logger | undefined) | undefined;
}

/**
 * No exception thrown while handling one HTTP request may end the process: it answers 500 (if the
 * answer has not started; else the response is cut), is logged once with the request id, counted in
 * `livetail_handler_errors_total{handler="request"}` (`request-escaped` for what escaped Express), and the node carries on.
 *
 * Express catches what a handler throws or rejects with (the error handler reports it through
 * `handled`). What escapes Express — a throw in a response's 'finish' or 'close' listener, in a timer
 * or a promise a request started — reaches the process's `uncaughtException` / `unhandledRejection`
 * handlers; every request runs in an AsyncLocalStorage scope, which those callbacks inherit, so
 * `escaped` can tell such an error from one that belongs to no request.
 */
export class RequestFailures {
  private readonly scope = new AsyncLocalStorage<RequestScope>();
  /** Responses already answered 500 or cut: a later error of the same request is its consequence. */
  private readonly failed = new WeakSet<http.ServerResponse>();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** The server's request listener: `app`, run in the request's scope. */
  listener(app: http.RequestListener): http.RequestListener {
    return (req, res) => {
      const scope: RequestScope = { req, res, log: undefined };
      res.once('close', () => {
        scope.log = requestLoggerOf(req); // the access log's child logger (access-log.ts), with the request id
        scope.req = scope.res = undefined;
      });
      this.scope.run(scope, () => app(req, res));
    };
  }

  /**
   * An unexpected error Express caught for this request (the error handler answers 500): logs and counts
   * it, unless the request had already failed, of which this error is a consequence.
   */
  handled(error: unknown, req: ScopedRequest, res: http.ServerResponse): void {
    if (this.failed.has(res)) return;
    this.failed.add(res);
    (req.log ?? this.logger).error({ err: error }, 'request failed');
    this.metrics.handlerErrors.labels('request').inc();
  }

  /**
   * An error that escaped Express. When it was thrown while handling a request: answers that request 500
   * if its answer has not started (closing the connection, whose request may be half read), else cuts
   * the response if unfinished; logs, counts, and returns true. False for an error of no request.
   */
  escaped(error: unknown): boolean {
    const current = this.scope.getStore();
    if (!current) return false;
    const { req, res } = current;
    (req?.log ?? current.log?.() ?? this.logger).error({ err: error }, 'request failed outside its handler');
    this.metrics.handlerErrors.labels('request-escaped').inc();
    if (!res || this.failed.has(res)) return true; // answered (or failed) already
    this.failed.add(res);
    try {
      if (!res.headersSent) {
        const body = JSON.stringify(new HttpError('INTERNAL').toJSON());
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
        res.end(body);
      } else if (!res.writableEnded) {
        res.destroy();
      }
    } catch {
      res.destroy(); // the answer could not be written: cut it rather than throw from the process's handler
    }
    return true;
  }
}
