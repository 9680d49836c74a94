/**
 * Retries `attempt` with exponential backoff (250 ms doubling, at most 5 s apart) until it succeeds or
 * `timeoutMs` has passed, reporting each failure; then throws the last error. The total time is bounded
 * by `timeoutMs` plus the duration of the last attempt (each driver bounds its own connect timeout).
 */
export async function retryUntil<T>(
  attempt: () => Promise<T>,
  timeoutMs: number,
  onFailure: (error: unknown, attemptNumber: number, nextDelayMs: number | undefined) => void,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 250;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const remaining = deadline - Date.now();
      const next = remaining > 0 ? Math.min(delay, remaining) : undefined;
      onFailure(error, n, next);
      if (next === undefined) throw error;
      await new Promise((resolve) => setTimeout(resolve, next));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/**
 * A one-line description of a connection error. Node reports a refused connection to a name with several
 * addresses (localhost → ::1 and 127.0.0.1) as an AggregateError with an empty message: use its parts.
 */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && !error.message) {
    const parts = error.errors.map(describeError).filter(Boolean);
    if (parts.length > 0) return [...new Set(parts)].join('; ');
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return (error.message || (typeof code === 'string' ? code : error.name)).replace(/\s*\n\s*/g, ' ');
  }
  return String(error);
}
