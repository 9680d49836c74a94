import { Backoff, type BackoffOptions } from '../client/backoff.js';

/** How a publisher reaches livetail and how it batches, retries and bounds what it holds. docs/producers.md lists each option. */
export interface PublisherOptions {
  /** The livetail server, e.g. `http://localhost:3002` (a base path such as `https://host/livetail` is kept); entries go to `<url>/api/logs`. */
  url: string;
  /** The server's INGEST_TOKEN, sent as `Authorization: Bearer <token>`; every entry must then name its `userId`. */
  token?: string;
  /** More request headers (e.g. a session `cookie` and `origin` instead of a token). */
  headers?: Record<string, string>;
  /** A batch is sent once it holds this many entries. Default 100 (the server takes up to MAX_BATCH_ENTRIES, 1000 by default). */
  maxBatchEntries?: number;
  /** …or this many bytes of JSON; also the largest entry publish() accepts. Default 256 KiB (the server takes MAX_BODY_BYTES, 1 MiB by default). */
  maxBatchBytes?: number;
  /** …or once its oldest entry has waited this long. Default 5 ms. */
  flushIntervalMs?: number;
  /** Entries waiting to be sent, at most; past it the oldest are dropped. Default 10,000. */
  maxQueueEntries?: number;
  /** Bytes of entries waiting, at most; past it the oldest are dropped. Default 16 MiB. */
  maxQueueBytes?: number;
  /** Backoff between attempts of one batch: full jitter from 0 up to min(capMs, baseMs × 2^attempt). Default 100 ms, 5 s. */
  retry?: Pick<BackoffOptions, 'baseMs' | 'capMs'>;
  /** Attempts per batch before it is given up (`error` GAVE_UP). Default unlimited: `giveUpAfterMs` bounds it. */
  maxAttempts?: number;
  /** A batch still failing after retrying this long is given up. Default 60,000 ms. */
  giveUpAfterMs?: number;
  /** The longest Retry-After honoured; a larger one waits this long. Default 60,000 ms. */
  maxRetryAfterMs?: number;
  /** One POST taking longer is aborted and retried. Default 10,000 ms. */
  requestTimeoutMs?: number;
  /** How long close() may take to deliver what is left; the rest is dropped (`dropped` with reason `close`). Default 5000 ms. */
  closeTimeoutMs?: number;
  /** The fetch to use (default the global one, Node 20+). */
  fetch?: typeof globalThis.fetch;
  /** For tests: the random source of the backoff's jitter (default Math.random). */
  random?: () => number;
  /** For tests: waits `ms`, resolving early when `signal` aborts (default a timer). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** For tests: the clock, in ms (default performance.now). */
  now?: () => number;
}

export type ResolvedOptions = Required<Omit<PublisherOptions, 'token' | 'retry'>> & {
  token: string | undefined;
  retry: Required<Pick<BackoffOptions, 'baseMs' | 'capMs'>>;
  endpoint: string;
};

const DEFAULTS = {
  maxBatchEntries: 100,
  maxBatchBytes: 256 * 1024,
  flushIntervalMs: 5,
  maxQueueEntries: 10_000,
  maxQueueBytes: 16 * 1024 * 1024,
  maxAttempts: Infinity,
  giveUpAfterMs: 60_000,
  maxRetryAfterMs: 60_000,
  requestTimeoutMs: 10_000,
  closeTimeoutMs: 5000,
};

/** Fills in the defaults and checks every number; a bad option throws a RangeError or TypeError naming it. */
export function resolveOptions(options: PublisherOptions): ResolvedOptions {
  if (!options || typeof options.url !== 'string') throw new TypeError('createPublisher needs { url }: the livetail server, e.g. http://localhost:3002');
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as PublisherOptions;
  const resolved: ResolvedOptions = {
    ...DEFAULTS,
    headers: {},
    fetch: globalThis.fetch,
    random: Math.random,
    sleep,
    now: () => performance.now(),
    ...given,
    token: options.token,
    retry: { baseMs: 100, capMs: 5000, ...options.retry },
    endpoint: logsEndpoint(options.url),
  };
  for (const name of ['maxBatchEntries', 'maxBatchBytes', 'maxQueueEntries', 'maxQueueBytes', 'maxAttempts'] as const) {
    const value = resolved[name];
    if (!(value >= 1) || (value !== Infinity && !Number.isInteger(value))) throw new RangeError(`${name} must be a positive integer (got ${value})`);
  }
  for (const name of ['flushIntervalMs', 'giveUpAfterMs', 'maxRetryAfterMs', 'requestTimeoutMs', 'closeTimeoutMs'] as const) {
    const value = resolved[name];
    if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a number of milliseconds ≥ 0 (got ${value})`);
  }
  if (resolved.maxQueueEntries < resolved.maxBatchEntries) throw new RangeError('maxQueueEntries must be at least maxBatchEntries');
  if (resolved.maxQueueBytes < resolved.maxBatchBytes) throw new RangeError('maxQueueBytes must be at least maxBatchBytes');
  if (typeof resolved.fetch !== 'function') throw new TypeError('No fetch: run on Node 20+ or pass the fetch option');
  new Backoff(resolved.retry); // throws a RangeError naming a bad baseMs / capMs now rather than at the first retry
  if (resolved.token !== undefined) resolved.headers = { ...resolved.headers, authorization: `Bearer ${resolved.token}` };
  return resolved;
}

/** `<origin><base path>/api/logs` for a server URL, keeping any base path it is mounted under. */
function logsEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`url ${JSON.stringify(url)} is not a URL (expected e.g. http://localhost:3002)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`url must be http:// or https:// (got ${parsed.protocol})`);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}/api/logs`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
