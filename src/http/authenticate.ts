import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { createOriginCheck } from '../auth/origin.js';
import type { ApiResponse } from './api-request.js';
import type { Sessions } from '../sessions/sessions.js';
import { HTTP_ERRORS, HttpError } from '../errors.js';

/** Who is calling: a signed-in user, or another service holding INGEST_TOKEN. */
export type Caller = { kind: 'user'; userId: string; sessionId: string } | { kind: 'service' };

/** Methods a browser sends cross-site without asking first (no CORS preflight for a form or a simple fetch). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Authenticates an /api request: `Authorization: Bearer <INGEST_TOKEN>` (when configured) or the
 * better-auth session cookie. A wrong bearer token is refused outright rather than falling back to the cookie.
 * A cookie-authenticated request that changes something (POST, DELETE, ...) from an `Origin` not in
 * TRUSTED_ORIGINS is refused with 403 ORIGIN_NOT_ALLOWED, as the WebSocket upgrade is: the browser
 * attaches the cookie to a cross-site form post or fetch (cross-site request forgery). A request
 * without Origin (a non-browser client) and the bearer token are not affected.
 */
export function createAuthenticator(sessions: Pick<Sessions, 'resolve'>, ingestToken: string | undefined, trustedOrigins: string[]) {
  const expected = ingestToken ? Buffer.from(ingestToken) : undefined;
  const originAllowed = createOriginCheck(trustedOrigins);
  return async (req: IncomingMessage): Promise<Caller> => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(.+)$/i.exec(header);
      const given = match ? Buffer.from(match[1]!.trim()) : undefined;
      if (expected && given && given.length === expected.length && timingSafeEqual(given, expected)) return { kind: 'service' };
      throw new HttpError('UNAUTHENTICATED', expected ? HTTP_ERRORS.UNAUTHENTICATED.texts.wrongToken : HTTP_ERRORS.UNAUTHENTICATED.texts.tokensOff);
    }
    if (!SAFE_METHODS.has(req.method ?? '') && !originAllowed(req.headers.origin)) throw new HttpError('ORIGIN_NOT_ALLOWED');
    const session = await sessions.resolve(req.headers);
    if (!session) throw new HttpError('UNAUTHENTICATED');
    return { kind: 'user', userId: session.userId, sessionId: session.sessionId };
  };
}
export type Authenticate = ReturnType<typeof createAuthenticator>;

/**
 * The user a request acts for: the session's user (a different `userId` → 403), or with the service
 * token the `userId` the caller names (missing → 400).
 */
export function ownerFor(caller: Caller, userId: unknown): string {
  if (caller.kind === 'user') {
    if (userId !== undefined && userId !== caller.userId) throw new HttpError('USER_MISMATCH');
    return caller.userId;
  }
  if (typeof userId !== 'string' || userId.length === 0) throw new HttpError('USER_ID_REQUIRED');
  return userId;
}

/** Middleware: authenticates the request and keeps the caller for the route (401 otherwise). */
export function requireCaller(authenticate: Authenticate): RequestHandler {
  return async (req, res, next) => {
    res.locals.caller = await authenticate(req);
    next();
  };
}

export function callerOf(res: ApiResponse): Caller {
  return res.locals.caller as Caller;
}
