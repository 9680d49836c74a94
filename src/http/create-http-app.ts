import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { toNodeHandler } from 'better-auth/node';
import express, { type ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Auth } from '../auth/create-auth.js';
import { HTTP_ERRORS, HttpError } from '../errors.js';
import type { JobService } from '../jobs/job-service.js';
import type { LogService } from '../logs/log-service.js';
import type { Metrics } from '../metrics/metrics.js';
import { StoreUnavailableError } from '../store/log-store.js';
import type { Authenticate } from './authenticate.js';
import { singleQueryValues } from './query-guard.js';
import { type ReadRouteOptions, ReadSlots } from './read-slots.js';
import type { RequestFailures } from './request-failures.js';
import { healthRoutes, type Readiness } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { type LogRoutesOptions, logRoutes } from './routes/logs.js';
import { securityHeaders } from './security-headers.js';

export interface HttpAppDeps {
  auth: Auth;
  authenticate: Authenticate;
  logs: LogService;
  jobs: JobService;
  metrics: Metrics;
  logger: Logger;
  readiness: Readiness;
  /** Reports what a request throws, inside Express (the error handler) or outside it. */
  failures: RequestFailures;
  /** The built web console (dist/web); served at / when it exists. */
  webDir: string | undefined;
  options: LogRoutesOptions & { trustProxy: boolean; maxReadsPerUser: number; sendTimeoutMs: number };
}

/** The Express app: better-auth, the REST API, health, metrics and the console. Never listens. */
export function createHttpApp(deps: HttpAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // API answers are never cached conditionally; hashing every 201 body for an ETag only costs CPU.
  app.set('etag', false);
  // TRUST_PROXY means one proxy in front (as for the gateway's per-address limit): trust that one hop only.
  app.set('trust proxy', deps.options.trustProxy ? 1 : false);
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      // Never log headers (cookies, bearer tokens) or bodies (log payloads): method, path, status, time.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, path: req.url.split('?')[0] }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
    }),
  );
  app.use(securityHeaders());

  // better-auth reads its own bodies: mounted before any body parser.
  app.all('/api/auth/*splat', toNodeHandler(deps.auth));
  // livetail's own /api routes (better-auth, above, parses its own queries).
  app.use('/api', singleQueryValues());
  const reads: ReadRouteOptions = {
    slots: new ReadSlots(deps.options.maxReadsPerUser),
    send: { stallMs: deps.options.sendTimeoutMs, onStall: () => deps.metrics.httpStalledResponses.inc() },
  };
  app.use('/api/logs', logRoutes(deps.logs, deps.authenticate, deps.options, reads));
  app.use('/api/jobs', jobRoutes(deps.jobs, deps.authenticate, deps.options.maxBodyBytes, reads));
  app.use(healthRoutes(deps.readiness, deps.metrics));
  app.use('/api', (_req, _res, next) => next(new HttpError('NOT_FOUND')));
  app.use(storeUnavailableAnswers(deps.logger));

  if (deps.webDir && fs.existsSync(path.join(deps.webDir, 'index.html'))) {
    app.use(express.static(deps.webDir, { index: 'index.html', maxAge: '1h', setHeaders: noCacheForHtml }));
  }
  app.use((_req, _res, next) => next(new HttpError('NOT_FOUND')));
  app.use(errorHandler(deps.failures));
  return app;
}

/**
 * Before the error handler: a store that did not answer is logged as a failed request, then answered
 * 503 STORE_UNAVAILABLE rather than 500 (it is no bug of ours), and an error whose code says when to try
 * again gets its Retry-After.
 */
function storeUnavailableAnswers(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    let error = err;
    if (error instanceof StoreUnavailableError) {
      (req.log ?? logger).error({ err: error }, 'request failed');
      error = new HttpError('STORE_UNAVAILABLE');
    }
    const entry = error instanceof HttpError ? HTTP_ERRORS[error.code] : undefined;
    if (entry && 'retryAfterSeconds' in entry && !res.headersSent) res.setHeader('Retry-After', String(entry.retryAfterSeconds));
    next(error);
  };
}

function noCacheForHtml(res: express.Response, file: string): void {
  if (file.endsWith('.html')) res.setHeader('Cache-Control', 'no-cache');
}

/**
 * Every error becomes a JSON body from the catalog; nothing internal leaks to the client. An answer
 * already under way (a streamed read whose later slice failed) cannot change its status: it is cut,
 * so the client sees a broken answer rather than a complete-looking one.
 */
function errorHandler(failures: RequestFailures): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let error: HttpError;
    if (err instanceof HttpError) error = err;
    else if (err?.type === 'entity.too.large') error = new HttpError('BODY_TOO_LARGE', `Request body too large: the limit is ${err.limit} bytes`);
    else if (err?.type === 'entity.parse.failed') error = new HttpError('INVALID_JSON');
    else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      error = new HttpError('VALIDATION_FAILED', typeof err.message === 'string' ? err.message : HTTP_ERRORS.VALIDATION_FAILED.message);
    } else {
      failures.handled(err, req, res);
      error = new HttpError('INTERNAL');
    }
    if (res.headersSent) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    res.status(error.status).json(error.toJSON());
  };
}
