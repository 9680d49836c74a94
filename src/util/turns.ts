/**
 * Lets waiters through one per turn of the event loop, in order. Work that is queued all at once (every
 * socket of a reconnect storm asking for its join backlog, whose SQLite reads block the thread) then
 * runs one piece per turn, with the I/O of everything else — other users' deliveries — polled between
 * pieces, rather than as one long chain of microtasks that holds the thread for all of them.
 *
 * A waiter released in a turn runs until its next await; a callback of setImmediate that is queued from
 * inside another one runs in the next turn, after the poll phase, which is what spaces them.
 */
export class Turns {
  private readonly waiting: Array<() => void> = [];

  /** Resolves in a later turn of the event loop than the previous waiter's. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      if (this.waiting.push(resolve) === 1) setImmediate(this.release);
    });
  }

  private readonly release = (): void => {
    this.waiting.shift()!();
    if (this.waiting.length > 0) setImmediate(this.release);
  };
}
