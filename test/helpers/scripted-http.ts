import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the scripted server received. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The `logs` of the JSON body, when it has them. */
  logs: Array<Record<string, unknown>>;
}

/** How to answer one request: a status with headers and body, a cut connection, or a hold until released. */
export type ScriptedAnswer =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { reset: true }
  | { hold: Promise<ScriptedAnswer> };

/**
 * A real HTTP server of the test's own that answers each request with the next scripted answer (then
 * 201 with the entries echoed, as livetail does), and records every request, so retry and backoff
 * behaviour can be tested deterministically against real sockets.
 */
export class ScriptedServer {
  readonly requests: ReceivedRequest[] = [];
  private readonly script: ScriptedAnswer[] = [];
  private waiters: Array<() => void> = [];

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<ScriptedServer> {
    const server = http.createServer();
    const scripted = new ScriptedServer(server);
    server.on('request', (req, res) => void scripted.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return scripted;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Queues answers for the next requests, in order. */
  answer(...answers: ScriptedAnswer[]): void {
    this.script.push(...answers);
  }

  /** Resolves once `count` requests have arrived. */
  untilRequests(count: number, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.requests.length < count) return false;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
        return true;
      };
      const waiter = () => void check();
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out with ${this.requests.length} of ${count} requests`));
      }, timeoutMs);
      if (!check()) this.waiters.push(waiter);
    });
  }

  /** Every entry received, in arrival order, by its `command`. */
  commands(): string[] {
    return this.requests.flatMap((r) => r.logs.map((l) => String(l.command)));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    let logs: Array<Record<string, unknown>> = [];
    try {
      logs = (JSON.parse(body) as { logs?: Array<Record<string, unknown>> }).logs ?? [];
    } catch {}
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, logs });
    for (const waiter of [...this.waiters]) waiter();
    let answer = this.script.shift() ?? { status: 201, body: { logs } };
    while ('hold' in answer) answer = await answer.hold;
    if ('reset' in answer) {
      req.socket.destroy();
      return;
    }
    const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(text);
  }
}

/** A promise with its resolve function outside, to release a held answer. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
