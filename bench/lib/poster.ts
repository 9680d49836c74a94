import http from 'node:http';
import { SENT_AT_KEY } from '../load/messages.js';

/**
 * POSTs log batches to a target's /api/logs over keep-alive connections, as a service would: livetail
 * with its INGEST_TOKEN, the baselines without credentials.
 */
export class Poster {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(
    baseUrl: string,
    private readonly headers: Record<string, string>,
    maxSockets: number,
  ) {
    this.url = new URL('/api/logs', baseUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** Resolves with the HTTP status (201 when the batch was taken); rejects on a network error. */
  post(body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * The benchmark's log entry for `userId`, as posted (and, with `sentAt`, stamped with the time it was
 * sent: `parsed.sentAt`, µs on the machine's monotonic clock, so clients can measure ingest-to-receive
 * latency without any field outside the seed's message shape). A delivered `log` message is about 450
 * bytes, the size the figures assume.
 */
export function benchLog(userId: string, sentAt?: number) {
  return {
    userId,
    emailAccountId: 'acct-0001',
    level: 'info' as const,
    command: 'UID FETCH',
    data: {
      raw: 'A142 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)',
      parsed: sentAt === undefined ? { sequence: '1:*', items: 5 } : { sequence: '1:*', items: 5, [SENT_AT_KEY]: sentAt },
      response: 'A142 OK UID FETCH completed (0.004 secs)',
      duration: 12,
      error: null,
    },
  };
}

/** A batch of `count` log entries for users picked at random, each stamped with `sentAt`, as one JSON body. */
export function logBatch(userIds: readonly string[], count: number, sentAt: number): string {
  const entries = new Array(count);
  for (let i = 0; i < count; i++) entries[i] = benchLog(userIds[Math.floor(Math.random() * userIds.length)]!, sentAt);
  return JSON.stringify(entries);
}
