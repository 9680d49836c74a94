/**
 * Retries `attempt` with exponential backoff (250 ms doubling, at most 5 s apart) until it succeeds or
 * `timeoutMs` has passed, reporting each failure; then throws the last error.
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
