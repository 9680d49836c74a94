/**
 * livetail/publisher: ships log entries to a livetail server from another process (an IMAP worker, a
 * BullMQ job, a script), batched, retried and bounded.
 *
 *   const publisher = createPublisher({ url: 'http://localhost:3002', token: process.env.INGEST_TOKEN });
 *   publisher.publish({ userId, emailAccountId, level: 'info', command: 'FETCH', data: { duration: 12 } });
 *   await publisher.close(); // delivers what is left, within closeTimeoutMs
 *
 * See docs/producers.md.
 */
import type { PublisherOptions } from './options.js';
import { Publisher } from './publisher.js';

export { Publisher } from './publisher.js';
export type { PublishedEntry, PublisherEvents, PublisherStats } from './publisher.js';
export type { PublisherOptions } from './options.js';
export { PublisherError, type PublisherErrorCode } from './publisher-error.js';
export type { LogEntryInput } from '../protocol/log-entry.js';

/** Creates a publisher; nothing is sent before the first publish(). Throws a TypeError or RangeError for a bad option. */
export function createPublisher(options: PublisherOptions): Publisher {
  return new Publisher(options);
}
