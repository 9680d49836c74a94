import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { toNodeHandler } from 'better-auth/node';
import express from 'express';
import type { Logger } from 'pino';
import type { LivetailInternals } from '../core/create-livetail.js';
import { HttpError } from '../errors.js';
import { type NodeMiddleware, accessLog } from '../http/access-log.js';
import { errorAnswers } from '../http/api-router.js';
import { healthRoutes } from '../http/routes/health.js';
import { securityHeaders } from '../http/security-headers.js';
import type { StandaloneAuth } from './standalone-auth.js';

export interface StandaloneAppDeps {
  lt: LivetailInternals;
  /** The built-in better-auth (its routes at /api/auth); undefined in proxy mode, where the app signs users in. */
  auth: StandaloneAuth | undefined;
  logger: Logger;
  /** The built web console (dist/web); served at / when it exists. */
  webDir: string | undefined;
  trustProxy: boolean;
}

/** Where the standalone server mounts livetail's API router. */
const API_PATH = '/api';

/**
 * The standalone server's request listener around the core: access log and security headers, the
 * connect check on the WebSocket path, the built-in better-auth at /api/auth (not in proxy mode),
 * livetail's router at /api, health and metrics, the console, in an Express app; the plain
 * POST /api/logs of producers (most requests) through the core's ingest lane instead, after the same
 * access log and security headers. Never listens.
 */
export function createStandaloneApp(deps: StandaloneAppDeps): http.RequestListener {
  const { lt } = deps;
  const log = accessLog(deps.logger);
  const headers = securityHeaders();
  const lane = lt.ingestLane(API_PATH);
  const app = createExpressApp(deps, log, headers);
  const skip = () => {};
  return (req, res) => {
    if (!lane.takes(req)) return void app(req, res);
    log(req, res, skip);
    headers(req, res, skip);
    lane.handle(req, res);
  };
}

function createExpressApp(deps: StandaloneAppDeps, log: NodeMiddleware, headers: NodeMiddleware): express.Express {
  const { lt } = deps;
  const app = express();
  app.disable('x-powered-by');
  // API answers are never cached conditionally; hashing every 201 body for an ETag only costs CPU.
  app.set('etag', false);
  // TRUST_PROXY means one proxy in front (as for the gateway's per-address limit): trust that one hop only.
  app.set('trust proxy', deps.trustProxy ? 1 : false);
  app.use(log, headers);
  // GET /ws without an upgrade: why an upgrade would be refused (the SDK asks after a refusal).
  app.use((req, res, next) => {
    if (!lt.handleRequest(req, res)) next();
  });

  // better-auth reads its own bodies and queries: mounted before livetail's router.
  if (deps.auth) app.all('/api/auth/*splat', toNodeHandler(deps.auth));
  app.use(API_PATH, lt.router());
  app.use(healthRoutes({ shuttingDown: lt.draining, ready: lt.ready }, lt.metrics));
  app.use(API_PATH, (_req, _res, next) => next(new HttpError('NOT_FOUND')));

  if (deps.webDir && fs.existsSync(path.join(deps.webDir, 'index.html'))) {
    app.use(express.static(deps.webDir, { index: 'index.html', maxAge: '1h', setHeaders: noCacheForHtml }));
  }
  app.use((_req, _res, next) => next(new HttpError('NOT_FOUND')));
  app.use(errorAnswers(lt.failures));
  return app;
}

function noCacheForHtml(res: express.Response, file: string): void {
  if (file.endsWith('.html')) res.setHeader('Cache-Control', 'no-cache');
}
