/**
 * Asking the server why an upgrade failed. A browser cannot read the HTTP status of a refused upgrade
 * (the WebSocket only closes with 1006), so after an attempt that failed before the socket opened the
 * client sends one plain `GET` to the same URL over http(s): the server runs the upgrade's checks again
 * and answers `200 {"ok":true}`, or the status the upgrade got with the error catalog's body
 * `{ error, code }` (and `Retry-After` for 429 and 503). Browser-safe: only `fetch` and `URL`.
 */

/** Why the server refused the upgrade: the error catalog's code and message, and the HTTP status. */
export interface RefusalReason {
  /**
   * The catalog's code: SESSION_INVALID, UNAUTHENTICATED, ORIGIN_NOT_ALLOWED, UPGRADE_RATE_LIMITED,
   * TOO_MANY_CONNECTIONS, SHUTTING_DOWN, STORE_UNAVAILABLE… Absent when only the status is known (Node,
   * against a server that does not answer the check).
   */
  code?: string;
  /** What the server said, for people. */
  message: string;
  /** The HTTP status of the refusal. */
  status: number;
}

/** What the check found out. `unknown`: no check here (404), an answer that is not the contract's, or no answer. */
export type CheckAnswer =
  | { kind: 'accepted' }
  | { kind: 'refused'; reason: RefusalReason; retryAfterMs?: number }
  | { kind: 'unknown' };

/** The state a refusal leads to, by its status. */
export type RefusalState = 'unauthenticated' | 'forbidden' | 'rate-limited' | 'reconnecting';

/** A check that takes longer than this is given up (unknown): the next attempt should not wait on it. */
const CHECK_TIMEOUT_MS = 5000;
/** The longest Retry-After honoured: a wrong header must not park a client for a day. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;
/** Headers of the upgrade that do not belong on a plain GET (fetch refuses some of them). */
const UPGRADE_ONLY_HEADER = /^(upgrade|connection|sec-websocket-.*)$/i;

/**
 * Sends the check for a failed upgrade to `wsUrl` and reads the answer. In Node `headers` are the
 * upgrade's own (cookie, origin…). In a browser the cookie goes along (`credentials: 'include'`); a
 * same-origin GET carries no `Origin`, so the page's origin goes in `x-livetail-origin` instead (only
 * then: on a cross-origin check the browser sends `Origin` itself, and a custom header would cost a
 * CORS preflight; the server must allow the page's origin to read the answer, else it is unknown).
 */
export async function askWhyRefused(wsUrl: string, headers: Record<string, string> | undefined, signal: AbortSignal): Promise<CheckAnswer> {
  const fetchImpl = (globalThis as { fetch?: typeof fetch }).fetch;
  if (typeof fetchImpl !== 'function') return { kind: 'unknown' };
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), CHECK_TIMEOUT_MS);
  const stop = () => timeout.abort();
  signal.addEventListener('abort', stop);
  try {
    const response = await fetchImpl(url, {
      method: 'GET',
      headers: checkHeaders(url, headers),
      credentials: 'include',
      cache: 'no-store',
      redirect: 'error',
      signal: timeout.signal,
    });
    return readAnswer(response.status, response.headers.get('retry-after'), await response.text());
  } catch {
    return { kind: 'unknown' };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
  }
}

/** The state a refusal with this status leads to: stop (401, 403), wait long (429), or retry as usual. */
export function refusalState(status: number): RefusalState {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'rate-limited';
  return 'reconnecting';
}

/** Reads the check's answer; exported for unit tests. */
export function readAnswer(status: number, retryAfter: string | null, text: string): CheckAnswer {
  // A 404 is an app that embeds livetail without serving the check, whatever its body says.
  if (status === 404) return { kind: 'unknown' };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'unknown' };
  }
  const b = body as { ok?: unknown; error?: unknown; code?: unknown } | null;
  if (status === 200) return b?.ok === true ? { kind: 'accepted' } : { kind: 'unknown' };
  if (status < 400 || typeof b?.error !== 'string' || typeof b.code !== 'string') return { kind: 'unknown' };
  const retryAfterMs = parseRetryAfter(retryAfter);
  const reason: RefusalReason = { code: b.code, message: b.error, status };
  return retryAfterMs === undefined ? { kind: 'refused', reason } : { kind: 'refused', reason, retryAfterMs };
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now, at most MAX_RETRY_AFTER_MS. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  // An HTTP date always names its day and month; without letters, Date.parse would read "-5" as a year.
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : /[a-z]/i.test(trimmed) ? Date.parse(trimmed) - now : NaN;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

function checkHeaders(url: URL, upgradeHeaders: Record<string, string> | undefined): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [name, value] of Object.entries(upgradeHeaders ?? {})) {
    if (!UPGRADE_ONLY_HEADER.test(name)) headers[name] = value;
  }
  const pageOrigin = (globalThis as { location?: { origin?: unknown } }).location?.origin;
  if (typeof pageOrigin === 'string' && pageOrigin === url.origin) headers['x-livetail-origin'] = pageOrigin;
  return headers;
}
