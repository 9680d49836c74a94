import { Router } from 'express';
import { z } from 'zod';
import { HttpError } from '../../errors.js';
import type { LogService } from '../../logs/log-service.js';
import type { LogQuery } from '../../store/log-store.js';
import { type Authenticate, callerOf, ownerFor, requireCaller } from '../authenticate.js';
import { jsonBody } from '../json-body.js';

export interface LogRoutesOptions {
  maxBodyBytes: number;
  maxBatchEntries: number;
  maxLogsPerUser: number;
  initialLogs: number;
}

/** POST, GET and DELETE /api/logs. */
export function logRoutes(logs: LogService, authenticate: Authenticate, o: LogRoutesOptions): Router {
  const router = Router();
  // Credentials first: an anonymous caller gets 401 before its body is even read.
  router.use(requireCaller(authenticate));

  router.post('/', ...jsonBody(o.maxBodyBytes), async (req, res) => {
    const caller = callerOf(res);
    const entries = entriesOf(req.body);
    if (entries.length > o.maxBatchEntries) {
      throw new HttpError('BATCH_TOO_LARGE', `Too many entries in one batch: ${entries.length} (the limit is ${o.maxBatchEntries})`);
    }
    // With the service token each entry names its user; a session's entries belong to its user (another → 403).
    const owned = logs.validate(entries, (claimed) =>
      caller.kind === 'service' && !claimed ? { invalid: 'userId is required with the service token' } : ownerFor(caller, claimed),
    );
    const stored = await logs.append(owned);
    res.status(201).json({ logs: stored });
  });

  const listQuery = z.object({
    limit: z.coerce.number().int().min(1).max(o.maxLogsPerUser).optional(),
    since: z.string().min(1).max(100).optional(),
    userId: z.string().min(1).optional(),
  });

  router.get('/', async (req, res) => {
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
    const page = await logs.read(owner, query);
    res.json({
      logs: page.logs.map((l) => l.log),
      ...(since !== undefined ? { truncated: page.truncated } : {}),
      hasMore: page.hasMore,
    });
  });

  router.delete('/', async (req, res) => {
    const caller = callerOf(res);
    const owner = ownerFor(caller, typeof req.query.userId === 'string' ? req.query.userId : undefined);
    await logs.clear(owner);
    res.json({ cleared: true });
  });

  return router;
}

/** One entry, an array of entries, or `{ "logs": [...] }`. */
function entriesOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (body !== null && typeof body === 'object' && 'logs' in body && !('command' in body)) {
    const list = (body as { logs: unknown }).logs;
    if (!Array.isArray(list)) throw new HttpError('VALIDATION_FAILED', '"logs" must be an array of log entries');
    return list;
  }
  if (body === null || typeof body !== 'object') {
    throw new HttpError('VALIDATION_FAILED', 'Send a log entry, an array of entries, or { "logs": [...] }');
  }
  return [body];
}
