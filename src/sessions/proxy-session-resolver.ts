import { type Credentials, type ResolvedSession, SessionCheckUnavailable, type SessionResolver, credentialsOf } from './session-resolver.js';

export interface ProxySessionResolverOptions {
  /**
   * The app's get-session endpoint, e.g. `https://app.example.com/api/auth/get-session` (AUTH_SESSION_URL).
   * Any endpoint that answers the same JSON works: `{ session: { id, userId, expiresAt }, user: { id } }`
   * for a valid session, `null` or 401/403 for none.
   */
  url: string;
  /** How long the app may take to answer; past it the check is unavailable (503). Default 2000 ms. */
  timeoutMs?: number;
  /** For tests; the global fetch by default. */
  fetch?: typeof fetch;
}

/**
 * Asks the app who the user is, as Centrifugo's connect proxy does: livetail runs no auth of its own and
 * forwards the request's Cookie and Authorization headers to the app's get-session endpoint, whose answer
 * it trusts. better-auth's endpoint is asked not to refresh the session nor to use its cookie cache
 * (`disableRefresh`, `disableCookieCache`; other endpoints ignore the two query parameters).
 */
export class ProxySessionResolver implements SessionResolver {
  private readonly url: URL;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(options: ProxySessionResolverOptions) {
    this.url = new URL(options.url);
    this.url.searchParams.set('disableCookieCache', 'true');
    this.url.searchParams.set('disableRefresh', 'true');
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async resolve(headers: Credentials): Promise<ResolvedSession | null> {
    const credentials = credentialsOf(headers);
    if (!credentials) return null;
    const forwarded: Record<string, string> = { accept: 'application/json' };
    if (credentials.cookie) forwarded.cookie = credentials.cookie;
    if (credentials.authorization) forwarded.authorization = credentials.authorization;
    const res = await this.ask(forwarded);
    if (res.status === 401 || res.status === 403) return null;
    if (res.status !== 200) throw unavailable(`the app's session endpoint answered ${res.status}`);
    let body: unknown;
    try {
      body = await res.json();
    } catch (error) {
      throw unavailable(`the app's session endpoint did not answer JSON`, { cause: error });
    }
    return sessionOf(body);
  }

  /** Up when the endpoint answers a request without credentials in time (200 with null, or 401/403). */
  async ping(): Promise<void> {
    const res = await this.ask({ accept: 'application/json' });
    await res.body?.cancel();
    if (res.status >= 500) throw unavailable(`the app's session endpoint answered ${res.status}`);
  }

  private async ask(headers: Record<string, string>): Promise<Response> {
    try {
      return await this.fetch(this.url, { headers, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      const timedOut = (error as Error)?.name === 'TimeoutError';
      throw unavailable(
        timedOut ? `the app's session endpoint did not answer within ${this.timeoutMs} ms` : `the app's session endpoint is unreachable: ${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
    }
  }
}

/** The answer as a session: null means none; a shape that is neither is the app's mistake (unavailable). */
function sessionOf(body: unknown): ResolvedSession | null {
  if (body === null) return null;
  const session = (body as { session?: unknown } | undefined)?.session;
  const user = (body as { user?: unknown } | undefined)?.user;
  if (session === null || session === undefined) return null;
  const { id, userId, expiresAt } = session as { id?: unknown; userId?: unknown; expiresAt?: unknown };
  const expires = typeof expiresAt === 'string' || typeof expiresAt === 'number' ? new Date(expiresAt).getTime() : NaN;
  if (typeof id !== 'string' || id === '' || typeof userId !== 'string' || userId === '' || !Number.isFinite(expires)) {
    throw unavailable('the app\'s session endpoint answered something that is not { session: { id, userId, expiresAt } }');
  }
  const userIdOfUser = (user as { id?: unknown } | null | undefined)?.id;
  if (userIdOfUser !== undefined && userIdOfUser !== userId) {
    throw unavailable('the app\'s session endpoint answered a session whose user.id differs from session.userId');
  }
  return { sessionId: id, userId, expiresAt: expires };
}

/** The app did not answer usefully: the check is unavailable (503 AUTH_UNAVAILABLE), not negative. */
function unavailable(message: string, options: { cause?: unknown } = {}): SessionCheckUnavailable {
  return new SessionCheckUnavailable(message, { ...options, code: 'AUTH_UNAVAILABLE' });
}
