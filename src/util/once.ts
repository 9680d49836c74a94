/** Wraps an async close so later calls return the first call's promise (BullMQ's idempotent close). */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= fn());
}
