import type { Logger } from 'pino';
import { EndedSessions } from './ended-sessions.js';
import type { SessionEnd } from './session-end.js';
import { SessionCache } from './session-cache.js';
import { type Credentials, type ResolvedSession, type SessionResolver, credentialsOf } from './session-resolver.js';

/** A socket opened with a session: what Sessions needs to end it. */
export interface SessionSocket {
  readonly closed: boolean;
  close(reason: 'SESSION_ENDED'): void;
}

export interface SessionsOptions {
  /** How long a positive check is reused (SESSION_CACHE_TTL_MS); 0 disables the cache. */
  cacheTtlMs: number;
  /** How often open sockets' sessions are checked again (SESSION_RECHECK_INTERVAL_MS); 0 disables. */
  recheckIntervalMs: number;
  /** Bound on cached answers. Default 100,000. */
  maxCacheEntries?: number;
  now?(): number;
}

export interface SessionsDeps {
  resolver: SessionResolver;
  /** Sends an end to every node, this one included (the bus's control channel); resolves once taken for all. */
  broadcast(end: SessionEnd): Promise<void>;
  /** Resolves once every end broadcast before the call has been heard here (Bus.barrier). */
  barrier(): Promise<void>;
  logger: Logger;
  /** Observes each real check's duration in seconds (cache misses). */
  onCheck?(seconds: number): void;
  /** Counts a socket closed because its session ended, by how that was found. */
  onSocketEnded?(via: 'signal' | 'sweep'): void;
}

interface OpenSession {
  userId: string;
  sockets: Set<SessionSocket>;
  /** Kept only for resolvers without `stillValid`: the sweep asks again with them. */
  credentials: Credentials | undefined;
}

/** Sessions per sweep batch (stillValid) or checks in flight at once (resolving again). */
const SWEEP_BATCH = 500;
const SWEEP_CONCURRENCY = 8;

/**
 * The one owner of "a session ended ⇒ its sockets close on every node, and no cache brings it back".
 *
 * - `resolve` answers who a request's credentials belong to, through a short positive cache (never past
 *   the session's expiry) and with concurrent checks of the same credentials shared.
 * - `end` (sign-out, revocation, ban, deletion: the better-auth plugin, POST /api/sessions/end,
 *   `lt.endSession`) closes the local sockets at once and broadcasts the end; every node, hearing it,
 *   drops its cached answers, remembers the end for a minute (so a check already in flight cannot bring
 *   the session back) and closes its sockets with 4401.
 * - The sweep checks open sockets' sessions again every `recheckIntervalMs`: the safety net for ends that
 *   nobody reported (a row deleted behind the app's back, an expiry).
 * - After a bus fault (ends may have been missed) the whole cache is dropped.
 */
