import { CLOSE_CODES } from './protocol/constants.js';

/**
 * The error catalog: every error livetail reports has a stable code, where it is reported
 * (an HTTP status, a WebSocket close code, or a protocol `error` message) and a message a user can act on.
 * docs/protocol.md lists them; tests assert on the codes.
 */
export const HTTP_ERRORS = {
  UNAUTHENTICATED: { status: 401, message: 'Not signed in: send the session cookie, or Authorization: Bearer <INGEST_TOKEN>' },
  SESSION_INVALID: { status: 401, message: 'No valid session: sign in again (the cookie is missing, invalid or expired)' },
  ORIGIN_NOT_ALLOWED: { status: 403, message: 'Origin not allowed: add it to TRUSTED_ORIGINS' },
  USER_MISMATCH: { status: 403, message: 'userId does not match the signed-in user: omit it, or use the service token' },
  VALIDATION_FAILED: { status: 400, message: 'Invalid request body' },
  INVALID_BODY: { status: 400, message: 'Request body contains a string that is not well-formed UTF-16 (a lone surrogate)' },
  INVALID_JSON: { status: 400, message: 'Request body is not valid JSON' },
  INVALID_QUERY: { status: 400, message: 'Invalid query parameters' },
  USER_ID_REQUIRED: { status: 400, message: 'userId is required with the service token' },
  SERVICE_TOKEN_REQUIRED: { status: 403, message: 'Only a service may do this: send Authorization: Bearer <INGEST_TOKEN>' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json' },
  BODY_TOO_LARGE: { status: 413, message: 'Request body too large' },
  BATCH_TOO_LARGE: { status: 413, message: 'Too many entries in one batch' },
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
  STORE_UNAVAILABLE: { status: 503, message: 'The store is unavailable: retry later', retryAfterSeconds: 2 },
  AUTH_UNAVAILABLE: { status: 503, message: "The app's session check did not answer: retry later", retryAfterSeconds: 2 },
  STORE_COMMIT_IN_DOUBT: {
    status: 503,
    message: 'The store went away while committing: the entries may or may not be stored; look for the id in details before sending them again',
  },
  INTERNAL: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, { status: number; message: string; retryAfterSeconds?: number }>;
export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** How long a refused client should wait before trying again (`Retry-After`, seconds), where the catalog says. */
export function retryAfterOf(code: HttpErrorCode): number | undefined {
  const entry = HTTP_ERRORS[code];
  return 'retryAfterSeconds' in entry ? entry.retryAfterSeconds : undefined;
}

/**
 * Errors answered with a protocol `{ type: "error", error }` message; the socket stays open. An argument
 * that comes from the client is a clipped string or the kind of value it sent, never the value itself
 * (see src/gateway/client-frame.ts).
 */
export const PROTOCOL_ERRORS = {
  INVALID_MESSAGE_FORMAT: () => 'Invalid message format',
  UNKNOWN_MESSAGE_TYPE: (type: string) => `Unknown message type: ${type}`,
  INVALID_CHANNEL: (channel: string) => `Invalid channel: ${channel} (expected one of all, logs, jobs)`,
  MISSING_CHANNEL: (type: string) => `${type} needs a channel: one of all, logs, jobs`,
  INVALID_FIELDS: (type: string) => `Invalid ${type} message: unexpected or malformed fields`,
  RATE_LIMITED: () => 'Rate limit exceeded',
  INTERNAL: () => 'Internal error: try again',
} as const;
export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS;

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

/** An error that maps to an HTTP answer from the catalog. */
export class HttpError extends Error {
  readonly status: number;
  /** The first MAX_ERROR_DETAILS details, each with its texts cut to MAX_DETAIL_TEXT. */
  readonly details?: unknown;
  /** How many details there were, when more than MAX_ERROR_DETAILS. */
  readonly detailsTotal?: number;
  constructor(
    readonly code: HttpErrorCode,
    message?: string,
    details?: unknown,
  ) {
    super(message ?? HTTP_ERRORS[code].message);
    this.name = 'HttpError';
    this.status = HTTP_ERRORS[code].status;
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
