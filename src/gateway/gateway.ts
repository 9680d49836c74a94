import { type IncomingMessage, STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type Server as WebSocketServerOf, WebSocketServer } from 'ws';
import { createOriginCheck } from '../auth/origin.js';
import { CLOSE_REASONS, HTTP_ERRORS, type HttpErrorCode, PROTOCOL_ERRORS, retryAfterOf } from '../errors.js';
import { securityHeaderLines } from '../http/security-headers.js';
import type { Metrics } from '../metrics/metrics.js';
import { CHANNELS, CLOSE_CODES, type Channel } from '../protocol/constants.js';
import { type ResolvedSession, SessionCheckUnavailable } from '../sessions/session-resolver.js';
import type { Sessions } from '../sessions/sessions.js';
import { Connection, type ConnectionContext } from './connection.js';
import { GatewaySocket } from './gateway-socket.js';
import { SendBursts } from './socket-writes.js';
import type { Hub, JoinFrom } from './hub.js';
import { UpgradeRateLimiter } from './upgrade-rate-limiter.js';

export interface GatewayOptions {
  /** The WebSocket path (`/ws`): upgrades and connect checks for any other path are not the gateway's. */
  path: string;
  trustedOrigins: string[];
  trustProxy: boolean;
  heartbeatIntervalMs: number;
  maxMessageBytes: number;
  maxBufferedBytes: number;
  maxSocketsPerUser: number;
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  upgradeRateLimit: number;
  upgradeRateWindowMs: number;
  perMessageDeflate: boolean;
}

export interface GatewayDeps {
  hub: Hub;
  sessions: Pick<Sessions, 'resolve' | 'track' | 'untrack'>;
  metrics: Metrics;
  logger: Logger;
  clearLogs(userId: string): Promise<void>;
}

/** helmet's headers as `Name: value` lines, for the responses the gateway writes itself. */
const SECURITY_HEADER_LINES = securityHeaderLines();

/**
 * The WebSocket endpoint. An upgrade is checked before any WebSocket exists, cheapest check first, each
 * refusal a real HTTP status with a JSON body from the catalog: draining (503), Origin (403), attempts
 * per address (429), query (400), session (401, or 503 when it cannot be checked), sockets per user (429).
 * Then the hub takes the socket. Upgrades for other paths are left to whoever else listens.
 *
 * The same checks answer a plain GET on the path (the connect check): browsers cannot read the status of
 * a refused upgrade, so the SDK asks there why it was refused.
 */
