import { HTTP_ERRORS, type Issue, ValidationError, issuesOf } from '../errors.js';
import { sanitizeJobEvent } from '../sanitizer/sanitizer.js';
import type { Metrics } from '../metrics/metrics.js';
import { type JobEventData, type JobEventInput, jobEventInputSchema } from '../protocol/log-entry.js';
import type { IdempotencyClaim, LogStore, WriteOp } from '../store/log-store.js';
import type { StreamWriter } from '../stream/stream-writer.js';
import type { OwnerOf } from '../util/owner-of.js';
import { refuseIllFormedStrings } from '../util/well-formed.js';

/**
 * Job state changes: each event is kept as the job's latest state (for `initial-jobs`) and sent as a
 * `job-event` on channel `jobs` to the owner's sockets.
 */
export class JobService {
  constructor(
    private readonly writer: StreamWriter,
    private readonly store: LogStore,
    private readonly metrics: Metrics,
    private readonly maxJobsPerUser: number,
  ) {}

  /**
   * The in-process producer API. `event.userId` names the owner; `jobId` and `status` are required and
   * everything else is carried through. Throws ValidationError VALIDATION_FAILED for a bad event,
   * INVALID_BODY for a string in it that is not well-formed UTF-16; StoreWriteError when the store did
   * not take it (see StreamWriter).
   */
  async publish(event: JobEventInput & { userId: string }): Promise<JobEventData> {
    refuseIllFormedStrings(event);
    const data = this.validate(event, (claimed) => claimed || { invalid: HTTP_ERRORS.VALIDATION_FAILED.texts.ownerRequired });
    return this.append(data, 'api');
  }

  /**
   * Checks one event and names its owner, as LogService.validate does for logs (the one validation of
   * the HTTP route and the in-process API): `ownerOf` gets the userId the event names, if any. Throws
   * ValidationError VALIDATION_FAILED listing every issue; nothing is stored.
   */
  validate(input: unknown, ownerOf: OwnerOf): JobEventData {
    const parsed = jobEventInputSchema.safeParse(input);
    if (!parsed.success) throw invalidEvent(issuesOf(parsed.error));
    const owner = ownerOf(parsed.data.userId);
    if (typeof owner !== 'string') throw invalidEvent([{ path: ['userId'], message: owner.invalid, code: 'custom' }]);
    return { ...parsed.data, userId: owner } as JobEventData;
  }

  /**
   * Sanitizes, stores and sends an event whose shape is already checked: `validate` checked it, or the
   * BullMQ bridge built it. Every job event takes this path, so this is where it is sanitized, once
   * (sanitizeJobEvent: the rules of a log's `parsed`; `userId` is kept). Resolves with the event as
   * stored and sent. `source` labels the metric. With `idempotency`, the request's key is recorded with
   * the event in the same transaction; a key already recorded rejects with IdempotencyKeyTakenError.
   */
  async append(data: JobEventData, source: 'api' | 'bullmq', idempotency?: IdempotencyClaim): Promise<JobEventData> {
    const clean = sanitizeJobEvent(data);
    const ops: WriteOp[] = [{ kind: 'job', userId: clean.userId, data: clean }];
    if (idempotency) ops.push({ kind: 'idempotency', claim: idempotency, result: JSON.stringify(clean) });
    await this.writer.submit(ops);
    this.metrics.jobEvents.labels(source).inc();
    return clean;
  }

  /** The latest event of each of the user's recent jobs, most recent first. */
  latest(userId: string): Promise<JobEventData[]> {
    return this.store.latestJobs(userId, this.maxJobsPerUser);
  }
}

function invalidEvent(issues: Issue[]): ValidationError {
  return new ValidationError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.jobEvent, issues);
}
