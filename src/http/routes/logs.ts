import type { Router } from 'express';
import { z } from 'zod';
import { HTTP_ERRORS, HttpError } from '../../errors.js';
import type { LogService } from '../../logs/log-service.js';
import type { LogQuery } from '../../store/log-store.js';
import { type Authenticate, callerOf, ownerFor, requireCaller } from '../authenticate.js';
import type { ApiRequest, ApiResponse } from '../api-request.js';
import type { IdempotentAnswers } from '../idempotency.js';
import { jsonBody } from '../json-body.js';
import { readLogSlices } from '../log-slices.js';
import type { ReadRouteOptions } from '../read-slots.js';
import { sendJsonParts } from '../send-json.js';

/** Where the routes sit in the API router (mounted at /api). */
export const LOGS_PATH = '/logs';

export interface LogRoutesOptions {
  maxBodyBytes: number;
  maxBatchEntries: number;
  maxLogsPerUser: number;
  initialLogs: number;
  /** What one answer may hold unsent (MAX_BUFFERED_BYTES, as for a socket); GET reads slices of a quarter of it. */
  maxBufferedBytes: number;
}

/**
 * POST (idempotent with an Idempotency-Key), GET and DELETE /api/logs, added to the API's own router
 * at `/logs` rather than as a router of their own: every POST of a producer passes here, and a mounted
 * router costs each request a dispatch of its own (its state, closures and URL rewriting).
 */
export function addLogRoutes(router: Router, logs: LogService, authenticate: Authenticate, o: LogRoutesOptions, reads: ReadRouteOptions, idempotent: IdempotentAnswers): void {
  // Credentials first, on every method and path under /logs: an anonymous caller gets 401 before its body is even read.
  router.use(LOGS_PATH, requireCaller(authenticate));

  router.post(LOGS_PATH, ...jsonBody(o.maxBodyBytes, idempotent.digestBody), postLogs(logs, o, idempotent));

  const listQuery = z.object({
    limit: z.coerce.number().int().min(1).max(o.maxLogsPerUser).optional(),
    since: z.string().min(1).max(100).optional(),
    userId: z.string().min(1).optional(),
  });

  router.get(LOGS_PATH, async (req, res) => {
    const caller = callerOf(res);
    const parsed = listQuery.safeParse(req.query);
    if (!parsed.success) {
      throw new HttpError('INVALID_QUERY', undefined, parsed.error.issues.map((i) => ({ path: i.path, message: i.message })));
    }
    const { limit, since, userId } = parsed.data;
    const owner = ownerFor(caller, userId);
    const query: LogQuery =
      since === undefined
        ? { from: 'tail', limit: limit ?? o.initialLogs }
        : { from: 'id', id: since, limit: limit ?? o.maxLogsPerUser };
    if (!reads.slots.take(owner, res)) throw new HttpError('TOO_MANY_READS');
    // Streamed slice by slice, never built whole: a user's logs can be 650 MB. The bytes are those
    // res.json would write for { logs, truncated?, hasMore }.
    const slices = readLogSlices((q) => logs.read(owner, q), query, Math.floor(o.maxBufferedBytes / 4));
    await sendJsonParts(res, listBody(slices, since !== undefined), reads.send);
  });

  router.delete(LOGS_PATH, async (req, res) => {
    const caller = callerOf(res);
    const owner = ownerFor(caller, typeof req.query.userId === 'string' ? req.query.userId : undefined);
    await logs.clear(owner);
    res.json({ cleared: true });
  });
}

/**
 * POST /logs once the caller is known (`res.locals.caller`) and the body parsed into `req.body`: the
 * entries validated, stored (idempotently with a key) and answered 201 with the stored logs. The one
 * handler of both ways a POST comes in: Express's route above, and the ingest lane (ingest-lane.ts).
 */
export function postLogs(logs: LogService, o: Pick<LogRoutesOptions, 'maxBatchEntries'>, idempotent: IdempotentAnswers) {
  return (req: ApiRequest, res: ApiResponse): Promise<void> =>
    idempotent.answer(req, res, { route: 'logs', field: 'logs' }, (claim) => {
      const caller = callerOf(res);
      const entries = entriesOf(req.body);
      if (entries.length > o.maxBatchEntries) {
        throw new HttpError('BATCH_TOO_LARGE', HTTP_ERRORS.BATCH_TOO_LARGE.texts.count(entries.length, o.maxBatchEntries));
      }
      // With the service token each entry names its user; a session's entries belong to its user (another → 403).
      const owned = logs.validate(entries, (claimed) =>
        caller.kind === 'service' && !claimed ? { invalid: HTTP_ERRORS.VALIDATION_FAILED.texts.userIdRequired } : ownerFor(caller, claimed),
      );
      return logs.append(owned, claim);
    });
}

/** `{"logs":[...],"truncated":…,"hasMore":…}` in parts, as the slices come. */
async function* listBody(slices: AsyncGenerator<string[], { truncated: boolean; hasMore: boolean }>, withTruncated: boolean): AsyncGenerator<string> {
  yield '{"logs":[';
  let first = true;
  for (;;) {
    const slice = await slices.next();
    if (slice.done) {
      const { truncated, hasMore } = slice.value;
      yield `]${withTruncated ? `,"truncated":${truncated}` : ''},"hasMore":${hasMore}}`;
      return;
    }
    for (const text of slice.value) {
      yield first ? text : `,${text}`;
      first = false;
    }
  }
}

/** One entry, an array of entries, or `{ "logs": [...] }`. */
function entriesOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (body !== null && typeof body === 'object' && 'logs' in body && !('command' in body)) {
    const list = (body as { logs: unknown }).logs;
    if (!Array.isArray(list)) throw new HttpError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.logsNotArray);
    return list;
  }
  if (body === null || typeof body !== 'object') {
    throw new HttpError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.notEntries);
  }
  return [body];
}
