import os from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Router } from 'express';
import { type Logger, pino } from 'pino';
import { attachToPlugin } from '../better-auth/plugin.js';
import type { Bus, BusListener, BusMessage } from '../bus/bus.js';
import { LocalBus } from '../bus/local-bus.js';
import { Gateway } from '../gateway/gateway.js';
import { Hub } from '../gateway/hub.js';
import { createApiRouter } from '../http/api-router.js';
import type { IngestLane } from '../http/ingest-lane.js';
import { RequestFailures } from '../http/request-failures.js';
import { JobService } from '../jobs/job-service.js';
import { LogService } from '../logs/log-service.js';
import { type Metrics, createMetrics } from '../metrics/metrics.js';
import { BetterAuthSessionResolver, optionsOf } from '../sessions/better-auth-session-resolver.js';
import type { SessionEnd } from '../sessions/session-end.js';
import type { SessionResolver } from '../sessions/session-resolver.js';
import { Sessions } from '../sessions/sessions.js';
import { createLogStore } from '../store/create-log-store.js';
import { type Database, connectDatabase } from '../store/database.js';
import type { LogStore } from '../store/log-store.js';
import { withMigrationLock } from '../store/migration-lock.js';
import { StreamWriter } from '../stream/stream-writer.js';
import { once } from '../util/once.js';
import { connectTo } from './dependency.js';
import { type LivetailOptions, type Settings, resolveSettings } from './options.js';

/** What `ready()` reports: every dependency's answer. */
export interface Readiness {
  ready: boolean;
  /**
   * Every check by name, with why it failed: `store`, and those the seams offer (`bus` for a bus across
   * nodes, `auth` for a resolver with `ping`, `bullmq` with BullMQ queues). A check slower than 2 s is down.
   */
  checks: Record<string, { up: true } | { up: false; error: string }>;
}

/**
 * A livetail core: the WebSocket endpoint, the REST API and the in-process producer APIs over the given
 * database, bus and auth. It never listens and reads no environment: the host app (or livetail's own
 * standalone server) mounts `router()`, passes upgrades to `handleUpgrade`, and calls `close()`.
 */
export interface Livetail {
  /**
   * The REST API as an Express router, to mount at `/api`: POST/GET/DELETE /logs, POST /jobs/events,
   * GET /jobs, POST /sessions/end. Paths it does not own go on to the app's next handler.
   */
  router(): Router;
  /**
   * Takes an HTTP upgrade for livetail's path (`path`, default `/ws`) and returns true; returns false and
   * leaves the socket untouched for any other path, for the app's other WebSocket endpoints.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /**
   * Answers a plain (not upgrade) GET on livetail's path, and its CORS preflight, with why an upgrade
   * would be refused now (the SDK asks after a refused upgrade, since browsers do not show its status),
   * and returns true; false for any other request.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** The in-process producer API for logs: `lt.logs.log(userId, entry)`. */
  readonly logs: LogService;
  /** The in-process producer API for job events: `lt.jobs.publish(event)`. */
  readonly jobs: JobService;
  /** Closes the session's sockets with 4401 on every node, and no cached check lets it back in. */
  endSession(sessionId: string): Promise<void>;
  /** The same for every session of the user. */
  endUser(userId: string): Promise<void>;
  /** Every metric, on a prom-client registry of this instance's own (`lt.metrics.registry.metrics()`). */
  readonly metrics: Metrics;
  /** Asks every dependency whether it answers (for a readiness probe). */
  ready(): Promise<Readiness>;
  /**
   * Stops taking new sockets: upgrades and connect checks are answered 503 SHUTTING_DOWN and `ready()`
   * reports not ready (so a load balancer moves on); open sockets and the REST API keep working.
   */
  drain(): void;
  /**
   * Graceful shutdown: drain, wait `drainDelayMs`, close every socket with 1001, finish the requests in
   * flight, flush pending writes, close what livetail opened (never the app's pool or auth). Idempotent.
   */
  close(): Promise<void>;
}

