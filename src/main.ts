import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DestinationStream, Logger } from 'pino';
import { type App, createApp } from './app.js';
import { BetterAuthSessionResolver } from './auth/better-auth-session-resolver.js';
import { type AuthOptions, createAuth, migrateAuth } from './auth/create-auth.js';
import { loadOrCreateDevSecret } from './auth/dev-secret.js';
import type { Bus } from './bus/bus.js';
import { LocalBus } from './bus/local-bus.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import type { BullmqBridge } from './jobs/bullmq-bridge.js';
import { createLogger } from './logger.js';
import { type Metrics, createMetrics } from './metrics/metrics.js';
import { createLogStore } from './store/create-log-store.js';
import { type Database, openDatabase } from './store/database.js';
import type { LogStore } from './store/log-store.js';
import { withMigrationLock } from './store/migration-lock.js';
import { once } from './util/once.js';
import { describeError, retryUntil } from './util/retry.js';

/** A running livetail node. */
export interface Livetail {
  readonly app: App;
  readonly config: Config;
  /** http://host:port the node listens on. */
  readonly url: string;
  readonly port: number;
  /** The SQL database (tests close it under a running node to see /readyz report the store down). */
  readonly database: Database;
  /** Graceful shutdown of everything this node started. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where the server's own log goes (tests capture it); stdout by default. */
  logDestination?: DestinationStream;
  logger?: Logger;
}

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'web');

/** A startup failure that main reports in one line with exit code 2. */
export class StartupError extends Error {}

/**
 * The composition root: builds every part from validated config, wires them, listens.
 * The one place that chooses implementations from config (SQLite or PostgreSQL through createLogStore, local or Redis bus).
 */
export async function startLivetail(config: Config, options: StartOptions = {}): Promise<Livetail> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat, nodeId: config.nodeId }, options.logDestination);
  const metrics = createMetrics(config.nodeId);
  const closers: Array<() => Promise<void>> = [];
  const closeStarted = async () => {
    for (const close of closers.reverse()) await close().catch((error) => logger.warn({ err: error }, 'close failed'));
  };

  try {
    const secret = config.betterAuthSecret ?? loadOrCreateDevSecret(config.dataDir);
    const database = await connect('database', config, logger, () => openDatabase(config.database, { timeoutMs: config.storeTimeoutMs }));
    closers.push(database.close);

    const store = createLogStore(database, { maxLogsPerUser: config.maxLogsPerUser, maxJobsPerUser: config.maxJobsPerUser });

    const bus: Bus = config.redis ? await connect('Redis', config, logger, () => openRedisBus(config.redis!, logger, metrics)) : new LocalBus();
    closers.push(() => bus.close());

    let sessions: BetterAuthSessionResolver | undefined;
    const authOptions: AuthOptions = {
      db: database.db,
      dbType: database.kind,
      secret,
      baseUrl: config.baseUrl,
      trustedOrigins: config.trustedOrigins,
      logger,
      onSessionDeleted: (session) => {
        // At once on this node, and through the bus on every node holding the user's sockets.
        sessions?.forget(session.id);
        bus.publish({ type: 'session-ended', userId: session.userId, sessionId: session.id });
      },
    };
    await migrate(database, store, authOptions);
    const auth = createAuth(authOptions);
    sessions = new BetterAuthSessionResolver(auth, {
      cacheTtlMs: config.sessionCacheTtlMs,
      onCheck: (seconds) => metrics.sessionCheckDuration.observe(seconds),
    });

    // The bridge's Redis is the `bullmq` readiness check; the bridge starts after the app (it needs app.jobs), before listening.
    let bullmq: BullmqBridge | undefined;
    const readinessChecks = config.bullmq.queues.length > 0 ? { bullmq: () => bullmq?.ping() ?? Promise.reject(new Error('BullMQ bridge not started')) } : undefined;
    const app = createApp({ config, store, bus, auth, sessions, logger, metrics, webDir: WEB_DIR, readinessChecks });
    closers.push(app.close);
    if (config.redis && config.bullmq.queues.length > 0) {
      // Closed before the app (closers run in reverse): no job event arrives after the writer's last flush.
      bullmq = await connect('Redis (BullMQ)', config, logger, () => startBullmq(config, config.redis!, app, metrics, logger));
      closers.push(bullmq.close);
    }

    await new Promise<void>((resolve, reject) => {
      app.server.once('error', reject);
      app.server.listen(config.port, config.host, () => {
        app.server.off('error', reject);
        resolve();
      });
    });
    const port = (app.server.address() as AddressInfo).port;
    const url = `http://localhost:${port}`;
    logger.info({ event: 'listening', port, store: store.kind, bus: bus.kind }, `livetail listening on ${url} (WebSocket ${url.replace('http', 'ws')}/ws)`);

    const close = once(async () => {
      const started = Date.now();
      logger.info({ event: 'shutdown', drainDelayMs: config.drainDelayMs, sockets: app.hub.socketCount() }, 'shutting down: not ready, refusing new sockets');
      await closeStarted();
      logger.info({ event: 'stopped', durationMs: Date.now() - started }, 'stopped: sockets closed, writes flushed, connections closed');
    });
    return { app, config, url, port, database, close };
  } catch (error) {
    await closeStarted();
    throw error;
  }
}

