import type { IncomingHttpHeaders } from 'node:http';

/** The session a request or upgrade was authenticated with. */
export interface ResolvedSession {
  userId: string;
  sessionId: string;
  expiresAt: number;
}

export interface ResolveOptions {
  /**
   * Whether a cached answer for this user, from a check that began at `checkedAt` (ms since epoch), may
   * be used; otherwise the session is checked again. The gateway trusts only answers this node would have
   * heard the end of: a sign-out on another node reaches only the nodes that follow the user's stream.
   */
  trustCached?(userId: string, checkedAt: number): boolean;
}

/**
 * Turns request headers into a session, the one check the WebSocket upgrade and the REST routes share.
 *
 * Contract: `resolve` returns undefined for a missing, invalid, expired or revoked session. A session
 * whose end was reported through `forget` is never returned again by this process, cache or not.
 */
export interface SessionResolver {
  resolve(headers: IncomingHttpHeaders, options?: ResolveOptions): Promise<ResolvedSession | undefined>;
  /** Of these session ids, the ones that are still valid (the heartbeat sweep). */
  stillValid(sessionIds: string[]): Promise<Set<string>>;
  /** Drops any cached state of a session that ended. */
  forget(sessionId: string): void;
  /** Drops cached sessions of a user (called when this node has no socket of that user left). */
  forgetUser(userId: string): void;
}
