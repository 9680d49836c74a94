/**
 * One POST of a batch to /api/logs, and what its answer means for the publisher: delivered, worth
 * retrying (a network error, a 5xx, 429), to be split (413: larger than this server takes), some
 * entries refused (400 naming them), or refused outright (any other 4xx, 422 included).
 */
export type PostOutcome =
  | { kind: 'sent'; status: number; body: string }
  | { kind: 'retry'; status?: number; body?: string; retryAfterMs?: number; reason: string }
  | { kind: 'split'; status: number; body: string }
  | { kind: 'invalid'; status: number; body: string; indexes: number[] }
  | { kind: 'refused'; status: number; body: string };

export interface PostRequest {
  endpoint: string;
  headers: Record<string, string>;
  body: string;
  /** The same key on every retry of one batch, a fresh one per batch. */
  idempotencyKey: string;
  timeoutMs: number;
  /** Aborted when close() runs out of time. */
  signal: AbortSignal;
  fetch: typeof globalThis.fetch;
}

/** Statuses retried as they are: overload, unavailability, a server fault. */
function retryable(status: number): boolean {
  return status >= 500 || status === 429;
}

export async function postBatch(request: PostRequest): Promise<PostOutcome> {
  let res: Response;
  let body: string;
  try {
    res = await request.fetch(request.endpoint, {
      method: 'POST',
      headers: { ...request.headers, 'content-type': 'application/json', 'idempotency-key': request.idempotencyKey },
      body: request.body,
      signal: AbortSignal.any([request.signal, AbortSignal.timeout(request.timeoutMs)]),
    });
    body = await res.text();
  } catch (error) {
    return { kind: 'retry', reason: networkReason(error) };
  }
  const { status } = res;
  if (status >= 200 && status < 300) return { kind: 'sent', status, body };
  if (retryable(status)) {
    return { kind: 'retry', status, body, retryAfterMs: retryAfterMs(res.headers.get('retry-after'), Date.now()), reason: `HTTP ${status}` };
  }
  if (status === 413) return { kind: 'split', status, body };
  if (status === 400) {
    const indexes = invalidEntryIndexes(body);
    if (indexes.length > 0) return { kind: 'invalid', status, body, indexes };
  }
  return { kind: 'refused', status, body };
}

/**
 * Retry-After as milliseconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined
 * when absent or unreadable. A date in the past is 0. `now` is the wall clock (Date.now()), as the date is.
 */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * The indexes of the entries a 400 VALIDATION_FAILED names (livetail lists each issue's path as
 * [entry index, field…]). Empty when the body names none, so the whole batch is refused.
 */
export function invalidEntryIndexes(body: string): number[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  const details = (parsed as { code?: unknown; details?: unknown } | null)?.details;
  if ((parsed as { code?: unknown }).code !== 'VALIDATION_FAILED' || !Array.isArray(details)) return [];
  const indexes = new Set<number>();
  for (const issue of details) {
    const first = (issue as { path?: unknown[] } | null)?.path?.[0];
    if (typeof first !== 'number' || !Number.isInteger(first) || first < 0) return [];
    indexes.add(first);
  }
  return [...indexes].sort((a, b) => a - b);
}

/** "ECONNREFUSED", "ECONNRESET", "timeout"… from what fetch threw. */
export function networkReason(error: unknown): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return 'timeout';
  if (error instanceof DOMException && error.name === 'AbortError') return 'aborted';
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