/** The parts a shell (the standalone server, tests) may reach beyond the public API. */
export interface LivetailInternals extends Livetail {
  readonly settings: Settings;
  readonly hub: Hub;
  readonly gateway: Gateway;
  readonly sessions: Sessions;
  readonly store: LogStore;
  /**
   * The database handle the core runs on: the one it opened (closed by `close()`), or the shell's
   * (`InternalOptions.database`, which the shell closes). Internal: tests close it to take the store away.
   */
  readonly database: Database;
  readonly bus: Bus;
  readonly logger: Logger;
  /** Reports what an HTTP request throws; the standalone server also hands it what escapes Express. */
  readonly failures: RequestFailures;
  /**
   * POST /logs without Express (src/http/ingest-lane.ts), for a server of livetail's own that mounts
   * `router()` at `mountPath` and hands the lane the plain POSTs first.
   */
  ingestLane(mountPath: string): IngestLane;
  /** Whether `drain()` (or `close()`) began: /readyz answers "shutting-down" from then on. */
  draining(): boolean;
}

/**
 * Creates a livetail core: opens (or adopts) the database and migrates livetail's own tables under a
 * lock, connects the bus, and wires the services; see `LivetailOptions`. Rejects with a clear error when
 * an option is wrong or a dependency does not answer (the caller may retry).
 */
export async function createLivetail(options: LivetailOptions): Promise<Livetail> {
  return createLivetailInternals(options);
}

/** What a shell may hand the core beyond the public options. */
export interface InternalOptions {
  /**
   * A database the shell already opened (the standalone server's, shared with its built-in auth: one
   * connection or pool for both, as before the core existed). The shell closes it; `options.database` is
   * then only its URL.
   */
  database?: Database;
}

