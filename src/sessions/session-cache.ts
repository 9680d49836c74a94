import type { ResolvedSession } from './session-resolver.js';

/** A cached answer, and when the check behind it began. */
export interface CachedAnswer {
  session: ResolvedSession;
  checkedAt: number;
}

interface Entry extends CachedAnswer {
  until: number;
}

/**
 * Positive answers of the session check, by credentials, for a few seconds: a reconnect storm then
 * costs one check per session, not per socket. An entry never outlives its session's expiry, and can be
 * dropped by session or by user when one ends (indexed, so an end costs the entries it drops, not a
 * scan). Bounded: past `maxEntries` the oldest entry goes.
 */
export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  private readonly keysBySession = new Map<string, Set<string>>();
  private readonly sessionsByUser = new Map<string, Set<string>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): CachedAnswer | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until > now) return entry;
    this.delete(key);
    return undefined;
  }

  set(key: string, session: ResolvedSession, checkedAt: number, now: number): void {
    if (this.ttlMs <= 0) return;
    const until = Math.min(now + this.ttlMs, session.expiresAt);
    if (until <= now) return;
    this.delete(key);
    if (this.entries.size >= this.maxEntries) this.delete(this.entries.keys().next().value!);
    this.entries.set(key, { session, checkedAt, until });
    addTo(this.keysBySession, session.sessionId, key);
    addTo(this.sessionsByUser, session.userId, session.sessionId);
  }

  dropSession(sessionId: string): void {
    for (const key of [...(this.keysBySession.get(sessionId) ?? [])]) this.delete(key);
  }

  /** Drops the user's cached sessions, except `exceptSessionId`'s. */
  dropUser(userId: string, exceptSessionId?: string): void {
    for (const sessionId of [...(this.sessionsByUser.get(userId) ?? [])]) if (sessionId !== exceptSessionId) this.dropSession(sessionId);
  }

  clear(): void {
    this.entries.clear();
    this.keysBySession.clear();
    this.sessionsByUser.clear();
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const { sessionId, userId } = entry.session;
    if (removeFrom(this.keysBySession, sessionId, key)) removeFrom(this.sessionsByUser, userId, sessionId);
  }
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

/** Removes `value`; true when that emptied (and removed) the key's set. */
function removeFrom(index: Map<string, Set<string>>, key: string, value: string): boolean {
  const set = index.get(key);
  if (!set) return false;
  set.delete(value);
  if (set.size > 0) return false;
  index.delete(key);
  return true;
}
