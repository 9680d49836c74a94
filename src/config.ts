import os from 'node:os';
import { z } from 'zod';
import { LOG_LEVELS } from './protocol/constants.js';

/**
 * Every environment variable livetail reads, parsed and validated once at start.
 * A bad value stops the process with exit code 2 and one line naming the variable,
 * what is wrong with the value and what would be accepted (see main.ts).
 */

const int = (min: number, max: number, fallback: number, unit = '') =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const n = Number(value);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({
          code: 'custom',
          message: `is not an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}`,
        });
        return z.NEVER;
      }
      return n;
    });

const bool = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off)$/i.test(value)) return false;
      ctx.addIssue({ code: 'custom', message: 'is not a boolean (expected true or false)' });
      return z.NEVER;
    });

const url = (protocols: string[], what: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return undefined;
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: `is not a URL (expected ${what})` });
        return z.NEVER;
      }
      if (!protocols.includes(parsed.protocol)) {
        ctx.addIssue({ code: 'custom', message: `has an unsupported scheme ${parsed.protocol} (expected ${what})` });
        return z.NEVER;
      }
      return value;
    });

const list = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/** A short name (NODE_ID, key prefixes): 1 to `max` printable characters without spaces; empty means unset. */
const name = (max: number, example: string) =>
  z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .regex(/^[\x21-\x7e]+$/, { error: `is not 1 to ${max} printable characters without spaces (e.g. ${example})` })
      .max(max, { error: `is longer than ${max} characters (e.g. ${example})` })
      .optional(),
  );

/** A string that falls back to `fallback` when unset or empty. */
const text = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? fallback : value));

const KiB = 1024;
const MiB = 1024 * KiB;

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { error: 'is not development, production or test' }).default('development'),
  PORT: int(0, 65535, 3002, 'a TCP port'),
  HOST: z.string().optional(),
  NODE_ID: name(128, 'web-1'),
  DATABASE_URL: z
    .string()
    .default('file:./data/livetail.db')
    .refine((v) => /^(file:|postgres:\/\/|postgresql:\/\/)/.test(v), {
      message: 'has an unsupported scheme (expected file:<path> for SQLite or postgres://user@host/db for PostgreSQL)',
    }),
  DATA_DIR: text('./data'),
  BETTER_AUTH_SECRET: z
    .string()
    .min(32, { message: 'is shorter than 32 characters (generate one with: openssl rand -base64 32)' })
    .optional(),
  BASE_URL: url(['http:', 'https:'], 'an http:// or https:// URL such as http://localhost:3002'),
  TRUSTED_ORIGINS: list,
  TRUST_PROXY: bool(false),
  INGEST_TOKEN: z
    .string()
    .min(16, { message: 'is shorter than 16 characters (generate one with: openssl rand -hex 24)' })
    .optional(),
  MAX_LOGS_PER_USER: int(1, 1_000_000, 1000, 'logs'),
  INITIAL_LOGS: int(0, 1_000_000, 100, 'logs'),
  REALTIME_LOG_LEVEL: z.enum(LOG_LEVELS, { error: `is not a log level (expected ${LOG_LEVELS.join(', ')})` }).default('info'),
  HEARTBEAT_INTERVAL_MS: int(100, 3_600_000, 30_000, 'milliseconds'),
  SESSION_CACHE_TTL_MS: int(0, 300_000, 5_000, 'milliseconds; 0 disables the cache'),
  MAX_MESSAGE_BYTES: int(64, 16 * MiB, 64 * KiB, 'bytes'),
  RATE_LIMIT_PER_SECOND: int(1, 100_000, 20, 'messages per second'),
  RATE_LIMIT_BURST: int(1, 100_000, 50, 'messages'),
  MAX_SOCKETS_PER_USER: int(1, 100_000, 20, 'sockets'),
  UPGRADE_RATE_LIMIT: int(1, 1_000_000, 50, 'upgrades per window'),
  UPGRADE_RATE_WINDOW_MS: int(100, 3_600_000, 10_000, 'milliseconds'),
  MAX_BUFFERED_BYTES: int(1024, 1024 * MiB, 4 * MiB, 'bytes'),
  MAX_BODY_BYTES: int(1024, 256 * MiB, 1 * MiB, 'bytes'),
  MAX_BATCH_ENTRIES: int(1, 1_000_000, 1000, 'entries'),
  MAX_PARSED_DEPTH: int(1, 1000, 16, 'levels'),
  MAX_PARSED_BYTES: int(2, 16 * MiB, 64 * KiB, 'bytes'),
  MAX_JOBS_PER_USER: int(1, 100_000, 50, 'jobs'),
  MAX_READS_PER_USER: int(1, 10_000, 4, 'concurrent GET /api/logs and /api/jobs per user'),
  HTTP_HEADERS_TIMEOUT_MS: int(100, 600_000, 10_000, 'milliseconds'),
  HTTP_REQUEST_TIMEOUT_MS: int(100, 3_600_000, 30_000, 'milliseconds'),
  HTTP_SEND_TIMEOUT_MS: int(100, 3_600_000, 30_000, 'milliseconds'),
  MAX_CONNECTIONS_PER_ADDRESS: int(0, 1_000_000, 256, 'connections; 0 disables the cap'),
  PERMESSAGE_DEFLATE: bool(false),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://host:6379 or rediss://host:6380'),
  REDIS_PREFIX: name(64, 'livetail:').transform((v) => v ?? 'livetail:'),
  BULLMQ_QUEUES: list,
  BULLMQ_PREFIX: name(64, 'bull').transform((v) => v ?? 'bull'),
  LOG_FORMAT: z.enum(['json', 'pretty'], { error: 'is not json or pretty' }).default('json'),
  LOG_LEVEL: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
      error: 'is not a pino level (expected trace, debug, info, warn, error, fatal or silent)',
    })
    .default('info'),
  DRAIN_DELAY_MS: int(0, 600_000, 0, 'milliseconds'),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000, 10_000, 'milliseconds'),
  STARTUP_TIMEOUT_MS: int(0, 600_000, 30_000, 'milliseconds'),
  STORE_TIMEOUT_MS: int(100, 600_000, 5_000, 'milliseconds'),
  MAX_PENDING_WRITES: int(1, 10_000_000, 10_000, 'writes'),
});

