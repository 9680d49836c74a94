import type { Socket } from 'node:net';
import { CLOSE_REASONS, type CloseReason, PROTOCOL_ERRORS, type ProtocolErrorCode } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Channel } from '../protocol/constants.js';
import type { ServerMessage } from '../protocol/messages.js';
import { readClientFrame } from './client-frame.js';
import type { GatewaySocket, SocketOwner } from './gateway-socket.js';
import { type BurstMember, type SendBursts, rawSocketOf } from './socket-writes.js';
import { StreamCursor } from './stream-cursor.js';
import { TokenBucket } from './token-bucket.js';

export interface ConnectionLimits {
  maxBufferedBytes: number;
  rateLimit: { perSecond: number; burst: number };
}

/** What a connection needs from the rest of the gateway. */
export interface ConnectionContext {
  limits: ConnectionLimits;
  /** The gateway's grouping of synchronous runs of sends (see socket-writes.ts). */
  bursts: SendBursts;
  metrics: Metrics;
  clearLogs(userId: string): Promise<void>;
  /** A request of the client failed later, outside the frame's handling (the store did not clear). */
  onInternalError(conn: Connection, error: unknown): void;
  /**
   * Handling one of the socket's frames threw (a bug): report it. The connection closes itself with 1011
   * right after, and the process carries on.
   */
  onHandlerError(conn: Connection, error: unknown): void;
  /** ws reported an error on the socket (a frame it refused, a reset): `error.code` says which. */
  onSocketError(conn: Connection, error: Error & { code?: string }): void;
  /** The WebSocket has closed, whoever began it; the connection has stopped already. */
  onClosed(conn: Connection, code: number, reason: Buffer): void;
}

/**
 * How long a client that broke the rules (too slow, too fast, a broken frame) gets to complete the close
 * handshake before its TCP connection is cut: such a client may never answer, and ws would wait 30 s.
 */
export const CLOSE_GRACE_MS = 1000;

/** The channels of a socket that asked for none in particular: one Set for all of them (memory per socket). */
const ALL_CHANNELS: ReadonlySet<Channel> = new Set<Channel>(['all']);

/**
 * A Connection's yes/no state, bits of one small integer: four boolean fields took four pointer-sized
 * slots on every socket (memory per socket, bench/results/history.md).
 */
const ALIVE = 1; // answered the last heartbeat ping (or sent any pong since)
const ENDED = 2; // nothing more is sent: the server closed the socket, or the client did
const WARNED = 4; // told "Rate limit exceeded" and not yet back within its rate
const IN_BURST = 8; // a synchronous run of sends is under way (the slow-consumer check is made at its start)

/** One authenticated WebSocket: its subscriptions, its place in the stream, its budgets. */
export class Connection implements BurstMember, SocketOwner {
  readonly openedAt = Date.now();
  /** What the socket follows; the common `all` is one Set shared by every socket until it changes its own. */
  private followed: ReadonlySet<Channel>;
  /** Its place in its user's stream: what it is sent of it, and when (the hub asks it, see hub.ts). */
  readonly cursor = new StreamCursor();
  /** ALIVE, ENDED, WARNED, IN_BURST. */
  private flags = ALIVE;
  /** The close code the server sent, when the server ended the socket (undefined when the client did). */
  closeCode: number | undefined;
  /** Made at the first frame the client sends (most never send one): it starts full either way. */
  private bucket: TokenBucket | undefined;
  private rejectedSinceWarning = 0;
  /** What the client sent while the socket was joining; made at the first such frame (rare). */
  private early: Array<{ data: Buffer; isBinary: boolean }> | undefined;
  /** The TCP socket, when prebuilt frames may be written to it directly (see socket-writes.ts). */
  private readonly socket: Socket | undefined;

  constructor(
    readonly ws: GatewaySocket,
    readonly userId: string,
    readonly sessionId: string,
    channels: Channel[],
    private readonly ctx: ConnectionContext,
  ) {
    this.followed = channels.length === 1 && channels[0] === 'all' ? ALL_CHANNELS : new Set(channels);
    this.socket = rawSocketOf(ws);
    // The socket hands its events to this connection: no listeners, no closures per socket (gateway-socket.ts).
    ws.owner = this;
  }

