import { describeError } from '../util/retry.js';

/** The names of what a core connects to when it starts, as said in errors and logs. */
export type DependencyName = 'database' | 'Redis' | 'Redis (BullMQ)';

/**
 * A dependency did not answer while the core started (the database, Redis): the caller may retry
 * `createLivetail` (the standalone server does, for STARTUP_TIMEOUT_MS). Anything else that fails at
 * start (a bad option, a refused schema) is not worth retrying and is thrown as it is.
 */
export class DependencyUnavailableError extends Error {
  constructor(
    readonly dependency: DependencyName,
    cause: unknown,
  ) {
    super(`${dependency} not answering: ${describeError(cause)}`, { cause });
    this.name = 'DependencyUnavailableError';
  }
}

/**
 * Runs `open`, reporting its failure as the named dependency being unavailable, except a TypeError: that
 * is the option itself being unusable (an in-memory SQLite database, a URL of no known scheme), which no
 * retry can mend, and it is thrown as it is.
 */
export async function connectTo<T>(dependency: DependencyName, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof TypeError) throw error;
    throw new DependencyUnavailableError(dependency, error);
  }
}