export async function createLivetailInternals(options: LivetailOptions, internal: InternalOptions = {}): Promise<LivetailInternals> {
  const settings = resolveSettings(options);
  const logger = options.logger ?? pino({ level: 'warn', base: { component: 'livetail' } });
  const nodeId = options.nodeId ?? `${os.hostname()}-${process.pid}`;
  const metrics = createMetrics(nodeId);
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        logger.warn({ err: error }, 'close failed');
      }
    }
  };

  try {
    const database: Database = internal.database ?? (await connectTo('database', () => connectDatabase(options.database, { timeoutMs: settings.storeTimeoutMs })));
    if (!internal.database) closers.push(database.close);
    const store = createLogStore(database, settings);
    await withMigrationLock(database, () => store.migrate());

    const bus: Bus = settings.redis ? await connectTo('Redis', () => openRedisBus(settings.redis!, logger, metrics)) : new LocalBus();
    closers.push(() => bus.close());

    const resolver: SessionResolver = options.sessionResolver ?? new BetterAuthSessionResolver(options.auth!);
    const sessions = new Sessions(
      {
        resolver,
        broadcast: (end) => bus.broadcast({ type: 'session-ended', ...end }),
        barrier: () => bus.barrier(),
        logger,
        onCheck: (seconds) => metrics.sessionCheckDuration.observe(seconds),
        onSocketEnded: (via) => metrics.sessionEndedDisconnects.labels(via).inc(),
      },
      { cacheTtlMs: settings.sessionCacheTtlMs, recheckIntervalMs: settings.sessionRecheckIntervalMs },
    );
    closers.push(() => sessions.close());
    if (options.auth) {
      const detach = attachToPlugin(optionsOf(options.auth).plugins, (end) => sessions.end(end));
      if (detach) closers.push(detach);
      else {
        logger.warn(
          { event: 'plugin-missing' },
          'the livetail better-auth plugin is not in auth.options.plugins: sign-outs reach open sockets only at the next recheck (sessionRecheckIntervalMs); add plugins: [livetail()] from livetail/better-auth',
        );
      }
    }

    const writer = new StreamWriter(store, bus, metrics, logger, { timeoutMs: settings.storeTimeoutMs, maxPendingOps: settings.maxPendingWrites });
    const logs = new LogService(writer, store, metrics, {
      realtimeLogLevel: settings.realtimeLogLevel,
      parsedBounds: { maxDepth: settings.maxParsedDepth, maxBytes: settings.maxParsedBytes },
    });
    const jobs = new JobService(writer, store, metrics, settings.maxJobsPerUser);
    const hub = new Hub(bus, store, metrics, logger, settings);
    closers.push(() => hub.stop()); // before the bus closes (closers run in reverse)
    // One listener on the bus: stream messages go to the hub, session ends to their owner.
    const listener: BusListener = {
      onMessage: (message: BusMessage) => {
        metrics.busReceived.labels(message.type).inc();
        if (message.type === 'session-ended') sessions.onEnded(message);
        else hub.onMessage(message);
      },
      onResync: () => {
        sessions.onResync();
        hub.onResync();
      },
    };
    bus.attach(listener);
    const gateway = new Gateway({ hub, sessions, metrics, logger, clearLogs: (userId) => logs.clear(userId) }, settings);

    let draining = false;
    const readinessChecks: Record<string, () => Promise<void>> = {
      store: () => store.ping(),
      ...(bus.ping ? { bus: () => bus.ping!() } : {}),
      ...(resolver.ping ? { auth: () => resolver.ping!() } : {}),
    };

    if (settings.bullmq.queues.length > 0) {
      const { startBullmqBridge } = await import('../jobs/bullmq-bridge.js');
      const bridge = await connectTo('Redis (BullMQ)', () => startBullmqBridge({
        redisUrl: settings.redis!.url,
        redisPrefix: settings.redis!.prefix,
        bullmqPrefix: settings.bullmq.prefix,
        queues: settings.bullmq.queues,
        nodeId,
        jobs,
        metrics,
        logger,
      }));
      // Closed before the writer's last flush (closers run in reverse): no job event arrives after it.
      closers.push(() => bridge.close());
      readinessChecks.bullmq = () => bridge.ping();
    }

    const failures = new RequestFailures(logger, metrics);
    const api = createApiRouter({ logs, jobs, sessions, store, metrics, logger, failures, settings });
    const drain = () => {
      draining = true;
      gateway.drain();
    };
    const close = once(async () => {
      drain();
      if (settings.drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, settings.drainDelayMs));
      await gateway.close();
      await api.settle();
      await writer.flush();
      await closeAll();
    });

    const end = async (target: SessionEnd) => {
      await sessions.end(target);
    };

    return {
      settings,
      hub,
      gateway,
      sessions,
      store,
      database,
      bus,
      logger,
      failures,
      draining: () => draining,
      logs,
      jobs,
      metrics,
      router: () => api.router,
      ingestLane: (mountPath) => api.ingestLane(mountPath),
      handleUpgrade: (req, socket, head) => gateway.handleUpgrade(req, socket, head),
      handleRequest: (req, res) => gateway.handleRequest(req, res),
      endSession: (sessionId) => end({ sessionId }),
      endUser: (userId) => end({ userId }),
      ready: () => readiness(readinessChecks, draining),
      drain,
      close,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** A dependency slower than this counts as down: a probe must get its answer in time. */
const CHECK_TIMEOUT_MS = 2000;

async function readiness(checks: Record<string, () => Promise<void>>, draining: boolean): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), CHECK_TIMEOUT_MS);
        return [name, { up: true as const }] as const;
      } catch (error) {
        return [name, { up: false as const, error: error instanceof Error ? error.message : String(error) }] as const;
      }
    }),
  );
  const byName = Object.fromEntries(results);
  return { ready: !draining && results.every(([, r]) => r.up), checks: byName };
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The bus across nodes; ioredis is loaded only when Redis is configured. */
async function openRedisBus(redis: { url: string; prefix: string }, logger: Logger, metrics: Metrics): Promise<Bus> {
  const { RedisBus } = await import('../bus/redis-bus.js');
  return RedisBus.open({ ...redis, logger, onPublishError: () => metrics.busPublishErrors.inc() });
}