  onSocketMessage(data: Buffer, isBinary: boolean): void {
    this.guard(() => this.onFrame(data, isBinary));
  }

  /**
   * Control frames spend the budget like messages, or a ping flood would be free. The server answers
   * pings itself (ws's autoPong is off): ws's own answer came before any budget, and past 60 pongs not
   * yet written it cut the socket without a close frame (1006) instead of the documented 1008.
   */
  onSocketPing(data: Buffer): void {
    this.guard(() => {
      if (!this.closed && this.admit()) this.ws.pong(data);
    });
  }

  onSocketPong(): void {
    this.flags |= ALIVE; // even over the rate: the client is there
    this.guard(() => {
      if (!this.closed) this.admit();
    });
  }

  onSocketError(error: Error & { code?: string }): void {
    this.ctx.onSocketError(this, error);
  }

  onSocketClose(code: number, reason: Buffer): void {
    this.onClosed();
    this.ctx.onClosed(this, code, reason);
  }

  /**
   * Runs the handling of one frame. Whatever it throws ends this socket (1011, reported once through
   * the context), never the process and never another socket.
   */
  private guard(handle: () => void): void {
    try {
      handle();
    } catch (error) {
      this.ctx.onHandlerError(this, error);
      try {
        this.close('INTERNAL_ERROR');
      } catch {
        this.ws.terminate();
      }
    }
  }

  /** True once nothing more is sent: the server closed the socket, or the client did. */
  get closed(): boolean {
    return (this.flags & ENDED) !== 0;
  }

  /** The WebSocket has closed (whoever began it). */
  private onClosed(): void {
    this.flags |= ENDED;
    this.cursor.stop();
  }

  /** The heartbeat: pings the client, or cuts the socket when it did not answer the last ping. */
  heartbeat(): void {
    if ((this.flags & ALIVE) === 0) {
      this.ws.terminate();
      return;
    }
    this.flags &= ~ALIVE;
    this.ws.ping();
  }

  /** The channels this socket follows (subscribe and unsubscribe change them). */
  get channels(): ReadonlySet<Channel> {
    return this.followed;
  }

  wants(kind: 'logs' | 'jobs'): boolean {
    return this.followed.has('all') || this.followed.has(kind);
  }

  /** Sends a message built by the server; never validated again (the server made it). */
  send(message: ServerMessage): void {
    this.sendRaw(Buffer.from(JSON.stringify(message)), message.type);
  }

