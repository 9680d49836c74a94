/**
 * livetail/imapflow: captures an ImapFlow client's IMAP operations as livetail log entries.
 *
 *   import { ImapFlow } from 'imapflow';
 *   import { imapflowLogger } from 'livetail/imapflow';
 *   import { createPublisher } from 'livetail/publisher';
 *
 *   const sink = createPublisher({ url: 'http://localhost:3002', token: process.env.INGEST_TOKEN });
 *   const client = new ImapFlow({ host, port, auth, logger: imapflowLogger({ sink, userId, emailAccountId }) });
 *
 * See docs/producers.md for the entry mapping and every option.
 */
export { imapflowLogger, type ImapflowLogger, type ImapflowLoggerOptions } from './imapflow-logger.js';
export type { CapturedEntry } from './entry-builder.js';
export type { LogSink } from './sink.js';
