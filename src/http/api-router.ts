import type { ServerResponse } from 'node:http';
import express, { type Router } from 'express';
import type { Logger } from 'pino';
import type { Settings } from '../core/options.js';
import { HTTP_ERRORS, HttpError, LivetailError, SessionCheckUnavailable, StoreUnavailableError, retryAfterOf } from '../errors.js';
import type { JobService } from '../jobs/job-service.js';
import type { LogService } from '../logs/log-service.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Sessions } from '../sessions/sessions.js';
import type { LogStore } from '../store/log-store.js';
import type { ApiRequest, ApiResponse } from './api-request.js';
import { createAuthenticator } from './authenticate.js';
import { IdempotentAnswers } from './idempotency.js';
import { type IngestLane, createIngestLane } from './ingest-lane.js';
import { singleQueryValues } from './query-guard.js';
import { type ReadRouteOptions, ReadSlots } from './read-slots.js';
import type { RequestFailures } from './request-failures.js';
import { jobRoutes } from './routes/jobs.js';
import { LOGS_PATH, addLogRoutes, postLogs } from './routes/logs.js';
import { sendJson } from './send-json.js';
import { sessionRoutes } from './routes/sessions.js';

export interface ApiRouterDeps {
  logs: LogService;
  jobs: JobService;
  sessions: Sessions;
  /** Where the idempotency keys of POSTs are looked up. */
  store: Pick<LogStore, 'findIdempotency'>;
  metrics: Metrics;
  logger: Logger;
  /** Reports what a request throws (logged once, counted); the standalone server also routes escaped errors there. */
  failures: RequestFailures;
  settings: Settings;
}

/** The REST API and what its owner needs at shutdown. */
export interface ApiRouter {
  readonly router: Router;
  /** POST /logs without Express, for a server that mounts `router` at `mountPath` (ingest-lane.ts). */
  ingestLane(mountPath: string): IngestLane;
  /** Resolves once no request the router took is still in progress (at most `timeoutMs`). */
  settle(timeoutMs?: number): Promise<void>;
}

/**
 * livetail's REST API as one Express router, for the app (or the standalone server) to mount at `/api`:
 * POST/GET/DELETE /logs, POST /jobs/events, GET /jobs, POST /sessions/end. It parses its own bodies and
 * answers its own errors with the catalog's JSON; a path it does not own goes on to the app's next handler.
 */
export function createApiRouter(deps: ApiRouterDeps): ApiRouter {
  const { settings } = deps;
  const router = express.Router();
  const inFlight = new InFlight();
  router.use((_req, res, next) => {
    inFlight.track(res);
    next();
  });
  // Every query parameter once, on every route of livetail's own (an array could pass for a missing value).
  router.use(singleQueryValues());
  const authenticate = createAuthenticator(deps.sessions, settings.ingestToken, settings.trustedOrigins);
  const reads: ReadRouteOptions = {
    slots: new ReadSlots(settings.maxReadsPerUser),
    send: { stallMs: settings.httpSendTimeoutMs, onStall: () => deps.metrics.httpStalledResponses.inc() },
  };
  const idempotent = new IdempotentAnswers(deps.store, deps.metrics);
  addLogRoutes(router, deps.logs, authenticate, settings, reads, idempotent);
  router.use('/jobs', jobRoutes(deps.jobs, authenticate, settings.maxBodyBytes, reads, idempotent));
  router.use('/sessions', sessionRoutes(deps.sessions, authenticate, settings.maxBodyBytes));
  const unavailable = unavailableAnswers(deps.logger);
  const errors = errorAnswers(deps.failures);
  router.use(unavailable, errors);
  const ingestLane = (mountPath: string) =>
    createIngestLane({
      path: `${mountPath}${LOGS_PATH}`,
      maxBodyBytes: settings.maxBodyBytes,
      authenticate,
      track: (res) => inFlight.track(res),
      onRaw: idempotent.digestBody,
      post: postLogs(deps.logs, settings, idempotent),
      fail: (error, req, res) => unavailable(error, req, res, (passed) => errors(passed, req, res, () => {})),
    });
  return { router, ingestLane, settle: (timeoutMs) => inFlight.settled(timeoutMs) };
}

/** An error handler of the API router, typed on what it uses, so the ingest lane can call it without Express. */
type ErrorAnswer = (err: unknown, req: ApiRequest, res: ApiResponse, next: (err?: unknown) => void) => void;

/**
 * Before the error answers: a store or session check that did not answer (the seams' failures, whose
 * messages are for the log) is logged as a failed request, then answered 503 (STORE_UNAVAILABLE,
 * AUTH_UNAVAILABLE) with the catalog's text rather than 500 (it is no bug of ours), and an error whose
 * code says when to try again gets its Retry-After.
 */
function unavailableAnswers(logger: Logger): ErrorAnswer {
  return (err, req, res, next) => {
    let error = err;
    if (error instanceof StoreUnavailableError || error instanceof SessionCheckUnavailable) {
      (req.log ?? logger).error({ err: error }, 'request failed');
      error = new HttpError(error instanceof SessionCheckUnavailable ? error.code : 'STORE_UNAVAILABLE');
    }
    const retryAfter = error instanceof LivetailError ? retryAfterOf(error.code) : undefined;
    if (retryAfter !== undefined && !res.headersSent) res.setHeader('Retry-After', String(retryAfter));
    next(error);
  };
}

/**
 * Every error becomes a JSON body from the catalog; nothing internal leaks to the client. A LivetailError
 * (a service's ValidationError or StoreWriteError, the HTTP layer's own HttpError) is answered with its
 * code's status and its own message and details; anything else unexpected is INTERNAL. An answer
 * already under way (a streamed read whose later slice failed) cannot change its status: it is cut,
 * so the client sees a broken answer rather than a complete-looking one.
 */
export function errorAnswers(failures: RequestFailures): ErrorAnswer {
  return (thrown, req, res, _next) => {
    const err = thrown as { type?: unknown; limit?: unknown; status?: unknown; message?: unknown } | undefined;
    let error: LivetailError;
    if (thrown instanceof LivetailError) error = thrown;
    else if (err?.type === 'entity.too.large') error = new HttpError('BODY_TOO_LARGE', HTTP_ERRORS.BODY_TOO_LARGE.texts.limit(Number(err.limit)));
    else if (err?.type === 'entity.parse.failed') error = new HttpError('INVALID_JSON');
    else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      // Another library's refusal of the request (body-parser's: an aborted body, an unknown charset), in its words.
      error = new HttpError('VALIDATION_FAILED', typeof err.message === 'string' ? err.message : HTTP_ERRORS.VALIDATION_FAILED.message);
    } else {
      failures.handled(thrown, req, res);
      error = new HttpError('INTERNAL');
    }
    if (res.headersSent) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    sendJson(res, HTTP_ERRORS[error.code].status, JSON.stringify(error.toJSON()));
  };
}

/** The requests in progress, so a shutdown can let them finish before the writer's last flush. */
class InFlight {
  private count = 0;
  private waiters: Array<() => void> = [];

  track(res: ServerResponse): void {
    this.count++;
    res.once('close', () => {
      if (--this.count === 0) for (const wake of this.waiters.splice(0)) wake();
    });
  }

  settled(timeoutMs = 5000): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