export type Env = z.input<typeof envSchema>;

/** Every environment variable livetail reads (docs/operations.md documents each; a test checks it). */
export const ENV_VARIABLES = Object.keys(envSchema.shape) as ReadonlyArray<keyof Env>;

/** Validated configuration. Names follow the environment variables, camel-cased. */
export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string | undefined;
  nodeId: string;
  database: { kind: 'sqlite'; path: string; url: string } | { kind: 'postgres'; url: string };
  dataDir: string;
  /** Undefined in development until main.ts loads or creates the file in dataDir. */
  betterAuthSecret: string | undefined;
  baseUrl: string;
  trustedOrigins: string[];
  trustProxy: boolean;
  ingestToken: string | undefined;
  maxLogsPerUser: number;
  initialLogs: number;
  realtimeLogLevel: (typeof LOG_LEVELS)[number];
  heartbeatIntervalMs: number;
  sessionCacheTtlMs: number;
  maxMessageBytes: number;
  rateLimit: { perSecond: number; burst: number };
  maxSocketsPerUser: number;
  upgradeRate: { limit: number; windowMs: number };
  maxBufferedBytes: number;
  maxBodyBytes: number;
  maxBatchEntries: number;
  parsedBounds: { maxDepth: number; maxBytes: number };
  maxJobsPerUser: number;
  maxReadsPerUser: number;
  /** The HTTP server's bounds on slow clients (slowloris) and slow readers. */
  http: { headersTimeoutMs: number; requestTimeoutMs: number; sendTimeoutMs: number; maxConnectionsPerAddress: number };
  perMessageDeflate: boolean;
  redis: { url: string; prefix: string } | undefined;
  bullmq: { queues: string[]; prefix: string };
  logFormat: 'json' | 'pretty';
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  drainDelayMs: number;
  shutdownTimeoutMs: number;
  startupTimeoutMs: number;
  /** Every write is answered within it (201 or 503); also the database's connect and statement timeout. */
  storeTimeoutMs: number;
  /** Writes waiting for the store (or in its transaction) beyond which a new one gets 503 at once. */
  maxPendingWrites: number;
}

/** A configuration problem: `message` is the one line printed before exiting with code 2. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
    value: string | undefined,
  ) {
    const safe = value === undefined ? undefined : withoutPassword(value);
    const shown = safe === undefined ? '' : `=${JSON.stringify(safe.length > 80 ? safe.slice(0, 77) + '...' : safe)}`;
    super(`Invalid configuration: ${variable}${shown} ${problem}`);
    this.name = 'ConfigError';
  }
}

const SECRET_VARIABLES = new Set(['BETTER_AUTH_SECRET', 'INGEST_TOKEN']);

/** `scheme://user:secret@host` → `scheme://user:****@host`: a bad DATABASE_URL or REDIS_URL is shown without its password. */
function withoutPassword(value: string): string {
  return value.replace(/^([a-z][\w+.-]*:\/\/[^:/@\s]*):[^@/\s]*@/i, '$1:****@');
}

