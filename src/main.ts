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
import { createLogger } from './logger.js';
import { createMetrics } from './metrics/metrics.js';
import { type Database, openDatabase } from './store/database.js';
import type { LogStore } from './store/log-store.js';
import { withMigrationLock } from './store/migration-lock.js';
import { PostgresLogStore } from './store/postgres-log-store.js';
import { SqliteLogStore } from './store/sqlite-log-store.js';
import { once } from './util/once.js';
import { retryUntil } from './util/retry.js';

/** A running livetail node. */
export interface Livetail {
  readonly app: App;
  readonly config: Config;
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
}

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'web');

/** A startup failure that main reports in one line with exit code 2. */
export class StartupError extends Error {}

/**
 * The composition root: builds every part from validated config, wires them, listens.
 * The only place that chooses implementations (SQLite or PostgreSQL, local or Redis bus).
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
    const database = await connect('database', config, logger, () => openDatabase(config.database));
    closers.push(database.close);

    const store: LogStore =
      database.kind === 'sqlite'
        ? new SqliteLogStore(database.db, { maxLogsPerUser: config.maxLogsPerUser, maxJobsPerUser: config.maxJobsPerUser })
        : new PostgresLogStore(database.db, { maxLogsPerUser: config.maxLogsPerUser, maxJobsPerUser: config.maxJobsPerUser });

    const bus: Bus = new LocalBus();
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

    const app = createApp({ config, store, bus, auth, sessions, logger, metrics, webDir: WEB_DIR });
    closers.push(app.close);

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

    return { app, config, url, port, close: once(closeStarted) };
  } catch (error) {
    await closeStarted();
    throw error;
  }
}

async function migrate(database: Database, store: LogStore, authOptions: AuthOptions): Promise<void> {
  await withMigrationLock(database, async () => {
    await migrateAuth(authOptions);
    await store.migrate();
  });
}

/** Connects to a dependency, retrying for STARTUP_TIMEOUT_MS with one log line per failed attempt. */
async function connect<T>(name: string, config: Config, logger: Logger, open: () => Promise<T>): Promise<T> {
  try {
    return await retryUntil(open, config.startupTimeoutMs, (error, attempt, next) => {
      const reason = error instanceof Error ? error.message : String(error);
      if (next !== undefined) logger.warn({ event: 'startup-retry', dependency: name, attempt }, `${name} not answering (attempt ${attempt}: ${reason}); retrying in ${next} ms`);
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new StartupError(`Cannot reach the ${name} after ${Math.round(config.startupTimeoutMs / 1000)} s: ${reason}`);
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

  let node: Livetail;
  try {
    node = await startLivetail(config);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`livetail could not start: ${message}\n`);
    process.exit(2);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting at once\n`);
      process.exit(1);
    }
    stopping = true;
    const timer = setTimeout(() => {
      process.stderr.write(`shutdown took longer than ${config.shutdownTimeoutMs} ms: exiting\n`);
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    node.close().then(
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
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  void run();
}
