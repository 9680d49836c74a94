import { CliError } from './cli-error.js';

export interface JsonResponse {
  status: number;
  body: unknown;
  headers: Headers;
}

/**
 * A JSON request to the livetail server. Network failures become one CliError line naming the URL;
 * HTTP errors are returned, not thrown, so each command words its own message.
 */
export async function requestJson(url: string, init: { method: string; headers?: Record<string, string>; body?: unknown }): Promise<JsonResponse> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method,
      headers: { accept: 'application/json', ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw unreachable(url, cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)));
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (a proxy's error page): keep the text for the message.
  }
  return { status: res.status, body, headers: res.headers };
}

/** The one line for a server that cannot be reached (`reason`: ECONNREFUSED, a timeout…). */
export function unreachable(url: string, reason: string): CliError {
  return new CliError(`Cannot reach ${new URL(url).origin} (${reason}): is livetail running there? Set --url or LIVETAIL_URL.`);
}

/** "401 Invalid bearer token (UNAUTHENTICATED)" from livetail's or better-auth's error body. */
export function describeHttpError(res: JsonResponse): string {
  const body = res.body as { error?: unknown; message?: unknown; code?: unknown; details?: unknown } | string | undefined;
  if (typeof body === 'string' || body === undefined) return `HTTP ${res.status}${body ? `: ${body.slice(0, 200)}` : ''}`;
  const message = typeof body.error === 'string' ? body.error : typeof body.message === 'string' ? body.message : JSON.stringify(body);
  const code = typeof body.code === 'string' ? ` (${body.code})` : '';
  const details = Array.isArray(body.details)
    ? body.details
        .map((d: { path?: unknown[]; message?: string }) => `\n  ${(d.path ?? []).join('.') || 'body'}: ${d.message ?? JSON.stringify(d)}`)
        .join('')
    : '';
  return `HTTP ${res.status} ${message}${code}${details}`;
}
