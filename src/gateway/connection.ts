import type { WebSocket } from 'ws';
import { CLOSE_REASONS, type CloseReason, PROTOCOL_ERRORS, type ProtocolErrorCode } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { CHANNELS, CLIENT_MESSAGE_TYPES, type Channel } from '../protocol/constants.js';
import type { ServerMessage } from '../protocol/messages.js';
import type { BusMessage } from '../bus/bus.js';
import { TokenBucket } from './token-bucket.js';

export interface ConnectionLimits {
  maxBufferedBytes: number;
  rateLimit: { perSecond: number; burst: number };
}

/** What a connection needs from the rest of the gateway. */
export interface ConnectionContext {
  limits: ConnectionLimits;
  metrics: Metrics;
  clearLogs(userId: string): Promise<void>;
  onProtocolError?(conn: Connection, code: ProtocolErrorCode): void;
  onInternalError(conn: Connection, error: unknown): void;
}

/**
 * Where the socket is in its user's stream:
 * - joining: initial-logs not sent yet; bus messages wait in `pending`;
 * - catching-up: filling a gap from the store; bus messages wait in `pending`;
 * - live: bus messages are delivered as they come.
 */
export type StreamState = 'joining' | 'catching-up' | 'live';

/** One authenticated WebSocket: its subscriptions, its place in the stream, its budgets. */
export class Connection {
  readonly openedAt = Date.now();
  readonly channels: Set<Channel>;
  state: StreamState = 'joining';
  /** Sequence number of the last log or clear this socket has been sent (or skipped as unsubscribed). */
  lastSeq = 0;
  pending: BusMessage[] = [];
  alive = true;
  closed = false;
  private readonly bucket: TokenBucket;
  private rejectedSinceError = -1;
  private early: Array<{ data: Buffer; isBinary: boolean }> = [];

  constructor(
    readonly ws: WebSocket,
    readonly userId: string,
    readonly sessionId: string,
    channels: Channel[],
    private readonly ctx: ConnectionContext,
  ) {
    this.channels = new Set(channels);
    this.bucket = new TokenBucket(ctx.limits.rateLimit.perSecond, ctx.limits.rateLimit.burst);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
  }

  wants(kind: 'logs' | 'jobs'): boolean {
    return this.channels.has('all') || this.channels.has(kind);
  }

  /** Sends a message built by the server; never validated again (the server made it). */
  send(message: ServerMessage): void {
    this.sendRaw(Buffer.from(JSON.stringify(message)), message.type);
  }

  /**
   * Sends an already serialized message (fan-out serializes once for all sockets). A socket whose unsent
   * buffer passes MAX_BUFFERED_BYTES is closed as a slow consumer rather than buffered without bound.
   */
  sendRaw(payload: Buffer, type: ServerMessage['type'], count = true): boolean {
    if (this.closed) return false;
    this.ws.send(payload, { binary: false });
    if (count) this.ctx.metrics.messagesSent.labels(type).inc();
    if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) {
      this.ctx.metrics.slowConsumerDisconnects.inc();
      this.close('SLOW_CONSUMER');
      return false;
    }
    return true;
  }

  /** Closes with the catalog's code and reason; later sends are dropped. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    const { code, reason: text } = CLOSE_REASONS[reason];
    this.ws.close(code, text);
    if (reason === 'SLOW_CONSUMER') {
      // The client is not reading, so the close handshake may never complete: free the socket soon.
      setTimeout(() => this.ws.terminate(), 1000).unref();
    }
  }

  /** Marks the socket joined and handles what the client sent while it was joining. */
  processEarlyMessages(): void {
    const early = this.early;
    this.early = [];
    for (const frame of early) this.handle(frame.data, frame.isBinary);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!this.bucket.take()) {
      this.ctx.metrics.messagesReceived.labels('rate-limited').inc();
      if (this.rejectedSinceError < 0) {
        this.rejectedSinceError = 0;
        this.error('RATE_LIMITED');
      } else if (++this.rejectedSinceError > this.ctx.limits.rateLimit.perSecond) {
        // Told once and still going after a second's worth of messages: disconnect.
        this.ctx.metrics.rateLimitDisconnects.inc();
        this.close('RATE_LIMITED');
      }
      return;
    }
    this.rejectedSinceError = -1;
    if (this.state === 'joining') this.early.push({ data, isBinary });
    else this.handle(data, isBinary);
  }

  private handle(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    let message: unknown;
    try {
      if (isBinary) throw new Error('binary frame');
      message = JSON.parse(data.toString('utf8'));
    } catch {
      this.ctx.metrics.messagesReceived.labels('invalid').inc();
      return this.error('INVALID_MESSAGE_FORMAT');
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      this.ctx.metrics.messagesReceived.labels('invalid').inc();
      return this.error('INVALID_MESSAGE_FORMAT');
    }
    const { type, channel } = message as { type?: unknown; channel?: unknown };
    if (typeof type !== 'string') {
      this.ctx.metrics.messagesReceived.labels('invalid').inc();
      return this.error('INVALID_MESSAGE_FORMAT');
    }
    if (!(CLIENT_MESSAGE_TYPES as readonly string[]).includes(type)) {
      this.ctx.metrics.messagesReceived.labels('unknown').inc();
      return this.error('UNKNOWN_MESSAGE_TYPE', type.length > 100 ? `${type.slice(0, 100)}...` : type);
    }
    this.ctx.metrics.messagesReceived.labels(type).inc();
    switch (type) {
      case 'ping':
        return this.send({ type: 'pong' });
      case 'clear-logs':
        // logs-cleared reaches every socket of the user, this one included, through the bus.
        this.ctx.clearLogs(this.userId).catch((error) => this.ctx.onInternalError(this, error));
        return;
      case 'subscribe':
      case 'unsubscribe': {
        if (channel === undefined || channel === null || channel === '') return this.error('MISSING_CHANNEL', type);
        if (typeof channel !== 'string' || !(CHANNELS as readonly string[]).includes(channel)) {
          const shown = typeof channel === 'string' ? channel : JSON.stringify(channel) ?? String(channel);
          return this.error('INVALID_CHANNEL', shown.length > 100 ? `${shown.slice(0, 100)}...` : shown);
        }
        if (type === 'subscribe') this.channels.add(channel as Channel);
        else this.channels.delete(channel as Channel);
        return this.send({ type: type === 'subscribe' ? 'subscribed' : 'unsubscribed', channel: channel as Channel, channels: [...this.channels] });
      }
    }
  }

  private error<C extends ProtocolErrorCode>(code: C, ...args: Parameters<(typeof PROTOCOL_ERRORS)[C]>): void {
    this.ctx.metrics.protocolErrors.labels(code).inc();
    this.ctx.onProtocolError?.(this, code);
    const text = (PROTOCOL_ERRORS[code] as (...a: unknown[]) => string)(...args);
    this.send({ type: 'error', error: text });
  }
}
