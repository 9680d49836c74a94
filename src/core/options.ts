import type { Logger } from 'pino';
import type { LogLevel } from '../protocol/constants.js';
import { LOG_LEVELS, WS_PATH } from '../protocol/constants.js';
import { type BetterAuthInstance, optionsOf } from '../sessions/better-auth-session-resolver.js';
import type { SessionResolver } from '../sessions/session-resolver.js';
import { TUNABLES, type TunableName, type Tunables } from './tunables.js';

/**
 * Where livetail keeps its own tables (`livetail_*`; nothing else in the database is touched):
 * - a `pg.Pool` (the app's; livetail runs its queries on it and never ends it),
 * - a better-sqlite3 `Database` (livetail opens a connection of its own to the same file, so its
 *   transactions never interleave with the app's on one connection),
 * - a URL: `postgres://…` or `file:<path>` (livetail opens and closes it).
 */
export type DatabaseOption = string | PgPoolLike | SqliteDatabaseLike;

/** What livetail recognises a pg.Pool by. */
export interface PgPoolLike {
  connect(): Promise<unknown>;
  query(...args: any[]): Promise<unknown>;
  end(): Promise<void>;
  totalCount: number;
}

/** What livetail recognises a better-sqlite3 Database by. */
export interface SqliteDatabaseLike {
  readonly name: string;
  readonly memory: boolean;
  prepare(source: string): unknown;
  pragma(source: string, options?: unknown): unknown;
}

/** Options of `createLivetail`. Every limit is optional; README's configuration table lists the defaults. */
export interface LivetailOptions extends Partial<Tunables> {
  /**
   * The app's better-auth instance (`betterAuth({...})`, with `plugins: [livetail()]` from
   * `livetail/better-auth` so sign-outs reach sockets at once). Sessions are resolved with its
   * `api.getSession` and the request's own headers. Give this or `sessionResolver`.
   */
  auth?: BetterAuthInstance;
  /** Any other way to tell who a request's credentials belong to (`ProxySessionResolver`, your own). */
  sessionResolver?: SessionResolver;
  database: DatabaseOption;
  /** Redis for fan-out between nodes (`redis://…`); omitted: one node, an in-process bus. */
  redis?: string | { url: string; prefix?: string };
  /** BullMQ queues whose job events become `job-event`s for `job.data.userId` (needs `redis`). */
  bullmq?: { queues: string[]; prefix?: string };
  /** The WebSocket path `handleUpgrade` answers. Default `/ws`. */
  path?: string;
  /**
   * Browser origins allowed to open sockets and to make cookie-authenticated writes. Default: the auth
   * instance's `baseURL` origin and its `trustedOrigins` (when they are a list of strings); none with
   * `sessionResolver`, so give them there.
   */
  trustedOrigins?: string[];
  /** Bearer token for service-to-service ingest and `POST /sessions/end` (≥ 16 characters). */
  ingestToken?: string;
  /** Behind one proxy you trust: the client address is the last `X-Forwarded-For` entry. Default false. */
  trustProxy?: boolean;
  /** Entries below this level are dropped (neither stored nor sent). Default `info`. */
  realtimeLogLevel?: LogLevel;
  /** WebSocket compression. Default false. */
  perMessageDeflate?: boolean;
  /** livetail's own log lines. Default: a pino logger at `warn` on stdout. */
  logger?: Logger;
  /** This node's name in log lines and in the `node` label of every metric. Default `<hostname>-<pid>`. */
  nodeId?: string;
}

/** The options with every default applied and checked. */
export interface Settings extends Tunables {
  path: string;
  trustedOrigins: string[];
  ingestToken: string | undefined;
  trustProxy: boolean;
  realtimeLogLevel: LogLevel;
  perMessageDeflate: boolean;
  redis: { url: string; prefix: string } | undefined;
  bullmq: { queues: string[]; prefix: string };
}

/** An option livetail cannot work with: the message names it and what would be accepted. */
export class LivetailOptionsError extends Error {
  constructor(message: string) {
    super(`createLivetail: ${message}`);
    this.name = 'LivetailOptionsError';
  }
}

export function resolveSettings(options: LivetailOptions): Settings {
  if (!options.auth === !options.sessionResolver) {
    throw new LivetailOptionsError('give exactly one of `auth` (your better-auth instance) or `sessionResolver`');
  }
  if (options.database === undefined || options.database === null) {
    throw new LivetailOptionsError('`database` is required: a pg.Pool, a better-sqlite3 Database, or a postgres:// or file: URL');
  }
  const tunables = {} as Tunables;
  for (const name of Object.keys(TUNABLES) as TunableName[]) {
    const spec = TUNABLES[name];
    const given = options[name];
    const value = given ?? (name === 'sessionRecheckIntervalMs' ? (options.heartbeatIntervalMs ?? TUNABLES.heartbeatIntervalMs.default) : spec.default);
    if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
      throw new LivetailOptionsError(`\`${name}\` is ${JSON.stringify(given)}, not an integer from ${spec.min} to ${spec.max} (${spec.unit})`);
    }
    tunables[name] = value;
  }
  const path = options.path ?? WS_PATH;
  if (!path.startsWith('/')) throw new LivetailOptionsError(`\`path\` must start with / (got ${JSON.stringify(path)})`);
  if (options.ingestToken !== undefined && options.ingestToken.length < 16) {
    throw new LivetailOptionsError('`ingestToken` is shorter than 16 characters (generate one with: openssl rand -hex 24)');
  }
  const level = options.realtimeLogLevel ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new LivetailOptionsError(`\`realtimeLogLevel\` must be one of ${LOG_LEVELS.join(', ')}`);
  // An empty string (an unset REDIS_URL passed through) means no Redis, not localhost.
  const redis = typeof options.redis === 'string' ? (options.redis === '' ? undefined : { url: options.redis }) : options.redis;
  if (options.bullmq && options.bullmq.queues.length > 0 && !redis) {
    throw new LivetailOptionsError('`bullmq` needs `redis` (BullMQ queues live in Redis)');
  }
  return {
    ...tunables,
    path,
    trustedOrigins: options.trustedOrigins ?? originsOf(options.auth),
    ingestToken: options.ingestToken,
    trustProxy: options.trustProxy ?? false,
    realtimeLogLevel: level,
    perMessageDeflate: options.perMessageDeflate ?? false,
    redis: redis ? { url: redis.url, prefix: redis.prefix ?? 'livetail:' } : undefined,
    bullmq: { queues: options.bullmq?.queues ?? [], prefix: options.bullmq?.prefix ?? 'bull' },
  };
}

/** The origins the app's better-auth trusts: its baseURL's and a static trustedOrigins list. */
function originsOf(auth: BetterAuthInstance | undefined): string[] {
  const origins = new Set<string>();
  const { baseURL, trustedOrigins } = auth ? optionsOf(auth) : {};
  if (typeof baseURL === 'string') {
    try {
      origins.add(new URL(baseURL).origin);
    } catch {
      // not a URL: better-auth reports it itself
    }
  }
  if (Array.isArray(trustedOrigins)) for (const origin of trustedOrigins) if (typeof origin === 'string') origins.add(origin);
  return [...origins];
}