/** Parses and validates the environment. Throws ConfigError on the first bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const raw = env[variable];
    throw new ConfigError(variable, issue.message, SECRET_VARIABLES.has(variable) ? undefined : raw);
  }
  const e = result.data;

  if (e.NODE_ENV === 'production' && !e.BETTER_AUTH_SECRET) {
    throw new ConfigError('BETTER_AUTH_SECRET', 'is required when NODE_ENV=production (at least 32 random characters)', undefined);
  }
  if (e.BULLMQ_QUEUES.length > 0 && !e.REDIS_URL) {
    throw new ConfigError('BULLMQ_QUEUES', 'needs REDIS_URL (BullMQ queues live in Redis): set REDIS_URL=redis://host:6379', env.BULLMQ_QUEUES);
  }
  if (e.DRAIN_DELAY_MS >= e.SHUTDOWN_TIMEOUT_MS) {
    // The shutdown timer runs from the signal, so it would cut the shutdown before the sockets are closed.
    throw new ConfigError(
      'DRAIN_DELAY_MS',
      `must be less than SHUTDOWN_TIMEOUT_MS (${e.SHUTDOWN_TIMEOUT_MS}), which bounds the whole shutdown including the drain`,
      env.DRAIN_DELAY_MS,
    );
  }
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
    // Node refuses a headers timeout above the request timeout: the headers are part of the request.
    throw new ConfigError(
      'HTTP_HEADERS_TIMEOUT_MS',
      `must not exceed HTTP_REQUEST_TIMEOUT_MS (${e.HTTP_REQUEST_TIMEOUT_MS}), which bounds the whole request, headers included`,
      env.HTTP_HEADERS_TIMEOUT_MS,
    );
  }
  if (e.RATE_LIMIT_BURST < 1) {
    throw new ConfigError('RATE_LIMIT_BURST', 'must be at least 1', env.RATE_LIMIT_BURST);
  }

  const baseUrl = (e.BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  const trustedOrigins = e.TRUSTED_ORIGINS.length > 0 ? e.TRUSTED_ORIGINS : [new URL(baseUrl).origin];
  for (const origin of trustedOrigins) {
    if (origin.includes('*')) continue; // better-auth's wildcard patterns
    try {
      new URL(origin);
    } catch {
      throw new ConfigError('TRUSTED_ORIGINS', `contains ${JSON.stringify(origin)}, which is not an origin such as https://app.example.com`, env.TRUSTED_ORIGINS);
    }
  }

  const database = e.DATABASE_URL.startsWith('file:')
    ? ({ kind: 'sqlite', path: e.DATABASE_URL.slice('file:'.length), url: e.DATABASE_URL } as const)
    : ({ kind: 'postgres', url: e.DATABASE_URL } as const);
  if (database.kind === 'sqlite' && database.path === '') {
    throw new ConfigError('DATABASE_URL', 'has no path (expected file:./data/livetail.db)', env.DATABASE_URL);
  }

  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST || undefined,
    nodeId: e.NODE_ID ?? `${os.hostname()}-${process.pid}`,
    database,
    dataDir: e.DATA_DIR,
    betterAuthSecret: e.BETTER_AUTH_SECRET,
    baseUrl,
    trustedOrigins,
    trustProxy: e.TRUST_PROXY,
    ingestToken: e.INGEST_TOKEN,
    maxLogsPerUser: e.MAX_LOGS_PER_USER,
    initialLogs: e.INITIAL_LOGS,
    realtimeLogLevel: e.REALTIME_LOG_LEVEL,
    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS,
    sessionCacheTtlMs: e.SESSION_CACHE_TTL_MS,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    rateLimit: { perSecond: e.RATE_LIMIT_PER_SECOND, burst: e.RATE_LIMIT_BURST },
    maxSocketsPerUser: e.MAX_SOCKETS_PER_USER,
    upgradeRate: { limit: e.UPGRADE_RATE_LIMIT, windowMs: e.UPGRADE_RATE_WINDOW_MS },
    maxBufferedBytes: e.MAX_BUFFERED_BYTES,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxBatchEntries: e.MAX_BATCH_ENTRIES,
    parsedBounds: { maxDepth: e.MAX_PARSED_DEPTH, maxBytes: e.MAX_PARSED_BYTES },
    maxJobsPerUser: e.MAX_JOBS_PER_USER,
    maxReadsPerUser: e.MAX_READS_PER_USER,
    http: {
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      sendTimeoutMs: e.HTTP_SEND_TIMEOUT_MS,
      maxConnectionsPerAddress: e.MAX_CONNECTIONS_PER_ADDRESS,
    },
    perMessageDeflate: e.PERMESSAGE_DEFLATE,
    redis: e.REDIS_URL ? { url: e.REDIS_URL, prefix: e.REDIS_PREFIX } : undefined,
    bullmq: { queues: e.BULLMQ_QUEUES, prefix: e.BULLMQ_PREFIX },
    logFormat: e.LOG_FORMAT,
    logLevel: e.LOG_LEVEL,
    drainDelayMs: e.DRAIN_DELAY_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    startupTimeoutMs: e.STARTUP_TIMEOUT_MS,
    storeTimeoutMs: e.STORE_TIMEOUT_MS,
    maxPendingWrites: e.MAX_PENDING_WRITES,
  };
}
