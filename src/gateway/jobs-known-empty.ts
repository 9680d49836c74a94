/**
 * Whether a followed user is known to have no stored job state, so that a join answers `initial-jobs`
 * with no jobs without asking the store: most users have none, and a connect asked the store for them
 * once per socket (a reconnect storm: every socket of every user).
 *
 * It must never answer differently from the store read it replaces, so it is kept the way RecentLogs is:
 * - it is set only from a store read that found no jobs and began after the node followed the user (the
 *   hub reads only after the pool's bus subscription is up), when no job event was heard while it ran;
 * - a job event (committed: the bus hands over only what committed) or a bus resync unsets it, and a read
 *   begun before either is not taken (epoch);
 * - the hub drops it with the user's last local socket.
 */
export class JobsKnownEmpty {
  private known = false;
  /** Moves on at every job event and resync: a read begun before it cannot say the user has none. */
  private epoch = 0;

  /** True when a store read of the user's newest jobs would find none now. */
  get empty(): boolean {
    return this.known;
  }

  /** A ticket for a store read of the user's jobs about to begin: `read` takes its answer only with it. */
  beginRead(): number {
    return this.epoch;
  }

  /** The answer of a read begun with `ticket`: whether it found no jobs. */
  read(ticket: number, foundNone: boolean): void {
    if (foundNone && ticket === this.epoch) this.known = true;
  }

  /** A job event of the user came through the bus, or the bus may have lost some: ask the store again. */
  changed(): void {
    this.known = false;
    this.epoch++;
  }
}
