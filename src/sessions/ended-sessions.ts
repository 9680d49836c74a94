import type { SessionEnd } from './session-end.js';
import type { ResolvedSession } from './session-resolver.js';

/**
 * How long an end is remembered. A check that read the session just before it ended can answer just
 * after; the memory makes that late answer count as "no session" (and keeps it out of the cache) instead
 * of opening a socket that only the sweep would close. Past it, the source itself says the session is gone.
 */
export const ENDED_MEMORY_MS = 60_000;

/** Bound on remembered ends; past it the expired ones are dropped first. */
const MAX_REMEMBERED = 100_000;

/** Recently ended sessions and users, to refuse answers of checks that began before the end. */
export class EndedSessions {
  /** Session id → until when it is remembered. */
  private readonly sessions = new Map<string, number>();
  /** User id → when the user's sessions were ended, until when, and the session that was spared. */
  private readonly users = new Map<string, { at: number; until: number; except?: string }>();

  constructor(private readonly now: () => number) {}

  remember(end: SessionEnd): void {
    const now = this.now();
    if (end.sessionId !== undefined) {
      prune(this.sessions, now, (until) => until);
      this.sessions.set(end.sessionId, now + ENDED_MEMORY_MS);
    } else {
      prune(this.users, now, (entry) => entry.until);
      this.users.set(end.userId, { at: now, until: now + ENDED_MEMORY_MS, except: 'exceptSessionId' in end ? end.exceptSessionId : undefined });
    }
  }

  /** Whether an answer from a check that began at `checkedAt` names a session that has ended since. */
  ended(session: ResolvedSession, checkedAt: number): boolean {
    const now = this.now();
    const until = this.sessions.get(session.sessionId);
    if (until !== undefined && until > now) return true;
    const user = this.users.get(session.userId);
    return user !== undefined && user.until > now && user.at >= checkedAt && user.except !== session.sessionId;
  }
}

function prune<V>(map: Map<string, V>, now: number, untilOf: (value: V) => number): void {
  if (map.size < MAX_REMEMBERED) return;
  for (const [key, value] of map) if (untilOf(value) <= now) map.delete(key);
  // Still full of live entries (an end storm): the oldest go, as a cache would.
  for (const key of map.keys()) {
    if (map.size < MAX_REMEMBERED) break;
    map.delete(key);
  }
}
