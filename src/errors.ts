import { CLOSE_CODES, type ProtocolErrorCode } from './protocol/constants.js';

/** One code of the HTTP catalog. */
interface HttpErrorEntry {
  status: number;
  /** The answer's `error` text when nothing more particular is said. */
  message: string;
  /** When trying again makes sense: the answer's Retry-After, in seconds. */
  retryAfterSeconds?: number;
  /**
   * Every more particular text an answer with this code may carry instead of `message` (or as a
   * detail's `message`): the catalog lists what is sent, and code elsewhere writes no error text.
   */
  texts?: Record<string, string | ((...args: never[]) => string)>;
}

/**
 * The error catalog: every error livetail reports has a stable code, where it is reported
 * (an HTTP status, a WebSocket close code, or a protocol `error` message) and a message a user can act on.
 * docs/protocol.md lists them; tests assert on the codes, and test/docs/error-catalog.test.ts that each
 * code is answered by some code path and that no error text is written outside this file.
 */
export const HTTP_ERRORS = {
  UNAUTHENTICATED: {
    status: 401,
    message: 'Not signed in: send the session cookie, or Authorization: Bearer <INGEST_TOKEN>',
    texts: {
      wrongToken: 'Invalid bearer token',
      tokensOff: 'Bearer tokens are not accepted: INGEST_TOKEN is not set on the server',
    },
  },
  SESSION_INVALID: { status: 401, message: 'No valid session: sign in again (the cookie is missing, invalid or expired)' },
  ORIGIN_NOT_ALLOWED: { status: 403, message: 'Origin not allowed: add it to TRUSTED_ORIGINS' },
  USER_MISMATCH: { status: 403, message: 'userId does not match the signed-in user: omit it, or use the service token' },
  VALIDATION_FAILED: {
    status: 400,
    message: 'Invalid request body',
    texts: {
      logEntries: 'Invalid log entries: nothing of this batch was stored',
      notEntries: 'Send a log entry, an array of entries, or { "logs": [...] }',
      logsNotArray: '"logs" must be an array of log entries',
      jobEvent: 'Invalid job event: send { jobId, status, ...anything else }',
      sessionEnd: 'Send { "sessionId": "..." } or { "userId": "..." }',
      tooDeep: (maxDepth: number) => `Request body is nested deeper than ${maxDepth} levels`,
      forbiddenKey: (key: string) => `Request body contains the forbidden key "${key}"`,
      // body-parser's own words for a body cut short, which the ingest lane gives as Express would.
      aborted: 'request aborted',
      sizeMismatch: 'request size did not match content length',
      // Issue texts (a detail's `message`), besides zod's own.
      userIdRequired: 'userId is required with the service token',
      ownerRequired: 'userId is required',
      ownerDiffers: 'userId differs from the owner passed to log()',
    },
  },
  INVALID_BODY: {
    status: 400,
    message: 'Request body contains a string that is not well-formed UTF-16 (a lone surrogate)',
    texts: { loneSurrogate: 'not well-formed UTF-16: a lone surrogate' },
  },
  INVALID_JSON: { status: 400, message: 'Request body is not valid JSON' },
  INVALID_QUERY: {
    status: 400,
    message: 'Invalid query parameters',
    texts: {
      repeated: (name: string) => `Query parameter ${name} is repeated: send each parameter once`,
      arraySyntax: (name: string) => `Query parameter ${name} uses array syntax: send each parameter once, as name=value`,
      illFormed: (name: string) => `Query parameter ${name} is not well-formed UTF-16`,
      since: 'since must be a log id',
      channels: (names: readonly string[]) => `channels must be a comma list of ${names.join(', ')}`,
    },
  },
  USER_ID_REQUIRED: { status: 400, message: 'userId is required with the service token' },
  SERVICE_TOKEN_REQUIRED: { status: 403, message: 'Only a service may do this: send Authorization: Bearer <INGEST_TOKEN>' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json' },
  BODY_TOO_LARGE: {
    status: 413,
    message: 'Request body too large',
    texts: { limit: (bytes: number) => `Request body too large: the limit is ${bytes} bytes` },
  },
  BATCH_TOO_LARGE: {
    status: 413,
    message: 'Too many entries in one batch',
    texts: { count: (entries: number, limit: number) => `Too many entries in one batch: ${entries} (the limit is ${limit})` },
  },
  NOT_FOUND: { status: 404, message: 'Not found' },
  INVALID_IDEMPOTENCY_KEY: { status: 400, message: 'Idempotency-Key must be 1 to 255 printable ASCII characters' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'This Idempotency-Key was already used for a different request: send a new key with a new request',
  },
  // retryAfterSeconds: when trying again makes sense (the answer's Retry-After, for the SDK and publishers).
  TOO_MANY_CONNECTIONS: { status: 429, message: 'Too many open sockets for this user: close one first', retryAfterSeconds: 5 },
  UPGRADE_RATE_LIMITED: { status: 429, message: 'Too many connection attempts from this address: retry later', retryAfterSeconds: 5 },
  TOO_MANY_READS: { status: 429, message: 'Too many reads in progress for this user: wait for one to finish', retryAfterSeconds: 1 },
  SHUTTING_DOWN: { status: 503, message: 'Server is shutting down: retry on another node', retryAfterSeconds: 1 },
  // Soon: a store that went away is often back in moments, and nothing of the request was stored.
  STORE_UNAVAILABLE: {
    status: 503,
    message: 'The store is unavailable: retry later',
    retryAfterSeconds: 2,
    texts: {
      queueFull: (maxPendingWrites: number) => `Too many writes are waiting for the store (MAX_PENDING_WRITES=${maxPendingWrites}): nothing was stored; retry later`,
      timeout: (timeoutMs: number) => `The store did not commit within STORE_TIMEOUT_MS (${timeoutMs} ms): nothing was stored; retry later`,
    },
  },
  AUTH_UNAVAILABLE: { status: 503, message: "The app's session check did not answer: retry later", retryAfterSeconds: 2 },
  STORE_COMMIT_IN_DOUBT: {
    status: 503,
    message: 'The store went away while committing: the entries may or may not be stored; look for the id in details before sending them again',
    texts: { firstLog: 'The first log of the request: it was stored whole or not at all; look for its id' },
  },
  INTERNAL: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, HttpErrorEntry>;
export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** How long a refused client should wait before trying again (`Retry-After`, seconds), where the catalog says. */
export function retryAfterOf(code: HttpErrorCode): number | undefined {
  const entry = HTTP_ERRORS[code];
  return 'retryAfterSeconds' in entry ? entry.retryAfterSeconds : undefined;
}

/**
 * Errors answered with a protocol `{ type: "error", error, code }` message; the socket stays open. Exactly
 * the codes of PROTOCOL_ERROR_CODES (the protocol's list, which clients import), each with its text. An
 * argument that comes from the client is a clipped string or the kind of value it sent, never the value
 * itself (see src/gateway/client-frame.ts).
 */
export const PROTOCOL_ERRORS = {
  INVALID_MESSAGE_FORMAT: () => 'Invalid message format',
  UNKNOWN_MESSAGE_TYPE: (type: string) => `Unknown message type: ${type}`,
  INVALID_CHANNEL: (channel: string) => `Invalid channel: ${channel} (expected one of all, logs, jobs)`,
  MISSING_CHANNEL: (type: string) => `${type} needs a channel: one of all, logs, jobs`,
  RATE_LIMITED: () => 'Rate limit exceeded',
  INTERNAL: () => 'Internal error: try again',
} as const satisfies Record<ProtocolErrorCode, (...args: string[]) => string>;
export type { ProtocolErrorCode };

/**
 * Reasons a socket is closed by the server, with their close code and close reason text.
 * Not here: the closes ws makes by itself for a frame it cannot accept, with an empty reason text —
 * 1009 (over MAX_MESSAGE_BYTES), 1007 (text that is not UTF-8), 1002 (a malformed frame), 1008 (too many
 * fragments); CLOSE_CODES documents them.
 */
export const CLOSE_REASONS = {
  SHUTTING_DOWN: { code: CLOSE_CODES.GOING_AWAY, reason: 'Server shutting down' },
  RATE_LIMITED: { code: CLOSE_CODES.POLICY_VIOLATION, reason: 'rate limit exceeded' },
  SLOW_CONSUMER: { code: CLOSE_CODES.TRY_AGAIN_LATER, reason: 'slow consumer' },
  SESSION_ENDED: { code: CLOSE_CODES.SESSION_ENDED, reason: 'session ended' },
  INTERNAL_ERROR: { code: CLOSE_CODES.INTERNAL_ERROR, reason: 'internal error: reconnect to resume' },
} as const;
export type CloseReason = keyof typeof CLOSE_REASONS;

/**
 * At most this many `details` are sent with an error: a batch of a thousand bad entries is answered with
 * the first issues and their total count, never with a body larger than the request.
 */
export const MAX_ERROR_DETAILS = 20;
/** Longest text of one detail's message or path segment: a zod message can quote an unknown key whole. */
const MAX_DETAIL_TEXT = 200;

/**
 * A refusal whose message is meant for the caller, with the catalog's `code`: what livetail's in-process
 * API (`lt.logs`, `lt.jobs`) throws on purpose, and what the HTTP layer answers with that code's status
 * and `toJSON()` as the body. An embedded app branches on `code` as a client of the REST API does;
 * `HTTP_ERRORS[code].retryAfterSeconds` says whether (and when) trying again makes sense.
 */
export class LivetailError extends Error {
  /** The first MAX_ERROR_DETAILS details, each with its texts cut to MAX_DETAIL_TEXT. */
  readonly details?: unknown;
  /** How many details there were, when more than MAX_ERROR_DETAILS. */
  readonly detailsTotal?: number;
  constructor(
    readonly code: HttpErrorCode,
    message?: string,
    details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message ?? HTTP_ERRORS[code].message, options);
    this.name = 'LivetailError';
    if (Array.isArray(details)) {
      this.details = details.slice(0, MAX_ERROR_DETAILS).map(boundDetail);
      if (details.length > MAX_ERROR_DETAILS) this.detailsTotal = details.length;
    } else {
      this.details = details;
    }
  }

  /** The JSON body every HTTP error answers with. */
  toJSON(): { error: string; code: HttpErrorCode; details?: unknown; detailsTotal?: number } {
    if (this.details === undefined) return { error: this.message, code: this.code };
    if (this.detailsTotal === undefined) return { error: this.message, code: this.code, details: this.details };
    return { error: this.message, code: this.code, details: this.details, detailsTotal: this.detailsTotal };
  }
}

/** One problem of refused input: where it is (keys and indexes from the top of what was given) and what. */
export interface Issue {
  path: PropertyKey[];
  message: string;
  /** zod's issue code, or `custom`. */
  code?: string;
}

/** A schema's issues (zod's) as details: path (after `prefix`), message and code, and nothing else of them. */
export function issuesOf(failed: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string; code: string }> }, prefix: PropertyKey[] = []): Issue[] {
  return failed.issues.map((i) => ({ path: [...prefix, ...i.path], message: i.message, code: i.code }));
}

