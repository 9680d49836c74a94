
/** The session a request or an upgrade was authenticated with. */
export interface ResolvedSession {
  userId: string;
  sessionId: string;
  /** When the session expires (ms since epoch), as the source said at the check. */
  expiresAt: number;
}

// The seam's one failure, defined with every other error livetail throws.
export { SessionCheckUnavailable } from '../errors.js';

/**
 * Who the credentials of a request belong to: the one question the WebSocket upgrade and the REST
 * routes ask, answered by the app's own auth (its better-auth instance in-process, or its get-session
 * endpoint over HTTP).
 *
 * Contract (test/contract/session-resolver.contract.ts runs it against every implementation):
 * - `resolve` looks only at the credential headers (`cookie`, `authorization`) and returns the session,
 *   or null when there is none: no credentials, unknown, invalid, expired or revoked.
 * - It throws SessionCheckUnavailable, and only that, when the source cannot answer.
 * - It never refreshes, extends or otherwise writes the session: opening a socket must not keep a
 *   session alive that the app would let expire.
 * - It holds no state of its own: caching, ended sessions and rechecks are `Sessions`' job, once for
 *   every resolver.
 */
export interface SessionResolver {
  resolve(headers: Credentials): Promise<ResolvedSession | null>;
  /**
   * Optional batch recheck for the sweep: of these session ids, the ones that are still valid. A
   * resolver that cannot look sessions up by id leaves it out, and the sweep resolves each open
   * session's credentials again instead.
   */
  stillValid?(sessionIds: string[]): Promise<Set<string>>;
  /** Optional readiness check: resolves when the source answers (named `auth` in /readyz). */
  ping?(): Promise<void>;
}

/**
 * The headers a resolver may look at: the credentials, and nothing else of the request. A request's
 * `IncomingHttpHeaders` is one.
 */
export interface Credentials {
  cookie?: string | undefined;
  authorization?: string | undefined;
}

/** The credential headers of a request, or undefined when it carries none. */
export function credentialsOf(headers: Credentials): Credentials | undefined {
  const cookie = headers.cookie || undefined;
  const authorization = headers.authorization || undefined;
  if (cookie === undefined && authorization === undefined) return undefined;
  return { cookie, authorization };
}
