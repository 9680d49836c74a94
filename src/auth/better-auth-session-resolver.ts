import type { IncomingHttpHeaders } from 'node:http';
import type { Auth } from './create-auth.js';
import type { ResolvedSession, ResolveOptions, SessionResolver } from './session-resolver.js';

const SESSION_COOKIE = 'better-auth.session_token';
const SECURE_PREFIX = '__Secure-';

export interface BetterAuthSessionResolverOptions {
  /** How long a positive answer is reused; 0 disables the cache. */
  cacheTtlMs: number;
  /** Observes each real session check's duration in seconds (the metric). */
  onCheck?(seconds: number): void;
  now?(): number;
}

interface CacheEntry {
  session: ResolvedSession;
  /** When the check behind this answer began. */
  checkedAt: number;
  until: number;
}

/**
 * How long a session reported ended is remembered. A check that read the session row just before the
 * delete can finish just after `forget`; the memory makes that late answer count as "no session" (and keeps
 * it out of the cache) instead of opening a socket that only the next sweep would close.
 */
const ENDED_MEMORY_MS = 60_000;

/**
 * Resolves sessions with better-auth's own getSession (cookie cache bypassed), and remembers a positive
 * answer for a few seconds: a reconnect storm then costs one database read per session, not per socket.
 * Sign-out and revocation reach `forget` through better-auth's session delete hook on the node that ended
 * the session, and through the bus on the nodes that follow the user's stream. A node that did not follow
 * the user when it cached an answer cannot have heard of its end, so the gateway passes `trustCached` and
 * checks again there: the cache never lets an ended session open a new socket. (An API request may still
 * be answered from such an entry, for at most SESSION_CACHE_TTL_MS.) A session deleted behind
 * better-auth's back is caught by the heartbeat sweep and expires from the cache within the TTL.
 */
export class BetterAuthSessionResolver implements SessionResolver {
  private readonly cache = new Map<string, CacheEntry>();
  /** Session id → until when it is remembered as ended. */
  private readonly ended = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    private readonly auth: Auth,
    private readonly options: BetterAuthSessionResolverOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async resolve(headers: IncomingHttpHeaders, options: ResolveOptions = {}): Promise<ResolvedSession | undefined> {
    const cookie = sessionCookie(headers.cookie);
    if (!cookie) return undefined;
    const now = this.now();
    const cached = this.cache.get(cookie);
    if (cached && cached.until > now && cached.session.expiresAt > now) {
      if (options.trustCached?.(cached.session.userId, cached.checkedAt) ?? true) return cached.session;
    } else if (cached) {
      this.cache.delete(cookie);
    }

    const started = performance.now();
    const result = await this.auth.api.getSession({
      // Hand better-auth the cookie under the name it expects, whichever prefix the client used.
      headers: new Headers({ cookie: `${this.cookieName()}=${cookie}` }),
      query: { disableCookieCache: true },
    });
    this.options.onCheck?.((performance.now() - started) / 1000);
    if (!result || this.hasEnded(result.session.id)) return undefined;
    const session: ResolvedSession = {
      userId: result.session.userId,
      sessionId: result.session.id,
      expiresAt: new Date(result.session.expiresAt).getTime(),
    };
    if (this.options.cacheTtlMs > 0) {
      this.cache.set(cookie, { session, checkedAt: now, until: now + this.options.cacheTtlMs });
      if (this.cache.size > 100_000) this.evictExpired(now);
    }
    return session;
  }

  async stillValid(sessionIds: string[]): Promise<Set<string>> {
    if (sessionIds.length === 0) return new Set();
    const ctx = await this.auth.$context;
    const rows = await ctx.adapter.findMany<{ id: string; expiresAt: Date | string }>({
      model: 'session',
      where: [{ field: 'id', operator: 'in', value: sessionIds }],
      limit: sessionIds.length,
    });
    const now = this.now();
    return new Set(rows.filter((r) => new Date(r.expiresAt).getTime() > now).map((r) => r.id));
  }

  forget(sessionId: string): void {
    for (const [key, entry] of this.cache) if (entry.session.sessionId === sessionId) this.cache.delete(key);
    const now = this.now();
    if (this.ended.size >= 10_000) for (const [id, until] of this.ended) if (until <= now) this.ended.delete(id);
    this.ended.set(sessionId, now + ENDED_MEMORY_MS);
  }

  forgetUser(userId: string): void {
    for (const [key, entry] of this.cache) if (entry.session.userId === userId) this.cache.delete(key);
  }

  private hasEnded(sessionId: string): boolean {
    const until = this.ended.get(sessionId);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.ended.delete(sessionId);
    return false;
  }

  private cookieName(): string {
    return this.secure ? SECURE_PREFIX + SESSION_COOKIE : SESSION_COOKIE;
  }

  private get secure(): boolean {
    return String(this.auth.options.baseURL ?? '').startsWith('https://');
  }

  private evictExpired(now: number): void {
    for (const [key, entry] of this.cache) if (entry.until <= now) this.cache.delete(key);
  }
}

/** The session cookie's value, under the plain or the `__Secure-` name; undefined when absent. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  let plain: string | undefined;
  let secure: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!value) continue;
    if (name === SESSION_COOKIE) plain ??= value;
    else if (name === SECURE_PREFIX + SESSION_COOKIE) secure ??= value;
  }
  return secure ?? plain;
}
