import { Router } from 'express';
import { HttpError } from '../../errors.js';
import type { JobService } from '../../jobs/job-service.js';
import { type JobEventData, jobEventInputSchema } from '../../protocol/log-entry.js';
import { type Authenticate, callerOf, ownerFor, requireCaller } from '../authenticate.js';
import { jsonBody } from '../json-body.js';

/** POST /api/jobs/events (publish a job event) and GET /api/jobs (the latest state of recent jobs). */
export function jobRoutes(jobs: JobService, authenticate: Authenticate, maxBodyBytes: number): Router {
  const router = Router();
  // Credentials first: an anonymous caller gets 401 before its body is even read.
  router.use(requireCaller(authenticate));

  router.post('/events', ...jsonBody(maxBodyBytes), async (req, res) => {
    const caller = callerOf(res);
    const parsed = jobEventInputSchema.safeParse(req.body);
    if (!parsed.success) {
      throw new HttpError(
        'VALIDATION_FAILED',
        'Invalid job event: send { jobId, status, ...anything else }',
        parsed.error.issues.map((i) => ({ path: i.path, message: i.message, code: i.code })),
      );
    }
    const userId = ownerFor(caller, parsed.data.userId);
    const event = await jobs.append({ ...parsed.data, userId } as JobEventData, 'api');
    res.status(201).json({ event });
  });

  router.get('/', async (req, res) => {
    const caller = callerOf(res);
    const owner = ownerFor(caller, typeof req.query.userId === 'string' ? req.query.userId : undefined);
    res.json({ jobs: await jobs.latest(owner) });
  });

  return router;
}