/** The bus across nodes (REDIS_URL); ioredis is loaded only when it is configured. */
async function openRedisBus(redis: { url: string; prefix: string }, logger: Logger, metrics: Metrics): Promise<Bus> {
  const { RedisBus } = await import('./bus/redis-bus.js');
  return RedisBus.open({ ...redis, logger, onPublishError: () => metrics.busPublishErrors.inc() });
}

/** BULLMQ_QUEUES: job events from the application's queues; bullmq is loaded only when configured. */
async function startBullmq(config: Config, redis: { url: string; prefix: string }, app: App, metrics: Metrics, logger: Logger) {
  const { startBullmqBridge } = await import('./jobs/bullmq-bridge.js');
  return startBullmqBridge({
    redisUrl: redis.url,
    redisPrefix: redis.prefix,
    bullmqPrefix: config.bullmq.prefix,
    queues: config.bullmq.queues,
    nodeId: config.nodeId,
    jobs: app.jobs,
    metrics,
    logger,
  });
}

async function migrate(database: Database, store: LogStore, authOptions: AuthOptions): Promise<void> {
  await withMigrationLock(database, async () => {
    await migrateAuth(authOptions);
    await store.migrate();
  });
}

/** Connects to a dependency, retrying for STARTUP_TIMEOUT_MS with one log line per failed attempt. */
async function connect<T>(name: string, config: Config, logger: Logger, open: () => Promise<T>): Promise<T> {
  let attempts = 0;
  try {
    return await retryUntil(open, config.startupTimeoutMs, (error, attempt, next) => {
      attempts = attempt;
      if (next !== undefined) logger.warn({ event: 'startup-retry', dependency: name, attempt, retryInMs: next }, `${name} not answering (attempt ${attempt}: ${describeError(error)}); retrying in ${next} ms`);
    });
  } catch (error) {
    const seconds = Number((config.startupTimeoutMs / 1000).toFixed(1));
    throw new StartupError(
      `Cannot reach the ${name} after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${seconds} s (STARTUP_TIMEOUT_MS=${config.startupTimeoutMs}): ${describeError(error)}`,
    );
  }
}

/** The process entry point: config from the environment, signals, exit codes. */
async function run(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  // Handlers are installed before the node starts: a signal that arrives right after the node logged that
  // it listens must find them (the default action would kill the process without a graceful shutdown).
  // A signal while the node is still starting (retrying its database, say) exits at once: nothing to drain.
  let node: Livetail | undefined;
  let stopping = false;
  const shutDown = (running: Livetail) => {
    const timer = setTimeout(() => {
      process.stderr.write(`shutdown took longer than ${config.shutdownTimeoutMs} ms: exiting\n`);
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    running.close().then(
      () => {
        clearTimeout(timer);
        process.exit(0);
      },
      (error) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting at once\n`);
      process.exit(1);
    }
    if (!node) {
      process.stderr.write(`${signal} while starting: exiting\n`);
      process.exit(1);
    }
    stopping = true;
    shutDown(node);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // An error thrown outside Express while handling a request (a 'finish' listener, a timer, a promise)
  // must not end the node; anything else still does, as Node's default would.
  const uncaught = (error: unknown) => {
    if (node?.app.handleEscapedError(error)) return;
    process.stderr.write(`uncaught exception: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', uncaught);
  process.on('unhandledRejection', uncaught);

  try {
    node = await startLivetail(config);
  } catch (error) {
    process.stderr.write(`livetail could not start: ${startFailure(error, config)}\n`);
    process.exit(2);
  }
}

/** One line saying why the node could not start, and what to do where that is clear. */
function startFailure(error: unknown, config: Config): string {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  if (syscall === 'listen' && code === 'EADDRINUSE') return `PORT=${config.port} is already in use: stop the other process or set PORT to a free port`;
  if (syscall === 'listen' && code === 'EACCES') return `PORT=${config.port} needs privileges this process lacks: use a port above 1023`;
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  void run();
}
