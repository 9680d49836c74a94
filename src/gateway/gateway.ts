import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { createOriginCheck } from '../auth/origin.js';
import type { ResolvedSession, SessionResolver } from '../auth/session-resolver.js';
import { CLOSE_REASONS, HTTP_ERRORS, type HttpErrorCode } from '../errors.js';
import { securityHeaderLines } from '../http/security-headers.js';
import type { Metrics } from '../metrics/metrics.js';
import { CHANNELS, CLOSE_CODES, type Channel, WS_PATH } from '../protocol/constants.js';
import { Connection, type ConnectionContext } from './connection.js';
import { SendBursts } from './socket-writes.js';
import type { Hub, JoinFrom } from './hub.js';
import { UpgradeRateLimiter } from './upgrade-rate-limiter.js';

export interface GatewayOptions {
  trustedOrigins: string[];
  trustProxy: boolean;
  heartbeatIntervalMs: number;
  maxMessageBytes: number;
  maxBufferedBytes: number;
  maxSocketsPerUser: number;
  rateLimit: { perSecond: number; burst: number };
  upgradeRate: { limit: number; windowMs: number };
  perMessageDeflate: boolean;
}

export interface GatewayDeps {
  hub: Hub;
  sessions: SessionResolver;
  metrics: Metrics;
  logger: Logger;
  clearLogs(userId: string): Promise<void>;
}

/** helmet's headers as `Name: value` lines, for the responses the gateway writes itself. */
const SECURITY_HEADER_LINES = securityHeaderLines();

/**
 * The /ws endpoint. An upgrade is checked before any WebSocket exists, cheapest check first, each refusal
 * a real HTTP status with a JSON body: path (404), draining (503), Origin (403), attempts per address
 * (429), session (401), sockets per user (429), query (400). Then the hub takes the socket.
 */
