import type { LogEntryInput } from '../protocol/log-entry.js';
import type { CapturedEntry } from './entry-builder.js';

/** Where captured entries go: a publisher (`createPublisher`), or, with livetail embedded, `lt.logs` (the in-process API). */
export type LogSink = { publish(entry: CapturedEntry): unknown } | { log(userId: string, entry: LogEntryInput): Promise<unknown> };

/**
 * A delivery function that never throws and never leaves a rejection unhandled: a publisher's
 * publish() is synchronous; the in-process log() returns a promise that rejects on invalid entries or
 * an unavailable store. Either failure goes to `onError`, never into ImapFlow.
 */
export function deliveryTo(sink: LogSink, onError: (error: unknown) => void): (entry: CapturedEntry) => void {
  if (sink && typeof (sink as { publish?: unknown }).publish === 'function') {
    const publisher = sink as { publish(entry: CapturedEntry): unknown };
    return (entry) => {
      try {
        publisher.publish(entry);
      } catch (error) {
        onError(error);
      }
    };
  }
  if (sink && typeof (sink as { log?: unknown }).log === 'function') {
    const logs = sink as { log(userId: string, entry: LogEntryInput): Promise<unknown> };
    return ({ userId, ...entry }) => {
      try {
        Promise.resolve(logs.log(userId, entry)).catch(onError);
      } catch (error) {
        onError(error);
      }
    };
  }
  throw new TypeError('imapflowLogger needs a sink: a publisher (createPublisher from livetail/publisher) or, embedded, lt.logs');
}