export class Gateway {
  private readonly wss: WebSocketServerOf<typeof GatewaySocket>;
  private readonly originAllowed: (origin: string | undefined) => boolean;
  private readonly upgradeLimiter: UpgradeRateLimiter;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly connectionContext: ConnectionContext;
  private draining = false;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly options: GatewayOptions,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      // Its events go straight to the socket's Connection, without listeners (memory per socket).
      WebSocket: GatewaySocket,
      maxPayload: options.maxMessageBytes,
      // Off by default: compressing each ~450-byte log separately for every socket costs far more CPU and
      // memory (a zlib context per socket) than the bandwidth it saves. See docs/operations.md.
      perMessageDeflate: options.perMessageDeflate,
      clientTracking: false,
      // Connection answers pings itself, within the socket's message budget (see Connection.onPing).
      autoPong: false,
    });
    // The same security headers as every other HTTP response, on the 101 too.
    this.wss.on('headers', (headers: string[]) => headers.push(...SECURITY_HEADER_LINES));
    this.originAllowed = createOriginCheck(options.trustedOrigins);
    this.upgradeLimiter = new UpgradeRateLimiter(options.upgradeRateLimit, options.upgradeRateWindowMs);
    this.connectionContext = {
      limits: { maxBufferedBytes: options.maxBufferedBytes, rateLimit: { perSecond: options.rateLimitPerSecond, burst: options.rateLimitBurst } },
      bursts: new SendBursts(),
      metrics: deps.metrics,
      clearLogs: deps.clearLogs,
      onInternalError: (conn, error) => {
        deps.logger.error({ err: error, userId: conn.userId }, 'client request failed');
        conn.sendError('INTERNAL', PROTOCOL_ERRORS.INTERNAL());
      },
      onHandlerError: (conn, error) => this.handlerFailed('frame', error, conn.userId),
      onSocketError: (conn, error) => this.socketFailed(conn, error),
      onClosed: (conn, code, reason) => this.closed(conn, code, reason),
    };
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatIntervalMs).unref();
  }

  /**
   * Takes an upgrade for the gateway's path and returns true; returns false, touching nothing, for any
   * other path. Whatever the handling throws ends this upgrade, never the process: before the socket is
   * handed to ws it is answered 500, after it is closed with 1011 (accept).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = this.ownUrl(req);
    if (!url) return false;
    socket.on('error', ignoreError); // a client resetting mid-handshake must not crash the process
    this.upgrade(req, url, socket, head).catch((error) => {
      this.handlerFailed('upgrade', error);
      this.refuse(socket, 'INTERNAL');
    });
    return true;
  }

  /**
   * The connect check: a plain GET (or its CORS preflight) on the gateway's path is answered with what an
   * upgrade would get now — 200 `{"ok":true}`, or the refusal's status and catalog body — and true is
   * returned; false for any other request. It counts as an attempt against the per-address limit.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.headers.upgrade !== undefined || (req.method !== 'GET' && req.method !== 'OPTIONS')) return false;
    const url = this.ownUrl(req);
    if (!url) return false;
    const origin = req.headers.origin ?? headerOf(req, 'x-livetail-origin');
    // The answer may be read by the page that asked (a refused page is told only that its origin is refused).
    if (req.headers.origin) {
      res.setHeader('Access-Control-Allow-Origin', req.headers.origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET', 'Access-Control-Allow-Headers': 'x-livetail-origin', 'Access-Control-Max-Age': '600' }).end();
      return true;
    }
    this.admit(req, url, origin).then(
      (admitted) => {
        const result = 'session' in admitted ? this.hasRoom(admitted) : admitted;
        if (!result) return void json(res, 200, { ok: true });
        json(res, HTTP_ERRORS[result.refused].status, { error: result.message ?? HTTP_ERRORS[result.refused].message, code: result.refused }, retryAfterOf(result.refused));
      },
      (error: unknown) => {
        this.handlerFailed('upgrade', error);
        if (!res.headersSent) json(res, 500, { error: HTTP_ERRORS.INTERNAL.message, code: 'INTERNAL' });
      },
    );
    return true;
  }

  /** The request's URL when its path is the gateway's. */
  private ownUrl(req: IncomingMessage): URL | undefined {
    const url = URL.parse(req.url ?? '/', 'http://localhost');
    return url?.pathname === this.options.path ? url : undefined;
  }

  private async upgrade(req: IncomingMessage, url: URL, socket: Duplex, head: Buffer): Promise<void> {
    const result = await this.admit(req, url, req.headers.origin);
    if (!('session' in result)) return this.refuse(socket, result.refused, result.message);
    if (socket.destroyed) return;
    const full = this.hasRoom(result);
    if (full) return this.refuse(socket, full.refused);
    // The 101 waits in the socket until the join has written initial-logs behind it (accept uncorks):
    // both leave in one write, one system call and one segment instead of two per connect. ws ending
    // the handshake itself (a bad key) ends the socket, which writes what is corked.
    socket.cork();
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        // ws listens for the socket's errors from now on; a second listener would cost an array per socket.
        socket.off('error', ignoreError);
        this.accept(ws, result, req, socket);
      });
    } catch (error) {
      // ws itself failed while taking the socket over: it may have answered 101 already.
      this.handlerFailed('upgrade', error, result.session.userId);
      socket.destroy();
    }
  }

  /** The checks an upgrade must pass before the last ones (hasRoom), cheapest first. */
  private async admit(req: IncomingMessage, url: URL, origin: string | undefined): Promise<Admitted | Refused> {
    if (this.draining) return { refused: 'SHUTTING_DOWN' };
    if (!this.originAllowed(origin)) return { refused: 'ORIGIN_NOT_ALLOWED' };
    if (!this.upgradeLimiter.allow(this.clientAddress(req))) return { refused: 'UPGRADE_RATE_LIMITED' };
    const query = parseJoinQuery(url.searchParams);
    if ('error' in query) return { refused: 'INVALID_QUERY', message: query.error };
    let session: ResolvedSession | null;
    try {
      session = await this.deps.sessions.resolve(req.headers);
    } catch (error) {
      if (!(error instanceof SessionCheckUnavailable)) throw error;
      this.deps.logger.error({ err: error }, 'session check failed');
      return { refused: error.code };
    }
    if (!session) return { refused: 'SESSION_INVALID' };
    return { session, channels: query.channels, from: query.from };
  }

  /**
   * The last checks, made synchronously right before the hub takes the socket: with no await between
   * them and the take, concurrent upgrades of one user cannot overshoot MAX_SOCKETS_PER_USER.
   */
  private hasRoom(admitted: Admitted): Refused | undefined {
    if (this.draining) return { refused: 'SHUTTING_DOWN' };
    if (this.deps.hub.socketCount(admitted.session.userId) >= this.options.maxSocketsPerUser) return { refused: 'TOO_MANY_CONNECTIONS' };
    return undefined;
  }

  /**
   * Takes an upgraded socket into the hub. A throw closes this socket with 1011 and is reported once.
   * `socket` is corked once (upgrade): uncorked when the join has settled, sent or failed.
   */
  private accept(ws: GatewaySocket, admitted: Admitted, req: IncomingMessage, socket: Duplex): void {
    const uncork = () => socket.uncork();
    let conn: Connection | undefined;
    const failed = (error: unknown) => {
      this.handlerFailed('upgrade', error, admitted.session.userId);
      try {
        if (conn) conn.close('INTERNAL_ERROR');
        else ws.close(CLOSE_REASONS.INTERNAL_ERROR.code, CLOSE_REASONS.INTERNAL_ERROR.reason);
      } catch {
        ws.terminate();
      }
    };
    try {
      conn = this.connect(ws, admitted);
      this.deps.sessions.track(conn, admitted.session, req.headers);
      this.deps.hub.join(conn, admitted.from).catch(failed).finally(uncork);
    } catch (error) {
      failed(error);
      uncork();
    }
  }

  /**
   * Logs and counts an exception caught while handling one socket's frame or one upgrade (a bug): the
   * caller ends that socket or upgrade, and nothing else.
   */
  private handlerFailed(handler: 'frame' | 'upgrade', error: unknown, userId?: string): void {
    this.deps.metrics.handlerErrors.labels(handler).inc();
    this.deps.logger.error({ err: error, handler, userId }, `${handler} handler failed; only this socket was ended`);
  }

  private connect(ws: GatewaySocket, { session, channels, from }: Admitted): Connection {
    const { metrics, logger } = this.deps;
    // The socket's error and close reach socketFailed and closed through the Connection (no closures per socket).
    const conn = new Connection(ws, session.userId, session.sessionId, channels, this.connectionContext);
    metrics.connects.inc();
    logger.info({ event: 'ws-connect', userId: session.userId, resume: from.since !== undefined }, 'socket connected');
    return conn;
  }

  /** ws reported an error on a socket: a frame it refused ends the socket with its code. */
  private socketFailed(conn: Connection, error: Error & { code?: string }): void {
    const code = protocolCloseCode(error.code);
    if (code !== undefined) {
      // ws has already sent the close frame and stopped reading; the client may never answer it.
      conn.closedByProtocol(code);
      if (code === CLOSE_CODES.MESSAGE_TOO_BIG) this.deps.metrics.protocolErrors.labels('MESSAGE_TOO_BIG').inc();
    }
    this.deps.logger.debug({ err: error, userId: conn.userId }, 'socket error');
  }

  /** A socket has closed: it leaves the hub and its session. */
  private closed(conn: Connection, code: number, reason: Buffer): void {
    const { hub, sessions, metrics, logger } = this.deps;
    hub.leave(conn);
    sessions.untrack(conn, conn.sessionId);
    // Count what the server decided (1009, 1013, 4401...), not what a client echoed or 1006 after a cut.
    const closedWith = conn.closeCode ?? code;
    metrics.closes.labels(String(closedWith)).inc();
    logger.info(
      { event: 'ws-close', userId: conn.userId, code: closedWith, clientCode: code, reason: reason.toString(), durationMs: Date.now() - conn.openedAt },
      'socket closed',
    );
  }

  /** Pings every socket and ends those that missed the last pong. */
  private beat(): void {
    for (const conn of this.deps.hub.connections()) conn.heartbeat();
  }

  /** New upgrades get 503 from now on (shutdown and drain). */
  drain(): void {
    this.draining = true;
  }

  /**
   * Closes every socket with 1001 and stops the heartbeat. Waits for the close handshakes, at most
   * `timeoutMs`, then cuts whatever is left.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.draining = true;
    clearInterval(this.heartbeat);
    const conns = [...this.deps.hub.connections()];
    const closed = conns.map((conn) => new Promise<void>((resolve) => {
      if (conn.ws.readyState === conn.ws.CLOSED) return resolve();
      conn.ws.once('close', () => resolve());
    }));
    for (const conn of conns) conn.close('SHUTTING_DOWN');
    const timer = setTimeout(() => {
      for (const conn of conns) conn.ws.terminate();
    }, timeoutMs);
    await Promise.all(closed);
    clearTimeout(timer);
    this.wss.close();
  }

  /**
   * The address upgrade attempts are counted against. Behind a trusted proxy (TRUST_PROXY) it is the last
   * X-Forwarded-For entry, the one that proxy appended: the entries before it are whatever the client
   * sent, and a limit keyed on them could be dodged by sending a new one each time.
   */
  private clientAddress(req: IncomingMessage): string {
    if (this.options.trustProxy) {
      const forwarded = req.headers['x-forwarded-for'];
      const header = Array.isArray(forwarded) ? forwarded.join(',') : forwarded;
      const last = header?.split(',').at(-1)?.trim();
      if (last) return last;
    }
    return remoteAddressOf(req.socket) ?? 'unknown';
  }

  private refuse(socket: Duplex, code: HttpErrorCode, message?: string): void {
    this.deps.metrics.upgradeRejections.labels(String(HTTP_ERRORS[code].status), code).inc();
    refuseUpgrade(socket, code, message);
  }
}

