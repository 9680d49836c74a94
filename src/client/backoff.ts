/** Reconnect delays: exponential backoff with full jitter. */
export interface BackoffOptions {
  /** The first attempt's ceiling; each failed attempt doubles it. Default 500 ms. */
  baseMs?: number;
  /** The largest ceiling. Default 30 000 ms. */
  capMs?: number;
  /** A connection that stayed open this long starts the schedule over. Default 5000 ms. */
  stableAfterMs?: number;
}

const BACKOFF_DEFAULTS: Required<BackoffOptions> = { baseMs: 500, capMs: 30_000, stableAfterMs: 5000 };

/**
 * The delay before each reconnect attempt: a random value from 0 up to min(cap, base × 2^n), where n
 * counts the attempts since the last stable connection ("full jitter": clients that lost the same server
 * at the same moment spread their retries over the whole window instead of arriving together).
 * A connection that opens but closes again before `stableAfterMs` does not reset n, so a server that
 * accepts and drops at once is not hammered.
 */
export class Backoff {
  private readonly options: Required<BackoffOptions>;
  private failures = 0;
  private openedAt: number | undefined;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...BACKOFF_DEFAULTS, ...definedOnly(options) };
    const { baseMs, capMs, stableAfterMs } = this.options;
    if (!(baseMs > 0 && capMs >= baseMs && stableAfterMs >= 0)) {
      throw new RangeError(`backoff needs baseMs > 0, capMs >= baseMs and stableAfterMs >= 0 (got ${baseMs}, ${capMs}, ${stableAfterMs})`);
    }
  }

  /** Attempts made since the last stable connection. */
  get attempts(): number {
    return this.failures;
  }

  /** Records that a connection opened now. */
  opened(): void {
    this.openedAt = this.now();
  }

  /** The delay before the next attempt, in ms. Call once per attempt, after the connection ended. */
  next(): number {
    return Math.floor(this.random() * this.advance());
  }

  /**
   * The delay before the next attempt when the server asked to wait at least `floorMs` (its Retry-After):
   * the floor plus a random part as wide as the floor or the current ceiling, whichever is larger. Clients
   * refused together (a rate limit, a node going away) all got the same Retry-After; waiting exactly that
   * long would bring them back in one burst, so they come back spread over [floor, 2 × floor) at least.
   * Counts as an attempt, like next().
   */
  nextAtLeast(floorMs: number): number {
    const floor = Math.max(0, floorMs);
    return floor + Math.floor(this.random() * Math.max(floor, this.advance()));
  }

  /** The current attempt's ceiling; moves the schedule one attempt on (or starts it over after a stable connection). */
  private advance(): number {
    if (this.openedAt !== undefined && this.now() - this.openedAt >= this.options.stableAfterMs) this.failures = 0;
    this.openedAt = undefined;
    // 2^31 × any base is far past any cap: stop doubling there so the ceiling stays a finite number.
    const ceiling = Math.min(this.options.capMs, this.options.baseMs * 2 ** Math.min(this.failures, 31));
    this.failures++;
    return ceiling;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