export class Gateway {
  private readonly wss: WebSocketServer;
  private readonly originAllowed: (origin: string | undefined) => boolean;
  private readonly upgradeLimiter: UpgradeRateLimiter;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly connectionContext: ConnectionContext;
  private draining = false;
  private sweeping = false;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly options: GatewayOptions,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
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
    this.upgradeLimiter = new UpgradeRateLimiter(options.upgradeRate.limit, options.upgradeRate.windowMs);
    this.connectionContext = {
      limits: { maxBufferedBytes: options.maxBufferedBytes, rateLimit: options.rateLimit },
      bursts: new SendBursts(),
      metrics: deps.metrics,
      clearLogs: deps.clearLogs,
      onInternalError: (conn, error) => {
        deps.logger.error({ err: error, userId: conn.userId }, 'client request failed');
        conn.send({ type: 'error', error: 'Internal error: try again' });
      },
      onHandlerError: (conn, error) => this.handlerFailed('frame', error, conn.userId),
    };
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatIntervalMs).unref();
  }

  /**
   * The `upgrade` listener of the HTTP server. Whatever its handling throws ends this upgrade, never the
   * process: before the socket is handed to ws it is answered 500, after it is closed with 1011 (accept).
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {}); // a client resetting mid-handshake must not crash the process
    this.upgrade(req, socket, head).catch((error) => {
      this.handlerFailed('upgrade', error);
      this.refuse(socket, 'INTERNAL');
    });
  };

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = URL.parse(req.url ?? '/', 'http://localhost');
    if (url?.pathname !== WS_PATH) return this.refuse(socket, 'NOT_FOUND');
    if (this.draining) return this.refuse(socket, 'SHUTTING_DOWN');
    if (!this.originAllowed(req.headers.origin)) return this.refuse(socket, 'ORIGIN_NOT_ALLOWED');
    if (!this.upgradeLimiter.allow(this.clientAddress(req))) return this.refuse(socket, 'UPGRADE_RATE_LIMITED');

    const query = parseJoinQuery(url.searchParams);
    if ('error' in query) return this.refuse(socket, 'INVALID_QUERY', query.error);

    let session: ResolvedSession | undefined;
    try {
      // A cached answer only from a check made while this node followed the user: it would have heard the end.
      session = await this.deps.sessions.resolve(req.headers, {
        trustCached: (userId, checkedAt) => (this.deps.hub.followingSince(userId) ?? Infinity) < checkedAt,
      });
    } catch (error) {
      this.deps.logger.error({ err: error }, 'session check failed');
      return this.refuse(socket, 'STORE_UNAVAILABLE');
    }
    if (!session) return this.refuse(socket, 'SESSION_INVALID');
    if (socket.destroyed) return;
    if (this.draining) return this.refuse(socket, 'SHUTTING_DOWN');
    // No await between this check and the hub taking the socket, so concurrent upgrades cannot overshoot.
    if (this.deps.hub.socketCount(session.userId) >= this.options.maxSocketsPerUser) {
      return this.refuse(socket, 'TOO_MANY_CONNECTIONS');
    }
    const admitted: Admitted = { session, channels: query.channels, from: query.from };
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, admitted));
    } catch (error) {
      // ws itself failed while taking the socket over: it may have answered 101 already.
      this.handlerFailed('upgrade', error, session.userId);
      socket.destroy();
    }
  }

  /** Takes an upgraded socket into the hub. A throw closes this socket with 1011 and is reported once. */
  private accept(ws: WebSocket, admitted: Admitted): void {
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
      this.deps.hub.join(conn, admitted.from).catch(failed);
    } catch (error) {
      failed(error);
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

  private connect(ws: WebSocket, { session, channels, from }: Admitted): Connection {
    const { hub, metrics, logger } = this.deps;
    const conn = new Connection(ws, session.userId, session.sessionId, channels, this.connectionContext);
    metrics.connects.inc();
    logger.info({ event: 'ws-connect', userId: session.userId, resume: from.since !== undefined }, 'socket connected');
    ws.on('error', (error: Error & { code?: string }) => {
      const code = protocolCloseCode(error.code);
      if (code !== undefined) {
        // ws has already sent the close frame and stopped reading; the client may never answer it.
        conn.closedByProtocol(code);
        if (code === CLOSE_CODES.MESSAGE_TOO_BIG) metrics.protocolErrors.labels('MESSAGE_TOO_BIG').inc();
      }
      logger.debug({ err: error, userId: session.userId }, 'socket error');
    });
    ws.on('close', (code, reason) => {
      conn.closed = true;
      hub.leave(conn);
      // Count what the server decided (1009, 1013, 4401...), not what a client echoed or 1006 after a cut.
      const closedWith = conn.closeCode ?? code;
      metrics.closes.labels(String(closedWith)).inc();
      logger.info(
        { event: 'ws-close', userId: session.userId, code: closedWith, clientCode: code, reason: reason.toString(), durationMs: Date.now() - conn.openedAt },
        'socket closed',
      );
    });
    return conn;
  }

  /** Pings every socket, ends those that missed the last pong, and closes sockets of ended sessions. */
  private beat(): void {
    for (const conn of this.deps.hub.connections()) {
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
    void this.sweepSessions();
  }

  /** Finds sessions that expired or were deleted behind better-auth's back (no hook fired). */
  async sweepSessions(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const bySession = new Map<string, string>();
      for (const conn of this.deps.hub.connections()) bySession.set(conn.sessionId, conn.userId);
      const ids = [...bySession.keys()];
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const valid = await this.deps.sessions.stillValid(chunk);
        for (const id of chunk) {
          if (valid.has(id)) continue;
          this.deps.sessions.forget(id);
          this.deps.hub.endSession(bySession.get(id)!, id, 'sweep');
        }
      }
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'session sweep failed; will retry at the next heartbeat');
    } finally {
      this.sweeping = false;
    }
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
    return req.socket.remoteAddress ?? 'unknown';
  }

  private refuse(socket: Duplex, code: HttpErrorCode, message?: string): void {
    this.deps.metrics.upgradeRejections.labels(String(HTTP_ERRORS[code].status), code).inc();
    reject(socket, code, message);
  }
}

/** An upgrade that passed every check: who it is for and how the socket starts. */
interface Admitted {
  session: ResolvedSession;
  channels: Channel[];
  from: JoinFrom;
}

/** Parses `?since=<log id>&channels=a,b`. */
function parseJoinQuery(params: URLSearchParams): { from: JoinFrom; channels: Channel[] } | { error: string } {
  const since = params.get('since');
  if (since !== null && (since.length === 0 || since.length > 100)) return { error: 'since must be a log id' };
  const raw = params.get('channels');
  let channels: Channel[] = ['all'];
  if (raw !== null) {
    const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = names.find((n) => !(CHANNELS as readonly string[]).includes(n));
    if (bad !== undefined || names.length === 0) return { error: `channels must be a comma list of ${CHANNELS.join(', ')}` };
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

/** Answers an upgrade with an HTTP error and a JSON body, then closes the TCP connection. */
function reject(socket: Duplex, code: HttpErrorCode, message?: string): void {
  if (socket.destroyed) return;
  const { status } = HTTP_ERRORS[code];
  const body = JSON.stringify({ error: message ?? HTTP_ERRORS[code].message, code });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
      SECURITY_HEADER_LINES.map((line) => `${line}\r\n`).join('') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('finish', () => socket.destroy());
}