/** An upgrade that passed every check: who it is for and how the socket starts. */
interface Admitted {
  session: ResolvedSession;
  channels: Channel[];
  from: JoinFrom;
}

/** An upgrade that did not, and the catalog code it is answered with. */
interface Refused {
  refused: HttpErrorCode;
  message?: string;
}

/**
 * The socket's peer address, without keeping it: Node caches the answer on the socket (`_peername`, an
 * object and a string) for as long as the socket lives, about 90 bytes on every open WebSocket for an
 * address that is read once, here. Dropping the cache only makes a later read ask the kernel again.
 */
function remoteAddressOf(socket: Socket): string | undefined {
  const address = socket.remoteAddress;
  (socket as Socket & { _peername?: unknown })._peername = undefined;
  return address;
}

/** Errors of a socket nobody else listens to yet (one function for every upgrade). */
function ignoreError(): void {}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function json(res: ServerResponse, status: number, body: unknown, retryAfter?: number): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...(retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : {}),
  });
  res.end(text);
}

/** Parses `?since=<log id>&channels=a,b`. */
function parseJoinQuery(params: URLSearchParams): { from: JoinFrom; channels: Channel[] } | { error: string } {
  const since = params.get('since');
  if (since !== null && (since.length === 0 || since.length > 100)) return { error: HTTP_ERRORS.INVALID_QUERY.texts.since };
  const raw = params.get('channels');
  let channels: Channel[] = ['all'];
  if (raw !== null) {
    const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = names.find((n) => !(CHANNELS as readonly string[]).includes(n));
    if (bad !== undefined || names.length === 0) return { error: HTTP_ERRORS.INVALID_QUERY.texts.channels(CHANNELS) };
    channels = [...new Set(names)] as Channel[];
  }
  return { from: since === null ? {} : { since }, channels };
}

