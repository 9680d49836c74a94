import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LogEntry, ServerMessageOf } from '../../src/protocol/index.js';

/** A log entry as the harness posts it (the same body livetail's POST /api/logs receives); nothing checks it here. */
type PostedEntry = Omit<LogEntry, 'id' | 'timestamp'>;

/** The `log` message livetail sends, field for field, so every target puts the same bytes on the wire. */
export type LogMessage = ServerMessageOf<'log'>;

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * The HTTP side of the baseline targets: GET /healthz, and POST /api/logs taking an array of entries,
 * turning each into livetail's `log` message (an id and a timestamp added, nothing checked, nothing
 * stored) and handing it to `fanOut`. No auth, no validation, no store: the practical floor.
 */
export function ingestEndpoint(fanOut: (userId: string, message: LogMessage) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/api/logs') {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      let entries: PostedEntry[];
      try {
        entries = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PostedEntry[];
        if (!Array.isArray(entries)) throw new Error('not an array');
      } catch {
        res.writeHead(400).end();
        return;
      }
      const timestamp = new Date().toISOString();
      for (const e of entries) {
        const log = { id: randomUUID(), timestamp, userId: e.userId, emailAccountId: e.emailAccountId, level: e.level, command: e.command, data: e.data };
        fanOut(e.userId, { type: 'log', log, timestamp: new Date().toISOString() });
      }
      res.writeHead(201, { 'content-type': 'application/json' }).end(`{"accepted":${entries.length}}`);
    });
  };
}

/** The port the harness chose for this target. */
export function portFromEnv(): number {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`PORT must be a TCP port, got ${process.env.PORT}`);
  return port;
}