export class Sessions {
  private readonly cache: SessionCache;
  private readonly ended: EndedSessions;
  private readonly inFlight = new Map<string, Promise<ResolvedSession | null>>();
  private readonly open = new Map<string, OpenSession>();
  private readonly openByUser = new Map<string, Set<string>>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly deps: SessionsDeps,
    options: SessionsOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.cache = new SessionCache(options.cacheTtlMs, options.maxCacheEntries ?? 100_000);
    this.ended = new EndedSessions(this.now);
    if (options.recheckIntervalMs > 0) this.timer = setInterval(() => void this.sweep(), options.recheckIntervalMs).unref();
  }

  /**
   * The session of these headers, or null. Throws SessionCheckUnavailable when the source cannot answer.
   *
   * No answer is given before this node has heard every end the app already confirmed anywhere (the bus
   * barrier): an end another node broadcast just now reaches the ended memory first, so neither the cache
   * nor a check that read the session just before its end can bring it back. When the bus cannot tell
   * (Redis away), a cached answer is not trusted: the source is asked again.
   */
  async resolve(headers: Credentials): Promise<ResolvedSession | null> {
    const credentials = credentialsOf(headers);
    if (!credentials) return null;
    const key = `${credentials.cookie ?? ''}\n${credentials.authorization ?? ''}`;
    const cached = this.cache.get(key, this.now());
    if (cached) {
      if (await this.heardEveryEnd()) return this.ended.ended(cached.session, cached.checkedAt) ? null : cached.session;
      this.cache.dropSession(cached.session.sessionId);
    }
    let check = this.inFlight.get(key);
    if (!check) {
      check = this.check(credentials, key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, check);
    }
    return check;
  }

  private async check(credentials: Credentials, key: string): Promise<ResolvedSession | null> {
    const checkedAt = this.now();
    const started = performance.now();
    const session = await this.deps.resolver.resolve(credentials);
    this.deps.onCheck?.((performance.now() - started) / 1000);
    if (!session || session.expiresAt <= this.now()) return null;
    // The source's answer stands even when the bus cannot tell; only the cache then waits for the resync.
    const heard = await this.heardEveryEnd();
    if (this.ended.ended(session, checkedAt)) return null;
    if (heard) this.cache.set(key, session, checkedAt, this.now());
    return session;
  }

  private async heardEveryEnd(): Promise<boolean> {
    try {
      await this.deps.barrier();
      return true;
    } catch {
      return false;
    }
  }

  /** Records a socket opened with `session` (the upgrade's headers are kept where the sweep needs them). */
  track(socket: SessionSocket, session: ResolvedSession, headers: Credentials): void {
    let entry = this.open.get(session.sessionId);
    if (!entry) {
      entry = { userId: session.userId, sockets: new Set(), credentials: this.deps.resolver.stillValid ? undefined : credentialsOf(headers) };
      this.open.set(session.sessionId, entry);
      let ids = this.openByUser.get(session.userId);
      if (!ids) this.openByUser.set(session.userId, (ids = new Set()));
      ids.add(session.sessionId);
    }
    entry.sockets.add(socket);
  }

  /** The socket closed. */
  untrack(socket: SessionSocket, sessionId: string): void {
    const entry = this.open.get(sessionId);
    if (!entry || !entry.sockets.delete(socket) || entry.sockets.size > 0) return;
    this.open.delete(sessionId);
    const ids = this.openByUser.get(entry.userId);
    ids?.delete(sessionId);
    if (ids?.size === 0) this.openByUser.delete(entry.userId);
  }

  /**
   * Ends a session, or every session of a user (but `exceptSessionId`), on every node: closes the sockets
   * here at once, then resolves with how many once the bus has taken the end for every node. A bus that
   * cannot take it is logged (the recheck catches up); it never rejects.
   */
  async end(end: SessionEnd): Promise<number> {
    const closed = this.apply(end, 'signal');
    try {
      await this.deps.broadcast(end);
    } catch (error) {
      this.deps.logger.error({ err: error, ...end }, 'a session end could not be sent to the other nodes; their recheck will find it');
    }
    return closed;
  }

  /** An end reported by the bus (any node's, this one's included). */
  onEnded(end: SessionEnd): void {
    this.apply(end, 'signal');
  }

  /** The bus may have lost messages, ends among them: no cached answer can be trusted any more. */
  onResync(): void {
    this.cache.clear();
  }

  /** Checks every open socket's session again; closes those that are no longer valid. */
  sweep(): Promise<void> {
    this.sweeping ??= this.runSweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /** Stops the sweep timer. */
  close(): void {
    clearInterval(this.timer);
  }

  private apply(end: SessionEnd, via: 'signal' | 'sweep'): number {
    this.ended.remember(end);
    let sessionIds: string[];
    if (end.sessionId !== undefined) {
      this.cache.dropSession(end.sessionId);
      sessionIds = [end.sessionId];
    } else {
      const except = 'exceptSessionId' in end ? end.exceptSessionId : undefined;
      this.cache.dropUser(end.userId, except);
      sessionIds = [...(this.openByUser.get(end.userId) ?? [])].filter((id) => id !== except);
    }
    let closed = 0;
    for (const sessionId of sessionIds) {
      for (const socket of this.open.get(sessionId)?.sockets ?? []) {
        if (socket.closed) continue;
        socket.close('SESSION_ENDED');
        this.deps.onSocketEnded?.(via);
        closed++;
      }
    }
    return closed;
  }

  private async runSweep(): Promise<void> {
    const ids = [...this.open.keys()];
    try {
      const { stillValid } = this.deps.resolver;
      if (stillValid) {
        for (let i = 0; i < ids.length; i += SWEEP_BATCH) {
          const chunk = ids.slice(i, i + SWEEP_BATCH);
          const valid = await stillValid.call(this.deps.resolver, chunk);
          for (const id of chunk) if (!valid.has(id)) this.endFoundBySweep(id);
        }
        return;
      }
      let next = 0;
      const worker = async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          const credentials = this.open.get(id)?.credentials;
          if (!credentials) continue;
          const session = await this.deps.resolver.resolve(credentials);
          if (session?.sessionId !== id) this.endFoundBySweep(id);
        }
      };
      await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, ids.length) }, worker));
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'session recheck failed; will retry at the next interval');
    }
  }

  private endFoundBySweep(sessionId: string): void {
    const userId = this.open.get(sessionId)?.userId;
    this.apply({ sessionId, userId }, 'sweep');
  }
}