/**
 * The close code ws sent when it failed a connection for a frame it could not accept (its error codes,
 * lib/receiver.js): 1009 too big, 1007 text that is not UTF-8, 1008 too many fragments, 1002 any other
 * malformed frame. Undefined for errors that are not about a frame (a reset connection).
 */
function protocolCloseCode(wsErrorCode: string | undefined): number | undefined {
  if (!wsErrorCode?.startsWith('WS_ERR_')) return undefined;
  if (wsErrorCode === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || wsErrorCode === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') return CLOSE_CODES.MESSAGE_TOO_BIG;
  if (wsErrorCode === 'WS_ERR_INVALID_UTF8') return CLOSE_CODES.INVALID_PAYLOAD;
  if (wsErrorCode === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') return CLOSE_CODES.POLICY_VIOLATION;
  return CLOSE_CODES.PROTOCOL_ERROR;
}

/**
 * Answers an upgrade with an HTTP error and a JSON body from the catalog, then closes the TCP connection
 * (the standalone server answers upgrades of paths nobody owns with it too).
 */
export function refuseUpgrade(socket: Duplex, code: HttpErrorCode, message?: string): void {
  if (socket.destroyed) return;
  const { status } = HTTP_ERRORS[code];
  const body = JSON.stringify({ error: message ?? HTTP_ERRORS[code].message, code });
  const retryAfter = retryAfterOf(code);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
      (retryAfter !== undefined ? `Retry-After: ${retryAfter}\r\n` : '') +
      SECURITY_HEADER_LINES.map((line) => `${line}\r\n`).join('') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('finish', () => socket.destroy());
}
