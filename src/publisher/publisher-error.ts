/**
 * Why entries were not delivered, as the publisher's `error` event reports it:
 * - `INVALID_ENTRY`: publish() refused an entry (not a JSON object, no userId with the service token);
 * - `ENTRY_TOO_LARGE`: publish() refused an entry larger than `maxBatchBytes` serialized;
 * - `CLOSED`: publish() after close();
 * - `REFUSED`: the server answered a 4xx that is not retried (400, 401, 403, 422…): `status` and `body` say why;
 * - `GAVE_UP`: retries ran out (`maxAttempts` or `giveUpAfterMs`): `status`/`body` of the last answer, or `reason` of the last network error.
 */
export type PublisherErrorCode = 'INVALID_ENTRY' | 'ENTRY_TOO_LARGE' | 'CLOSED' | 'REFUSED' | 'GAVE_UP';

export class PublisherError extends Error {
  override readonly name = 'PublisherError';

  constructor(
    readonly code: PublisherErrorCode,
    message: string,
    /** How many entries this error cost. */
    readonly count: number,
    readonly details: { status?: number; body?: string; reason?: string; attempts?: number } = {},
  ) {
    super(message);
  }

  /** The HTTP status of the server's answer, when there was one. */
  get status(): number | undefined {
    return this.details.status;
  }

  /** The server's answer (livetail's JSON error body), when there was one. */
  get body(): string | undefined {
    return this.details.body;
  }
}