/**
 * Input that cannot be taken: VALIDATION_FAILED (it does not match the schema: `details` lists each
 * issue with its path) or INVALID_BODY (a string that is not well-formed UTF-16). Nothing of it was stored.
 */
export class ValidationError extends LivetailError {
  declare readonly code: 'VALIDATION_FAILED' | 'INVALID_BODY';
  declare readonly details: Issue[];
  constructor(code: 'VALIDATION_FAILED' | 'INVALID_BODY', message: string | undefined, issues: Issue[]) {
    super(code, message, issues);
    this.name = 'ValidationError';
  }
}

/**
 * The store did not take a write in time. STORE_UNAVAILABLE: nothing of it was stored, and nothing ever
 * will be, so sending it again later is safe. STORE_COMMIT_IN_DOUBT: the answer to COMMIT was lost and
 * the store could not say in time what became of it; `details[0].id` is the write's first log, stored
 * whole or not at all: look for it before sending again.
 */
export class StoreWriteError extends LivetailError {
  declare readonly code: 'STORE_UNAVAILABLE' | 'STORE_COMMIT_IN_DOUBT';
  constructor(code: 'STORE_UNAVAILABLE' | 'STORE_COMMIT_IN_DOUBT', message?: string, details?: unknown[]) {
    super(code, message, details);
    this.name = 'StoreWriteError';
  }
}

