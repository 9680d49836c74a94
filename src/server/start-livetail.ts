import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DestinationStream, Logger } from 'pino';
import { loadOrCreateDevSecret } from '../auth/dev-secret.js';
import type { Config } from '../config.js';
import { type LivetailInternals, createLivetailInternals } from '../core/create-livetail.js';
import { DependencyUnavailableError, connectTo } from '../core/dependency.js';
import type { LivetailOptions } from '../core/options.js';
import { refuseUpgrade } from '../gateway/gateway.js';
import { createLogger } from '../logger.js';
import { ProxySessionResolver } from '../sessions/proxy-session-resolver.js';
import { type Database, openDatabase } from '../store/database.js';
import { withMigrationLock } from '../store/migration-lock.js';
import { once } from '../util/once.js';
import { describeError, retryUntil } from '../util/retry.js';
import { EarlyListener, LISTEN_BACKLOG, httpLimits } from './early-listener.js';
import { createStandaloneApp } from './standalone-app.js';
import { type StandaloneAuth, createStandaloneAuth, migrateStandaloneAuth } from './standalone-auth.js';

/** A running standalone livetail server. */
export interface LivetailServer {
  /** The core behind it (its internals: the hub, the metrics... for operators' tools and tests). */
  readonly app: LivetailInternals;
  readonly config: Config;
  readonly server: http.Server;
  /** http://host:port the node listens on. */
  readonly url: string;
  readonly port: number;
  /** Graceful shutdown of everything this node started. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where the server's own log goes (tests capture it); stdout by default. */
  logDestination?: DestinationStream;
  logger?: Logger;
  /** The port already bound by src/main.ts (what arrived meanwhile is held): the node takes it over instead of listening. */
  early?: EarlyListener;
}

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'web');

/** A startup failure that main reports in one line with exit code 2. */
export class StartupError extends Error {}

/**
 * livetail's own server, a shell around the core: config → its own better-auth with the livetail plugin
 * (or, with AUTH_SESSION_URL, the app's get-session endpoint) → `createLivetail` → the Express app (the
 * console, /api/auth, /api, health, metrics) → an HTTP server → listen.
 */
export async function startLivetail(config: Config, options: StartOptions = {}): Promise<LivetailServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat, nodeId: config.nodeId }, options.logDestination);
  const closers: Array<() => Promise<void>> = [];
  const closeStarted = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch((error) => logger.warn({ err: error }, 'close failed'));
  };

  try {
    // One connection (SQLite) or pool (PostgreSQL) for the built-in auth and the core alike.
    const database = await retried(config, logger, () => connectTo('database', () => openDatabase(config.database, { timeoutMs: config.storeTimeoutMs })));
    closers.push(database.close);
    let auth: StandaloneAuth | undefined;
    if (config.authSessionUrl === undefined) {
      const secret = config.betterAuthSecret ?? loadOrCreateDevSecret(config.dataDir);
      auth = await builtInAuth(database, secret, config, logger);
    }

    const lt = await retried(config, logger, () => createLivetailInternals(coreOptions(config, logger, auth), { database }));
    closers.push(lt.close);

    const app = createStandaloneApp({ lt, auth, logger, webDir: WEB_DIR, trustProxy: config.trustProxy });
    const request = lt.failures.listener(app);
    // Upgrades of any other path than livetail's are nobody's here: refused, as every unknown path is.
    const upgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!lt.handleUpgrade(req, socket, head)) refuseUpgrade(socket, 'NOT_FOUND');
    };
    const refused = () => lt.metrics.httpConnectionsRefused.inc();
    // The port main.ts bound before loading (what arrived meanwhile is held), else bound here: one path.
    const early = options.early ?? new EarlyListener(httpLimits(config));
    if (!options.early) await early.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
    early.handOver({ request, upgrade }, refused);
    const server = early.server;
    const port = (server.address() as AddressInfo).port;
    const url = `http://localhost:${port}`;
    logger.info(
      { event: 'listening', port, store: lt.store.name, bus: lt.bus.name, auth: auth ? 'built-in' : 'proxy' },
      `livetail listening on ${url} (WebSocket ${url.replace('http', 'ws')}${lt.settings.path})`,
    );

    const close = once(async () => {
      const started = Date.now();
      logger.info({ event: 'shutdown', drainDelayMs: config.drainDelayMs, sockets: lt.hub.socketCount() }, 'shutting down: not ready, refusing new sockets');
      lt.drain();
      if (config.drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
      await lt.gateway.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      });
      await closeStarted();
      logger.info({ event: 'stopped', durationMs: Date.now() - started }, 'stopped: sockets closed, writes flushed, connections closed');
    });
    return { app: lt, config, server, url, port, close };
  } catch (error) {
    await closeStarted();
    throw error;
  }
}

/** The core's options from the environment's configuration: each limit under the same name. */
function coreOptions(config: Config, logger: Logger, auth: StandaloneAuth | undefined): LivetailOptions {
  return {
    ...(auth
      ? { auth }
      : { sessionResolver: new ProxySessionResolver({ url: config.authSessionUrl!, timeoutMs: config.authSessionTimeoutMs }) }),
    database: config.database.url,
    redis: config.redis,
    bullmq: config.bullmq,
    trustedOrigins: config.trustedOrigins,
    ingestToken: config.ingestToken,
    trustProxy: config.trustProxy,
    realtimeLogLevel: config.realtimeLogLevel,
    perMessageDeflate: config.perMessageDeflate,
    logger,
    nodeId: config.nodeId,
    ...config.tunables,
    // The server waits DRAIN_DELAY_MS itself, before it stops taking requests.
    drainDelayMs: 0,
  };
}

/**
 * The standalone server's own better-auth, its tables created (or upgraded, when they are its own) under
 * the migration lock; a database whose auth tables are someone else's is refused (ForeignAuthTablesError).
 */
async function builtInAuth(database: Database, secret: string, config: Config, logger: Logger): Promise<StandaloneAuth> {
  const options = {
    database: { db: database.db, type: database.kind },
    db: database.db,
    dbType: database.kind,
    secret,
    baseUrl: config.baseUrl,
    trustedOrigins: config.trustedOrigins,
    logger,
  };
  await withMigrationLock(database, () => migrateStandaloneAuth(options));
  return createStandaloneAuth(options);
}

/**
 * Runs `attempt` again while it fails because a dependency does not answer, for STARTUP_TIMEOUT_MS, with
 * one log line per failed attempt naming the dependency; then throws a StartupError in one line. Any
 * other failure (a refused schema, a bad option) is thrown at once.
 */
async function retried<T>(config: Config, logger: Logger, attempt: () => Promise<T>): Promise<T> {
  let attempts = 0;
  try {
    return await retryUntil(attempt, config.startupTimeoutMs, (error, n, next) => {
      if (!(error instanceof DependencyUnavailableError)) throw error;
      attempts = n;
      const { dependency } = error;
      if (next !== undefined) {
        logger.warn({ event: 'startup-retry', dependency, attempt: n, retryInMs: next }, `${dependency} not answering (attempt ${n}: ${describeError(error.cause)}); retrying in ${next} ms`);
      }
    });
  } catch (error) {
    if (!(error instanceof DependencyUnavailableError)) throw error;
    const seconds = Number((config.startupTimeoutMs / 1000).toFixed(1));
    throw new StartupError(
      `Cannot reach the ${error.dependency} after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${seconds} s (STARTUP_TIMEOUT_MS=${config.startupTimeoutMs}): ${describeError(error.cause)}`,
    );
  }
}
