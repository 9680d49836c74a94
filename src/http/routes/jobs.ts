import { Router } from 'express';
import { HttpError } from '../../errors.js';
import type { JobService } from '../../jobs/job-service.js';
import { type Authenticate, callerOf, ownerFor, requireCaller } from '../authenticate.js';
import type { IdempotentAnswers } from '../idempotency.js';
import { jsonBody } from '../json-body.js';
import type { ReadRouteOptions } from '../read-slots.js';
import { sendJsonParts } from '../send-json.js';

/**
 * POST /api/jobs/events (publish a job event; idempotent with an Idempotency-Key) and GET /api/jobs (the
 * latest state of recent jobs).
 */
export function jobRoutes(jobs: JobService, authenticate: Authenticate, maxBodyBytes: number, reads: ReadRouteOptions, idempotent: IdempotentAnswers): Router {
  const router = Router();
  // Credentials first: an anonymous caller gets 401 before its body is even read.
  router.use(requireCaller(authenticate));

  router.post('/events', ...jsonBody(maxBodyBytes, idempotent.digestBody), (req, res) =>
    idempotent.answer(req, res, { route: 'jobs', field: 'event' }, (claim) => {
      const caller = callerOf(res);
      return jobs.append(jobs.validate(req.body, (claimed) => ownerFor(caller, claimed)), 'api', claim);
    }),
  );

  router.get('/', async (req, res) => {
    const caller = callerOf(res);
    const owner = ownerFor(caller, typeof req.query.userId === 'string' ? req.query.userId : undefined);
    if (!reads.slots.take(owner, res)) throw new HttpError('TOO_MANY_READS');
    // At most MAX_JOBS_PER_USER events are read; the answer is written with backpressure, as res.json would write it.
    const latest = await jobs.latest(owner);
    await sendJsonParts(res, jobsBody(latest), reads.send);
  });

  return router;
}

/** `{"jobs":[...]}` in parts; each event is let go once written, so the answer's memory shrinks as it drains. */
function* jobsBody(jobs: unknown[]): Generator<string> {
  yield '{"jobs":[';
  for (let i = 0; i < jobs.length; i++) {
    const text = JSON.stringify(jobs[i]);
    jobs[i] = undefined;
    yield i ? `,${text}` : text;
  }
  yield ']}';
}
