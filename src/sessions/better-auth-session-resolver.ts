import { type Credentials, type ResolvedSession, SessionCheckUnavailable, type SessionResolver, credentialsOf } from './session-resolver.js';

/**
 * The part of a better-auth instance livetail uses: any `betterAuth({...})` fits, whatever its options,
 * plugins, adapter or additional fields (the types are deliberately loose for that reason).
 */
export interface BetterAuthInstance {
  api: { getSession(context: { headers: Headers; query?: Record<string, unknown> }): Promise<unknown> };
  /** Read through `optionsOf` (any options object fits here). */
  options: object;
  $context: Promise<unknown>;
}

/** The options livetail reads from the app's better-auth: plugins, where sessions live, origins. */
export interface BetterAuthOptionsLike {
  plugins?: readonly unknown[] | undefined;
  secondaryStorage?: unknown;
  session?: { storeSessionInDatabase?: boolean | undefined } | undefined;
  baseURL?: unknown;
  trustedOrigins?: unknown;
}

export function optionsOf(auth: BetterAuthInstance): BetterAuthOptionsLike {
  return auth.options as BetterAuthOptionsLike;
}

interface SessionAnswer {
  session: { id: string; userId: string; expiresAt: Date | string | number };
}

interface AdapterContext {
  adapter: {
    findMany<T>(query: { model: string; where: Array<{ field: string; operator?: string; value: unknown }>; limit?: number }): Promise<T[]>;
  };
}

/**
 * Resolves sessions with the app's own better-auth instance: `auth.api.getSession` with the request's
 * own cookie and authorization headers, so any cookie prefix, `__Secure-` cookies, custom table and field
 * names, additional fields, secondary storage and any adapter work as they do for the app. Its cookie
 * cache is bypassed (a cached cookie would outlive a sign-out) and so is its refresh (`disableRefresh`):
 * a socket must not extend the app's sessions.
 */
export class BetterAuthSessionResolver implements SessionResolver {
  /** Present only when sessions are rows of the app's database, where they can be looked up by id. */
  readonly stillValid?: (sessionIds: string[]) => Promise<Set<string>>;

  constructor(
    private readonly auth: BetterAuthInstance,
    private readonly now: () => number = Date.now,
  ) {
    const options = optionsOf(auth);
    if (!options.secondaryStorage || options.session?.storeSessionInDatabase) this.stillValid = (ids) => this.findValid(ids);
  }

  async resolve(headers: Credentials): Promise<ResolvedSession | null> {
    const credentials = credentialsOf(headers);
    if (!credentials) return null;
    const forwarded = new Headers();
    if (credentials.cookie) forwarded.set('cookie', credentials.cookie);
    if (credentials.authorization) forwarded.set('authorization', credentials.authorization);
    let answer: unknown;
    try {
      answer = await this.auth.api.getSession({ headers: forwarded, query: { disableCookieCache: true, disableRefresh: true } });
    } catch (error) {
      // better-auth answers a session it cannot use (one deleted while it refreshed it) with a 4xx APIError.
      const status = (error as { statusCode?: unknown })?.statusCode;
      if (typeof status === 'number' && status >= 400 && status < 500) return null;
      throw new SessionCheckUnavailable(`better-auth could not check the session: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    return sessionOf(answer);
  }

  private async findValid(sessionIds: string[]): Promise<Set<string>> {
    if (sessionIds.length === 0) return new Set();
    const ctx = (await this.auth.$context) as AdapterContext;
    const rows = await ctx.adapter.findMany<{ id: string; expiresAt: Date | string }>({
      model: 'session',
      where: [{ field: 'id', operator: 'in', value: sessionIds }],
      limit: sessionIds.length,
    });
    const now = this.now();
    return new Set(rows.filter((r) => new Date(r.expiresAt).getTime() > now).map((r) => r.id));
  }
}

/** better-auth's `{ session, user }` (or null) as livetail's session; anything else means no session. */
function sessionOf(answer: unknown): ResolvedSession | null {
  if (answer === null || typeof answer !== 'object') return null;
  const { session } = answer as Partial<SessionAnswer>;
  if (!session || typeof session.id !== 'string' || typeof session.userId !== 'string') return null;
  const expiresAt = new Date(session.expiresAt).getTime();
  if (!Number.isFinite(expiresAt)) return null;
  return { userId: session.userId, sessionId: session.id, expiresAt };
}
