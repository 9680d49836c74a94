import { createHash } from 'node:crypto';
import type http from 'node:http';
import { HttpError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { type IdempotencyClaim, IdempotencyKeyTakenError, type IdempotencyRecord, type LogStore } from '../store/log-store.js';
import type { ApiRequest, ApiResponse } from './api-request.js';
import { type Caller, callerOf } from './authenticate.js';
import { sendJson } from './send-json.js';

/** The header of an answer given again to a repeated request. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** 1 to 255 printable ASCII characters (a UUID, a hash, a producer's own batch id). */
const KEY_FORMAT = /^[\x20-\x7e]{1,255}$/;
/** Where `digestBody` leaves the raw body's digest for the claim (res.locals). */
const BODY_DIGEST = 'livetailBodyDigest';

/** What a route creates: its name (metrics, and the body hash: one key never serves two routes) and its answer's field. */
export interface Created {
  route: 'logs' | 'jobs';
  field: 'logs' | 'event';
}

/**
 * Answers the POSTs that create something (201 `{ [field]: result }`) so that a retry never creates it
 * twice. A request without an Idempotency-Key is handled as it is. One with a key (scoped to the caller:
 * the service token, or the session's user, so a key never answers another user's request) is looked
 * up first:
 * - a key recorded within IDEMPOTENCY_WINDOW_MS answers at once with the first attempt's answer (201,
 *   the same body, `Idempotent-Replayed: true`), or 422 IDEMPOTENCY_KEY_REUSED when the body (or the
 *   route) differs; nothing is stored;
 * - otherwise `handle` runs with the claim, and its write records the key with the answer in the
 *   transaction that stores the rest. If a request with the same key committed first meanwhile (on this
 *   node or another), the store says so and this one is answered as its repeat.
 * A request that fails (4xx, 503) records nothing: its retry is a fresh attempt.
 */
export class IdempotentAnswers {
  constructor(
    private readonly records: Pick<LogStore, 'findIdempotency'>,
    private readonly metrics: Metrics,
  ) {}

  /**
   * jsonBody's `onRaw`: the SHA-256 of a keyed request's bytes as they came, so a retry (the same bytes)
   * is told from another request under its key without serializing the parsed body again.
   */
  readonly digestBody = (req: ApiRequest, res: ApiResponse, raw: Buffer): void => {
    if (req.headers['idempotency-key'] !== undefined) res.locals[BODY_DIGEST] = createHash('sha256').update(raw).digest('base64url');
  };

  async answer<T>(req: ApiRequest, res: ApiResponse, created: Created, handle: (claim: IdempotencyClaim | undefined) => Promise<T>): Promise<void> {
    const claim = claimOf(req, res, created.route);
    if (claim) {
      const record = await this.records.findIdempotency(claim);
      if (record) return this.repeat(res, created, claim, record);
    }
    let result: T;
    try {
      result = await handle(claim);
    } catch (error) {
      if (claim && error instanceof IdempotencyKeyTakenError) return this.repeat(res, created, claim, error.record);
      throw error;
    }
    sendCreated(res, created, JSON.stringify(result));
  }

  private repeat(res: ApiResponse, created: Created, claim: IdempotencyClaim, record: IdempotencyRecord): void {
    if (record.bodyHash !== claim.bodyHash) {
      this.metrics.idempotentRepeats.labels(created.route, 'reused').inc();
      throw new HttpError('IDEMPOTENCY_KEY_REUSED');
    }
    this.metrics.idempotentRepeats.labels(created.route, 'replayed').inc();
    // The result was recorded as JSON: these are the bytes the first answer had.
    res.setHeader(REPLAYED_HEADER, 'true');
    sendCreated(res, created, record.result);
  }
}

/**
 * 201 `{ [field]: result }` with `result` already JSON: the bytes res.json writes with Express's default
 * settings, written directly (res.json's type and charset handling, freshness check and copy of a body
 * past 1,000 characters cost more than the rest of answering a small POST). A first answer and its
 * replay are so the same bytes whatever the app's `json spaces` or `json replacer`.
 */
function sendCreated(res: http.ServerResponse, created: Created, result: string | undefined): void {
  sendJson(res, 201, result === undefined ? '{}' : `{"${created.field}":${result}}`); // res.json leaves out an undefined field
}

/**
 * The request's Idempotency-Key as a claim of its caller (see scopeOf), with the route and the digest of
 * its body; undefined without the header, 400 INVALID_IDEMPOTENCY_KEY for a malformed one.
 */
function claimOf(req: ApiRequest, res: ApiResponse, route: Created['route']): IdempotencyClaim | undefined {
  const key = req.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !KEY_FORMAT.test(key)) throw new HttpError('INVALID_IDEMPOTENCY_KEY');
  const digest = res.locals[BODY_DIGEST] as string | undefined;
  if (digest === undefined) throw new Error(`The ${route} route parses its body without IdempotentAnswers.digestBody`);
  return { scope: scopeOf(callerOf(res)), key, bodyHash: `${route}:${digest}` };
}

/** Whose keys these are: the service token's, or one user's (a key never answers another user's request). */
function scopeOf(caller: Caller): string {
  return caller.kind === 'service' ? 'service' : `user:${caller.userId}`;
}
