import os from 'node:os';
import { z } from 'zod';
import { TUNABLES, type Tunable, type TunableName, type Tunables, envNameOf } from './core/tunables.js';
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

/** An env entry per core tunable (except the recheck interval, whose default follows the heartbeat). */
function tunableEnv() {
  const entries = (Object.keys(TUNABLES) as TunableName[])
    .filter((name) => name !== 'sessionRecheckIntervalMs')
    .map((name) => {
      const t: Tunable = TUNABLES[name];
      return [envNameOf(name), int(t.min, t.max, t.default, t.unit)] as const;
    });
  return Object.fromEntries(entries) as Record<string, ReturnType<typeof int>>;
}

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
  // The core's limits (src/core/tunables.ts): each under its option's name in CONSTANT_CASE, same range.
  ...tunableEnv(),
  /** Undefined → the recheck runs every HEARTBEAT_INTERVAL_MS. */
  SESSION_RECHECK_INTERVAL_MS: int(0, 86_400_000, NaN, 'milliseconds; 0 disables the recheck'),
  AUTH_SESSION_URL: url(['http:', 'https:'], 'the app\'s get-session endpoint, such as https://app.example.com/api/auth/get-session'),
  AUTH_SESSION_TIMEOUT_MS: int(100, 60_000, 2_000, 'milliseconds'),
  REALTIME_LOG_LEVEL: z.enum(LOG_LEVELS, { error: `is not a log level (expected ${LOG_LEVELS.join(', ')})` }).default('info'),
  HTTP_HEADERS_TIMEOUT_MS: int(100, 600_000, 10_000, 'milliseconds'),
  HTTP_REQUEST_TIMEOUT_MS: int(100, 3_600_000, 30_000, 'milliseconds'),
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
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000, 10_000, 'milliseconds'),
  STARTUP_TIMEOUT_MS: int(0, 600_000, 30_000, 'milliseconds'),
});

export type Env = z.input<typeof envSchema>;

/** Every environment variable livetail reads (docs/operations.md documents each; a test checks it). */
export const ENV_VARIABLES = Object.keys(envSchema.shape) as ReadonlyArray<keyof Env>;

/** Validated configuration. Names follow the environment variables, camel-cased. */
export interface Config extends Tunables {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string | undefined;
  nodeId: string;
  database: { kind: 'sqlite'; path: string; url: string } | { kind: 'postgres'; url: string };
  dataDir: string;
  /** Undefined in development until startLivetail loads or creates the file in dataDir. */
  betterAuthSecret: string | undefined;
  baseUrl: string;
  trustedOrigins: string[];
  trustProxy: boolean;
  ingestToken: string | undefined;
  /** AUTH_SESSION_URL: proxy auth mode (the app's get-session endpoint); undefined: livetail's own better-auth. */
  authSessionUrl: string | undefined;
  authSessionTimeoutMs: number;
  realtimeLogLevel: (typeof LOG_LEVELS)[number];
  /** The HTTP server's bounds on slow clients (slowloris). */
  http: { headersTimeoutMs: number; requestTimeoutMs: number; maxConnectionsPerAddress: number };
  perMessageDeflate: boolean;
  redis: { url: string; prefix: string } | undefined;
  bullmq: { queues: string[]; prefix: string };
  logFormat: 'json' | 'pretty';
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  drainDelayMs: number;
  shutdownTimeoutMs: number;
  startupTimeoutMs: number;
  /** The core's limits and intervals, by option name (createLivetail takes them as they are). */
  tunables: Tunables;
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
  const tunables = {} as Tunables;
  for (const name of Object.keys(TUNABLES) as TunableName[]) {
    tunables[name] = (e as unknown as Record<string, number>)[envNameOf(name)]!;
  }
  // Unset (NaN): the recheck follows the heartbeat, as the sweep always did.
  if (Number.isNaN(tunables.sessionRecheckIntervalMs)) tunables.sessionRecheckIntervalMs = tunables.heartbeatIntervalMs;


  if (e.NODE_ENV === 'production' && !e.BETTER_AUTH_SECRET && !e.AUTH_SESSION_URL) {
    throw new ConfigError('BETTER_AUTH_SECRET', 'is required when NODE_ENV=production (at least 32 random characters)', undefined);
  }
  if (e.BULLMQ_QUEUES.length > 0 && !e.REDIS_URL) {
    throw new ConfigError('BULLMQ_QUEUES', 'needs REDIS_URL (BullMQ queues live in Redis): set REDIS_URL=redis://host:6379', env.BULLMQ_QUEUES);
  }
  if (tunables.drainDelayMs >= e.SHUTDOWN_TIMEOUT_MS) {
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
  if (tunables.rateLimitBurst < 1) {
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
    realtimeLogLevel: e.REALTIME_LOG_LEVEL,
    authSessionUrl: e.AUTH_SESSION_URL,
    authSessionTimeoutMs: e.AUTH_SESSION_TIMEOUT_MS,
    http: {
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      maxConnectionsPerAddress: e.MAX_CONNECTIONS_PER_ADDRESS,
    },
    perMessageDeflate: e.PERMESSAGE_DEFLATE,
    redis: e.REDIS_URL ? { url: e.REDIS_URL, prefix: e.REDIS_PREFIX } : undefined,
    bullmq: { queues: e.BULLMQ_QUEUES, prefix: e.BULLMQ_PREFIX },
    logFormat: e.LOG_FORMAT,
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    startupTimeoutMs: e.STARTUP_TIMEOUT_MS,
    ...tunables,
    tunables,
  };
}
