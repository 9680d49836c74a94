import type http from 'node:http';
import type { Logger } from 'pino';
import type { Auth } from './auth/create-auth.js';
import type { SessionResolver } from './auth/session-resolver.js';
import type { Bus } from './bus/bus.js';
import type { Config } from './config.js';
import { Gateway } from './gateway/gateway.js';
import { Hub } from './gateway/hub.js';
import { createAuthenticator } from './http/authenticate.js';
import { createHttpApp } from './http/create-http-app.js';
import { createHttpServer } from './http/http-server.js';
import { RequestFailures } from './http/request-failures.js';
import { JobService } from './jobs/job-service.js';
import { LogService } from './logs/log-service.js';
import type { Metrics } from './metrics/metrics.js';
import type { LogStore } from './store/log-store.js';
import { StreamWriter } from './stream/stream-writer.js';
import { once } from './util/once.js';

export interface AppDeps {
  config: Config;
  store: LogStore;
  bus: Bus;
  auth: Auth;
  sessions: SessionResolver;
  logger: Logger;
  metrics: Metrics;
  /** The built web console; undefined to serve none. */
  webDir?: string;
  /** Readiness checks beyond the store and the bus: main passes `bullmq` (the BullMQ bridge's Redis) when BULLMQ_QUEUES is set. */
  readinessChecks?: Record<string, () => Promise<void>>;
}

export interface App {
  /** The HTTP server with the WebSocket endpoint attached. Not listening: the caller listens. */
  readonly server: http.Server;
  /** The in-process producer API for logs: `app.logs.log(userId, entry)`. */
  readonly logs: LogService;
  /** The in-process producer API for job events: `app.jobs.publish(event)`. */
  readonly jobs: JobService;
  readonly hub: Hub;
  readonly gateway: Gateway;
  readonly metrics: Metrics;
  /** Stops taking new work: /readyz and new upgrades answer 503. Open sockets stay. */
  drain(): void;
  /**
   * For the process's uncaughtException / unhandledRejection handlers: an error thrown while handling an
   * HTTP request (in a listener, timer or promise it started) is answered 500 where possible, logged,
   * counted, and true is returned, so the node carries on. False for an error of no request.
   */
  handleEscapedError(error: unknown): boolean;
  /**
   * Graceful shutdown: drain, wait DRAIN_DELAY_MS, close sockets with 1001, stop HTTP, flush pending
   * store writes. Does not close the store, bus or database (their owner, main.ts, does). Idempotent.
   */
  close(): Promise<void>;
}

/** Wires the services, the hub, the gateway and the HTTP app around the given dependencies. */
export function createApp(deps: AppDeps): App {
  const { config, store, bus, sessions, logger, metrics } = deps;
  const writer = new StreamWriter(store, bus, metrics, logger, { timeoutMs: config.storeTimeoutMs, maxPendingOps: config.maxPendingWrites });
  const logs = new LogService(writer, store, metrics, {
    realtimeLogLevel: config.realtimeLogLevel,
    parsedBounds: config.parsedBounds,
  });
  const jobs = new JobService(writer, store, metrics, config.maxJobsPerUser);
  const hub = new Hub(
    bus,
    store,
    metrics,
    logger,
    {
      initialLogs: config.initialLogs,
      maxLogsPerUser: config.maxLogsPerUser,
      maxJobsPerUser: config.maxJobsPerUser,
      maxBufferedBytes: config.maxBufferedBytes,
    },
    {
      onUserGone: (userId) => sessions.forgetUser(userId),
      onSessionEnded: (sessionId) => sessions.forget(sessionId),
    },
  );
  const gateway = new Gateway(
    { hub, sessions, metrics, logger, clearLogs: (userId) => logs.clear(userId) },
    {
      trustedOrigins: config.trustedOrigins,
      trustProxy: config.trustProxy,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      maxMessageBytes: config.maxMessageBytes,
      maxBufferedBytes: config.maxBufferedBytes,
      maxSocketsPerUser: config.maxSocketsPerUser,
      rateLimit: config.rateLimit,
      upgradeRate: config.upgradeRate,
      perMessageDeflate: config.perMessageDeflate,
    },
  );

  let shuttingDown = false;
  const failures = new RequestFailures(logger, metrics);
  const httpApp = createHttpApp({
    auth: deps.auth,
    authenticate: createAuthenticator(sessions, config.ingestToken, config.trustedOrigins),
    logs,
    jobs,
    metrics,
    logger,
    failures,
    webDir: deps.webDir,
    readiness: {
      shuttingDown: () => shuttingDown,
      checks: { store: () => store.ping(), ...(bus.kind === 'local' ? {} : { bus: () => bus.ping() }), ...deps.readinessChecks },
    },
    options: {
      maxBodyBytes: config.maxBodyBytes,
      maxBatchEntries: config.maxBatchEntries,
      maxLogsPerUser: config.maxLogsPerUser,
      initialLogs: config.initialLogs,
      trustProxy: config.trustProxy,
      maxBufferedBytes: config.maxBufferedBytes,
      maxReadsPerUser: config.maxReadsPerUser,
      sendTimeoutMs: config.http.sendTimeoutMs,
    },
  });
  const server = createHttpServer(failures.listener(httpApp), {
    headersTimeoutMs: config.http.headersTimeoutMs,
    requestTimeoutMs: config.http.requestTimeoutMs,
    // Behind the proxy TRUST_PROXY names, every connection comes from the proxy's address.
    maxConnectionsPerAddress: config.trustProxy ? 0 : config.http.maxConnectionsPerAddress,
    onRefused: () => metrics.httpConnectionsRefused.inc(),
  });
  server.on('upgrade', gateway.handleUpgrade);

  const drain = () => {
    shuttingDown = true;
    gateway.drain();
  };

  const close = once(async () => {
    drain();
    if (config.drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
    await gateway.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 1000).unref();
    });
    await writer.flush();
  });

  return { server, logs, jobs, hub, gateway, metrics, drain, close, handleEscapedError: (error) => failures.escaped(error) };
}