/** A refusal of the HTTP layer itself (credentials, limits, routes), with its answer's status. */
export class HttpError extends LivetailError {
  readonly status: number;
  constructor(code: HttpErrorCode, message?: string, details?: unknown) {
    super(code, message, details);
    this.name = 'HttpError';
    this.status = HTTP_ERRORS[code].status;
  }
}

/**
 * The store could not be reached, did not answer in time, or is shutting down: nothing of the commit was
 * stored, and nothing of it ever will be (the transaction's COMMIT was never sent). Retrying later is safe.
 * The LogStore seam's failure: its message is for the server's log (it may quote the driver), so the
 * HTTP layer answers its `code` with the catalog's text.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * The source cannot tell whether the credentials are valid (its database is down, the app does not
 * answer in time, it answered something that is not a session). Callers answer 503, never 401: the
 * user may well be signed in. The SessionResolver seam's failure: its message is for the server's log.
 */
export class SessionCheckUnavailable extends Error {
  /**
   * The catalog code callers answer with: STORE_UNAVAILABLE when the auth's own database did not answer
   * (better-auth in-process), AUTH_UNAVAILABLE when the app did not (proxy mode).
   */
  readonly code: 'STORE_UNAVAILABLE' | 'AUTH_UNAVAILABLE';

  constructor(message: string, options: { cause?: unknown; code?: 'STORE_UNAVAILABLE' | 'AUTH_UNAVAILABLE' } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SessionCheckUnavailable';
    this.code = options.code ?? 'STORE_UNAVAILABLE';
  }
}

/** A detail `{ path, message, ... }` with its message and path segments cut to MAX_DETAIL_TEXT characters. */
function boundDetail(detail: unknown): unknown {
  if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) return detail;
  const bounded: Record<string, unknown> = { ...detail };
  if (typeof bounded.message === 'string') bounded.message = cut(bounded.message);
  if (Array.isArray(bounded.path)) bounded.path = bounded.path.map((segment) => (typeof segment === 'string' ? cut(segment) : segment));
  return bounded;
}

function cut(text: string): string {
  if (text.length <= MAX_DETAIL_TEXT) return text;
  let end = MAX_DETAIL_TEXT - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // never split a surrogate pair
  return `${text.slice(0, end)}…`;
}
