import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import type { WebSocketConstructor, WebSocketLike } from '../../src/client/index.js';
import { HTTP_ERRORS, type HttpErrorCode } from '../../src/errors.js';

/** How a scripted gateway refuses an upgrade, and answers the check that asks why. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
  /** Seconds, sent as `Retry-After`. */
  retryAfter?: number;
}

/** A refusal from the error catalog, as the real gateway answers it. */
export function refusal(code: HttpErrorCode, retryAfter?: number): Refusal {
  return { status: HTTP_ERRORS[code].status, code, message: HTTP_ERRORS[code].message, ...(retryAfter === undefined ? {} : { retryAfter }) };
}

/** One request the gateway received: an upgrade attempt or a check. */
export interface Hit {
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** When it arrived (epoch ms). */
  at: number;
}

export interface ScriptedGatewayOptions {
  /**
   * Decides each upgrade: a refusal, or undefined to accept it. The check runs the same decision (as the
   * contract says the real one does) unless `check` answers it.
   */
  decide(req: IncomingMessage): Refusal | undefined;
  /** Answers the check in a way of its own (a 404, a page that is not JSON, a reset…). */
  check?(req: IncomingMessage, res: ServerResponse): void;
  /** An accepted connection. */
  onConnection?(ws: WebSocket, req: IncomingMessage): void;
}

export interface ScriptedGateway {
  /** `ws://127.0.0.1:<port>/ws` */
  wsUrl: string;
  port: number;
  upgrades: Hit[];
  checks: Hit[];
  close(): Promise<void>;
}

/** The origin an upgrade or a check claims: `Origin`, else `x-livetail-origin` (a same-origin GET has no Origin). */
export function claimedOrigin(req: IncomingMessage): string | undefined {
  const header = req.headers.origin ?? req.headers['x-livetail-origin'];
  return Array.isArray(header) ? header[0] : header;
}

/**
 * A stand-in for livetail's gateway that implements the refused-upgrade contract with a script: each
 * upgrade on /ws is refused with an HTTP status and the catalog's JSON body (as the gateway does before
 * any WebSocket exists) or accepted, and a plain `GET /ws` is the check that answers why. It records
 * every upgrade attempt and check, so tests can count them.
 */
export async function startScriptedGateway(options: ScriptedGatewayOptions, host = '127.0.0.1'): Promise<ScriptedGateway> {
  const upgrades: Hit[] = [];
  const checks: Hit[] = [];
  const hit = (req: IncomingMessage): Hit => ({ url: req.url ?? '/', headers: req.headers, at: Date.now() });
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not found', code: 'NOT_FOUND' }));
      return;
    }
    checks.push(hit(req));
    if (options.check) return options.check(req, res);
    const refused = options.decide(req);
    if (!refused) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    res.writeHead(refused.status, refusalHeaders(refused)).end(refusalBody(refused));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    upgrades.push(hit(req));
    const refused = options.decide(req);
    if (refused) return refuseUpgrade(socket, refused);
    wss.handleUpgrade(req, socket, head, (ws) => options.onConnection?.(ws, req));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    wsUrl: `ws://${host}:${port}/ws`,
    port,
    upgrades,
    checks,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function refusalBody(refused: Refusal): string {
  return JSON.stringify({ error: refused.message, code: refused.code });
}

function refusalHeaders(refused: Refusal): Record<string, string> {
  return {
    'content-type': 'application/json; charset=utf-8',
    ...(refused.retryAfter === undefined ? {} : { 'retry-after': String(refused.retryAfter) }),
  };
}

/** Answers an upgrade with an HTTP error, as the real gateway does, then closes the TCP connection. */
function refuseUpgrade(socket: Duplex, refused: Refusal): void {
  const body = refusalBody(refused);
  const headers = Object.entries(refusalHeaders(refused)).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${refused.status} ${STATUS_CODES[refused.status] ?? 'Error'}\r\nConnection: close\r\n${headers}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * `ws` made to fail as a browser's WebSocket does: a refused upgrade is only an `error` event without
 * any detail and a close with 1006, so the client learns nothing but what the check tells it.
 */
export function browserLikeWebSocket(): WebSocketConstructor {
  return class BrowserLike implements WebSocketLike {
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { code: number }) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    private readonly ws: WebSocket;

    constructor(url: string, options?: WebSocket.ClientOptions) {
      this.ws = new WebSocket(url, options);
      this.ws.on('open', () => this.onopen?.({ type: 'open' }));
      this.ws.on('message', (data, isBinary) => this.onmessage?.({ data: isBinary ? data : data.toString() }));
      this.ws.on('error', () => this.onerror?.({ type: 'error' }));
      this.ws.on('close', (code) => this.onclose?.({ code }));
    }

    get readyState(): number {
      return this.ws.readyState;
    }

    send(data: string): void {
      this.ws.send(data);
    }

    close(code?: number, reason?: string): void {
      this.ws.close(code, reason);
    }
  };
}
