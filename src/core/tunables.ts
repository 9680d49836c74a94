/**
 * The core's numeric limits and intervals, defined once: the default, the accepted range and its unit.
 * `createLivetail` takes each as an option of this name; the standalone server reads each from the
 * environment variable of the same name in CONSTANT_CASE (`maxLogsPerUser` ← MAX_LOGS_PER_USER), with
 * the same range. README's configuration table and docs/embedding.md document them.
 */
const KiB = 1024;
const MiB = 1024 * KiB;

export interface Tunable {
  default: number;
  min: number;
  max: number;
  /** What the number counts, as said in an error. */
  unit: string;
}

export const TUNABLES = {
  /** Retention per user; the oldest logs are trimmed. */
  maxLogsPerUser: { default: 1000, min: 1, max: 1_000_000, unit: 'logs' },
  /** How many jobs' latest state is kept per user (for `initial-jobs`). */
  maxJobsPerUser: { default: 50, min: 1, max: 100_000, unit: 'jobs' },
  /** How many logs `initial-logs` carries. */
  initialLogs: { default: 100, min: 0, max: 1_000_000, unit: 'logs' },
  /** How long a user's newest logs stay in memory after their last socket on the node closed, so a reconnect is answered without the store; 0 drops them with that socket. */
  recentLogsLingerMs: { default: 30_000, min: 0, max: 3_600_000, unit: 'milliseconds; 0 drops them with the last socket' },
  /** Protocol ping interval; a socket that missed the last pong is terminated. */
  heartbeatIntervalMs: { default: 30_000, min: 100, max: 3_600_000, unit: 'milliseconds' },
  /** How long a positive session check is reused; 0 disables the cache. */
  sessionCacheTtlMs: { default: 5_000, min: 0, max: 300_000, unit: 'milliseconds; 0 disables the cache' },
  /** How often open sockets' sessions are checked again (the safety net for unreported ends); 0 disables. Defaults to heartbeatIntervalMs. */
  sessionRecheckIntervalMs: { default: 30_000, min: 0, max: 86_400_000, unit: 'milliseconds; 0 disables the recheck' },
  /** Largest incoming WebSocket frame; larger closes the socket with 1009. */
  maxMessageBytes: { default: 64 * KiB, min: 64, max: 16 * MiB, unit: 'bytes' },
  /** Messages a socket may send per second (token bucket). */
  rateLimitPerSecond: { default: 20, min: 1, max: 100_000, unit: 'messages per second' },
  /** Messages a socket may send at once before the per-second rate applies. */
  rateLimitBurst: { default: 50, min: 1, max: 100_000, unit: 'messages' },
  /** Open sockets per user on a node; the next upgrade gets 429. */
  maxSocketsPerUser: { default: 20, min: 1, max: 100_000, unit: 'sockets' },
  /** Upgrade attempts per client address per window; more get 429 before the session check. */
  upgradeRateLimit: { default: 50, min: 1, max: 1_000_000, unit: 'upgrades per window' },
  upgradeRateWindowMs: { default: 10_000, min: 100, max: 3_600_000, unit: 'milliseconds' },
  /** Unsent bytes a socket may hold; more closes it with 1013. */
  maxBufferedBytes: { default: 4 * MiB, min: 1024, max: 1024 * MiB, unit: 'bytes' },
  /** Largest request body; more answers 413. */
  maxBodyBytes: { default: 1 * MiB, min: 1024, max: 256 * MiB, unit: 'bytes' },
  /** Most log entries in one POST /api/logs; more answers 413. */
  maxBatchEntries: { default: 1000, min: 1, max: 1_000_000, unit: 'entries' },
  /** Deepest nesting of a log entry's `data.parsed`. */
  maxParsedDepth: { default: 16, min: 1, max: 1000, unit: 'levels' },
  /** Largest `data.parsed`, serialized. */
  maxParsedBytes: { default: 64 * KiB, min: 2, max: 16 * MiB, unit: 'bytes' },
  /** Concurrent GET /api/logs and /api/jobs per user; more answer 429 TOO_MANY_READS. */
  maxReadsPerUser: { default: 4, min: 1, max: 10_000, unit: 'concurrent GET /api/logs and /api/jobs per user' },
  /** A streamed answer whose client reads nothing for this long is cut. */
  httpSendTimeoutMs: { default: 30_000, min: 100, max: 3_600_000, unit: 'milliseconds' },
  /** Every write is answered within this (503 when the store does not answer); also PostgreSQL's connect and statement timeouts. */
  storeTimeoutMs: { default: 5_000, min: 100, max: 600_000, unit: 'milliseconds' },
  /** Writes that may wait for the store; more answer 503 at once. */
  maxPendingWrites: { default: 10_000, min: 1, max: 10_000_000, unit: 'writes' },
  /** How long an Idempotency-Key holds: a repeat within it gets the first answer, and nothing is stored again. */
  idempotencyWindowMs: { default: 600_000, min: 100, max: 7 * 86_400_000, unit: 'milliseconds' },
  /** At close, how long readiness answers 503 before open sockets are closed with 1001. */
  drainDelayMs: { default: 0, min: 0, max: 600_000, unit: 'milliseconds' },
} as const satisfies Record<string, Tunable>;

export type TunableName = keyof typeof TUNABLES;
export type Tunables = { [K in TunableName]: number };

/** `maxLogsPerUser` → `MAX_LOGS_PER_USER`. */
export function envNameOf(name: TunableName): string {
  return name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}