  /**
   * Sends an already serialized message (fan-out serializes once for all sockets, and may frame it once:
   * `frame` is `textFrame(payload)`). A socket whose unsent buffer passes MAX_BUFFERED_BYTES is closed as
   * a slow consumer rather than buffered without bound.
   *
   * The buffer is judged when a burst of sends begins (the messages one commit fans out, a backlog): what
   * is still unsent then, the client failed to read since the last burst. Within a burst the buffer may
   * pass the limit (the writes are corked until it ends, and one resume can be bigger than the limit) —
   * a client that reads is not taken for a slow one, and a socket holds at most the limit plus one burst.
   *
   * `frame` may come in parts, written one after the other (a join's initial-logs shared with other
   * sockets, see join-backlog.ts); `payload` may then be made only when ws has to send it itself.
   */
  sendRaw(payload: Buffer | (() => Buffer), type: ServerMessage['type'], count = true, frame?: Buffer | readonly Buffer[]): boolean {
    if (this.closed) return false;
    const socket = this.socket;
    if ((this.flags & IN_BURST) === 0) {
      this.flags |= IN_BURST;
      this.ctx.bursts.join(this);
      if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) {
        this.ctx.metrics.slowConsumerDisconnects.inc();
        this.close('SLOW_CONSUMER');
        return false;
      }
      socket?.cork();
    }
    if (frame && socket && this.ws.readyState === this.ws.OPEN) {
      if (Buffer.isBuffer(frame)) socket.write(frame);
      else for (const part of frame) socket.write(part);
    } else this.ws.send(typeof payload === 'function' ? payload() : payload, { binary: false });
    if (count) this.ctx.metrics.messagesSent.labels(type).inc();
    return true;
  }

  /** The run of sends this socket took part in has ended: its held writes leave now, in one writev. */
  endBurst(): void {
    this.flags &= ~IN_BURST;
    if (this.socket && this.socket.writableCorked > 0) this.socket.uncork();
  }

  /** Closes with the catalog's code and reason; later sends are dropped. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    const { code, reason: text } = CLOSE_REASONS[reason];
    this.markClosed(code);
    this.ws.close(code, text);
    // A client that does not read (slow) or does not listen (flooding) may never complete the handshake.
    if (reason === 'SLOW_CONSUMER' || reason === 'RATE_LIMITED') this.cutAfterGrace();
  }

  /**
   * ws itself failed the connection for a frame it could not accept (1009 too big, 1007 invalid UTF-8,
   * 1002 malformed) and stopped reading from it: record the code and free the socket soon.
   */
  closedByProtocol(code: number): void {
    if (this.closed) return;
    this.markClosed(code);
    this.cutAfterGrace();
  }

  private markClosed(code: number): void {
    this.flags |= ENDED;
    this.closeCode = code;
    // Nothing more will be sent: do not keep what was waiting to be.
    this.cursor.stop();
    this.early = undefined;
  }

  private cutAfterGrace(): void {
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** The socket has joined (its cursor says so): handles what the client sent meanwhile. */
  processEarlyMessages(): void {
    const early = this.early;
    if (early === undefined) return;
    this.early = undefined;
    for (const frame of early) this.guard(() => this.handle(frame.data, frame.isBinary));
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed || !this.admit()) return;
    // A socket's first message is its backlog: what the client sent meanwhile is answered after it.
    if (this.cursor.phase === 'joining') (this.early ??= []).push({ data, isBinary });
    else this.handle(data, isBinary);
  }

  /**
   * Spends a token for an incoming frame. Over the rate the frame is dropped; the first drop is answered
   * with one "Rate limit exceeded", and a second's worth more drops before the client is back within its
   * rate (its bucket full again) closes the socket with 1008. A client slightly over the rate is
   * therefore closed too, after a few seconds, rather than told again and again.
   */
  private admit(): boolean {
    const bucket = (this.bucket ??= new TokenBucket(this.ctx.limits.rateLimit.perSecond, this.ctx.limits.rateLimit.burst));
    if ((this.flags & WARNED) !== 0 && bucket.isFull()) {
      this.flags &= ~WARNED;
      this.rejectedSinceWarning = 0;
    }
    if (bucket.take()) return true;
    this.ctx.metrics.messagesReceived.labels('rate-limited').inc();
    if ((this.flags & WARNED) === 0) {
      this.flags |= WARNED;
      this.sendError('RATE_LIMITED', PROTOCOL_ERRORS.RATE_LIMITED());
    } else if (++this.rejectedSinceWarning > this.ctx.limits.rateLimit.perSecond) {
      this.ctx.metrics.rateLimitDisconnects.inc();
      this.close('RATE_LIMITED');
    }
    return false;
  }

  private handle(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    const frame = readClientFrame(data, isBinary);
    this.ctx.metrics.messagesReceived.labels(frame.kind).inc();
    if (!frame.ok) return this.sendError(frame.code, frame.text);
    const message = frame.message;
    switch (message.type) {
      case 'ping':
        return this.send({ type: 'pong' });
      case 'clear-logs':
        // logs-cleared reaches every socket of the user, this one included, through the bus.
        this.ctx.clearLogs(this.userId).catch((error) => this.ctx.onInternalError(this, error));
        return;
      case 'subscribe':
      case 'unsubscribe': {
        const own = new Set(this.followed); // copy on write: the shared default stays as it is
        if (message.type === 'subscribe') own.add(message.channel);
        else own.delete(message.channel);
        this.followed = own;
        return this.send({ type: message.type === 'subscribe' ? 'subscribed' : 'unsubscribed', channel: message.channel, channels: [...own] });
      }
    }
  }

  /**
   * Answers with a protocol `error` from the catalog: `text` is `PROTOCOL_ERRORS[code](…)`, for people,
   * and `code` beside it for programs. The socket stays open.
   */
  sendError(code: ProtocolErrorCode, text: string): void {
    this.ctx.metrics.protocolErrors.labels(code).inc();
    this.send({ type: 'error', error: text, code });
  }
}
