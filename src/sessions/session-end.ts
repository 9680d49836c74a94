/**
 * A session end as it travels between nodes: one session (its user too when known), or every session of
 * a user but `exceptSessionId` (revoke-other-sessions, a ban, a deleted user).
 */
export type SessionEnd = { sessionId: string; userId?: string } | { userId: string; sessionId?: undefined; exceptSessionId?: string };
