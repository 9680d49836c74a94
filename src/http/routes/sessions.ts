import { Router } from 'express';
import { z } from 'zod';
import { HTTP_ERRORS, HttpError, issuesOf } from '../../errors.js';
import type { Sessions } from '../../sessions/sessions.js';
import { type Authenticate, callerOf, requireCaller } from '../authenticate.js';
import { jsonBody } from '../json-body.js';

const id = z.string().min(1).max(256);

/** `{ sessionId }` (with its `userId` when known), or `{ userId }` (with a session to spare). */
export const sessionEndBodySchema = z.union([
  z.strictObject({ sessionId: id, userId: id.optional() }),
  z.strictObject({ userId: id, exceptSessionId: id.optional() }),
]);

/**
 * POST /api/sessions/end: the app (its livetail better-auth plugin in sidecar mode, or any service with
 * INGEST_TOKEN) reports that a session, or every session of a user, ended. Its sockets close with 4401
 * within a second on every node, and no cached check lets it back in. Answers how many sockets closed on
 * this node (the others close theirs as the bus brings the end).
 */
export function sessionRoutes(sessions: Pick<Sessions, 'end'>, authenticate: Authenticate, maxBodyBytes: number): Router {
  const router = Router();
  router.use(requireCaller(authenticate));
  router.post('/end', ...jsonBody(maxBodyBytes), async (req, res) => {
    if (callerOf(res).kind !== 'service') throw new HttpError('SERVICE_TOKEN_REQUIRED');
    const parsed = sessionEndBodySchema.safeParse(req.body);
    if (!parsed.success) {
      throw new HttpError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.sessionEnd, issuesOf(parsed.error));
    }
    const closed = await sessions.end(parsed.data);
    res.json({ ended: true, socketsClosedHere: closed });
  });
  return router;
}
