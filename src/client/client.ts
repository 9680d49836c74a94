import { CHANNELS, type Channel, type ProtocolErrorCode, SINCE_THE_START, TERMINAL_CLOSE_CODES } from '../protocol/constants.js';
import type { JobEventData, LogEntry } from '../protocol/log-entry.js';
import type { ClientMessage, ServerMessage } from '../protocol/messages.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { RecentIds } from './recent-ids.js';
import { askWhyRefused, type CheckAnswer, type RefusalReason, refusalState } from './refusal-check.js';
import { OPEN, type WebSocketConstructor, type WebSocketLike, defaultWebSocket } from './websocket.js';

/**
 * `unauthenticated` (no valid session, or it ended) and `forbidden` (the page's Origin is not trusted)
 * stop reconnecting until `reconnect()`; `rate-limited` waits at least the server's Retry-After, then
 * tries again; `closed` is for good.
 */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'rate-limited' | 'unauthenticated' | 'forbidden' | 'closed';

export type { RefusalReason } from './refusal-check.js';

/** What the `state` event carries. */
export interface StateChange {
  state: ClientState;
  /**
   * With `connecting`: 0 for the first connection, else the attempt since the last stable connection.
   * With `reconnecting` and `rate-limited`: the attempt that will be made at `retryAt`.
   */
  attempt?: number;
  /** With `reconnecting` and `rate-limited`: when the next attempt starts (epoch ms). */
  retryAt?: number;
  /**
   * With `reconnecting`, `rate-limited`, `unauthenticated` and `forbidden`: the close code that ended the
   * last connection (1006: cut or refused; 4401: the session ended).
   */
  code?: number;
  /** After a refused upgrade: why, as the server answered the check (`{ code, message, status }`). */
  reason?: RefusalReason;
}

/** What the `error` event carries. The client goes on (or has already decided to stop) by itself. */
export interface ClientError {
  message: string;
  /**
   * PROTOCOL_ERROR: the server answered a message with `{ type: "error" }`;
   * SOCKET_ERROR: the connection failed (it will be retried);
   * UPGRADE_REFUSED: the server refused the upgrade with an HTTP status (Node only; browsers do not tell).
   */
  code?: 'PROTOCOL_ERROR' | 'SOCKET_ERROR' | 'UPGRADE_REFUSED';
  /**
   * With PROTOCOL_ERROR: the catalog's code the server sent beside its text (`RATE_LIMITED`,
   * `INVALID_CHANNEL`…, see docs/protocol.md): match on it, never on `message`. Absent when the server
   * sent none (a server older than the field).
   */
  serverCode?: ProtocolErrorCode;
}

/** Every event of the client and what its listeners receive. */
export interface ClientEvents {
  /** Every log exactly once, in order, across reconnects: backlogs and the live stream alike. */
  log: LogEntry;
  /**
   * A (re)connect's backlog, de-duplicated, just before its logs are emitted one by one as `log`.
   * `truncated` is true when a `reset` came right before it.
   */
  'initial-logs': { logs: LogEntry[]; truncated: boolean };
  /** The server could not resume from the last log: drop the view; the backlog that follows redraws it. */
  reset: void;
  'job-event': JobEventData;
  /** The latest state of the user's recent jobs, most recent first: replace the app's job state. */
  'initial-jobs': JobEventData[];
  'logs-cleared': { timestamp: string };
  state: StateChange;
  error: ClientError;
}

export interface ClientOptions {
  /** The WebSocket endpoint, e.g. `ws://localhost:3002/ws`. */
  url: string;
  /** Headers for the upgrade request, e.g. `{ cookie }`. Node only: browsers send the cookie themselves. */
  headers?: Record<string, string>;
  /** Resume after this log id on the first connect (later connects resume after the last delivered log). */
  since?: string;
  /** Initial subscriptions; default `['all']`. */
  channels?: Channel[];
  /** The WebSocket constructor; default: `ws` in Node, the native WebSocket in browsers. */
  WebSocket?: WebSocketConstructor;
  backoff?: BackoffOptions;
  /** How often to send an application ping. Default 15 000 ms. */
  pingIntervalMs?: number;
  /** Reconnect when nothing at all arrives this long after a ping. Default 10 000 ms. */
  pongTimeoutMs?: number;
}

/** How many delivered log ids are remembered to recognise a duplicate. */
const DEDUP_WINDOW = 10_000;
/** How long close() waits for the server's half of the close handshake before cutting the connection. */
const CLOSE_TIMEOUT_MS = 1000;
const NORMAL_CLOSURE = 1000;
const ABNORMAL_CLOSURE = 1006;
/** How long `rate-limited` waits at least when the server sent no Retry-After (the server's default window). */
const RATE_LIMITED_WAIT_MS = 10_000;

/** What is known about the current connection attempt when it ends. */
interface Attempt {
  /** The URL the upgrade went to: the check asks about the same one. */
  url: string;
  opened: boolean;
  /** The HTTP status of a refused upgrade, when the WebSocket implementation tells it (`ws`). */
  status?: number;
  /** The implementation said the connection failed without an HTTP answer (`ws`: refused, reset, DNS). */
  networkFailure: boolean;
}

/** Handlers that ignore everything: `ws` throws on an `error` event nobody listens to. */
const ignore = () => {};

/**
 * A livetail connection that stays up: it reconnects with backoff, resumes after the last log it
 * delivered, restores its subscriptions and drops duplicates, so the application sees every log exactly
 * once and in order. After an upgrade that failed before the socket opened it asks the server why
 * (one check per failed attempt): it stops when the session is missing or ended (401, 4401) or the
 * Origin is not trusted (403) until `reconnect()`, and waits long when rate limited (429). It stops for
 * good after close().
 */
export class LivetailClient extends Emitter<ClientEvents> {
  private readonly url: URL;
  private readonly headers: Record<string, string> | undefined;
  private readonly wanted: Set<Channel>;
  private readonly backoff: Backoff;
  private readonly delivered = new RecentIds(DEDUP_WINDOW);
  private readonly pingIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private readonly WebSocketImpl: Promise<WebSocketConstructor>;
  private current: ClientState = 'connecting';
  private last: string | undefined;
  /** Whether an initial-logs was received: the client has a view, even an empty one, to continue. */
  private joined = false;
  private ws: WebSocketLike | undefined;
  private attempt: Attempt | undefined;
  /** Aborts the check in flight (close() while the server is asked why it refused). */
  private checking: AbortController | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    super();
    this.url = new URL(options.url);
    if (this.url.protocol !== 'ws:' && this.url.protocol !== 'wss:') {
      throw new TypeError(`livetail/client: url must start with ws:// or wss:// (got ${options.url})`);
    }
    this.headers = options.headers;
    this.wanted = new Set((options.channels ?? ['all']).map(checkChannel));
    this.last = options.since;
    this.backoff = new Backoff(options.backoff);
    this.pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.pongTimeoutMs = options.pongTimeoutMs ?? 10_000;
    this.WebSocketImpl = options.WebSocket ? Promise.resolve(options.WebSocket) : defaultWebSocket();
    this.WebSocketImpl.catch(ignore); // reported by connect()
    // After the caller's synchronous `on(...)` calls, so they see the first `state` event.
    queueMicrotask(() => void this.connect(0));
  }

  get state(): ClientState {
    return this.current;
  }

  /** The id of the last log delivered (or `options.since` until one is): where a reconnect resumes. */
  get lastLogId(): string | undefined {
    return this.last;
  }

  /** The channels the client follows now and restores on every reconnect. */
  get channels(): Channel[] {
    return [...this.wanted];
  }

  /** Follows a channel, now if connected, and after every reconnect. */
  subscribe(channel: Channel): void {
    this.wanted.add(checkChannel(channel));
    this.send({ type: 'subscribe', channel });
  }

  unsubscribe(channel: Channel): void {
    this.wanted.delete(checkChannel(channel));
    this.send({ type: 'unsubscribe', channel });
  }

  /** Asks the server to delete the user's logs; `logs-cleared` follows. False when not connected (nothing sent). */
  clearLogs(): boolean {
    return this.send({ type: 'clear-logs' });
  }

  /**
   * Connects again now, resuming after the last delivered log: after `unauthenticated` (once the user
   * signed in again) or `forbidden` (once the origin is trusted), or instead of waiting for the retry
   * that `reconnecting` or `rate-limited` scheduled. Does nothing while connecting or open, nor after close().
   */
  reconnect(): void {
    if (this.current === 'closed' || this.current === 'connecting' || this.current === 'open') return;
    clearTimeout(this.retryTimer);
    void this.connect(this.backoff.attempts);
  }

  /** Closes the connection for good. Idempotent; resolves when the socket is closed. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      clearTimeout(this.retryTimer);
      this.checking?.abort();
      this.checking = undefined;
      this.stopPinging();
      const ws = this.ws;
      this.ws = undefined;
      if (this.current !== 'closed') this.setState({ state: 'closed' });
      if (!ws) return resolve();
      detach(ws);
      const timer = setTimeout(() => {
        ws.terminate?.();
        resolve();
      }, CLOSE_TIMEOUT_MS);
      ws.onclose = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.close(NORMAL_CLOSURE);
    });
    return this.closing;
  }

  /** Not reconnecting by itself: closed, or waiting for `reconnect()`. */
  private get stopped(): boolean {
    return this.current === 'closed' || this.current === 'unauthenticated' || this.current === 'forbidden';
  }

  private async connect(attempt: number): Promise<void> {
    if (this.current === 'closed') return;
    this.setState({ state: 'connecting', attempt });
    let ws: WebSocketLike;
    try {
      const WebSocketImpl = await this.WebSocketImpl;
      if (this.stopped) return;
      const url = this.connectUrl();
      this.attempt = { url, opened: false, networkFailure: false };
      ws = new WebSocketImpl(url, this.headers ? { headers: this.headers } : undefined);
    } catch (error) {
      // No WebSocket implementation, or one that refuses the URL: retrying cannot help.
      this.emit('error', { message: messageOf(error), code: 'SOCKET_ERROR' });
      void this.close();
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.opened(ws);
    ws.onmessage = (event: { data: unknown }) => {
      if (ws === this.ws && typeof event.data === 'string') this.received(event.data);
    };
    ws.onerror = (event) => this.failed(event);
    ws.onclose = (event: { code: number }) => this.ended(ws, event.code);
  }

  /** The endpoint with where to resume and what to follow. */
  private connectUrl(): string {
    const url = new URL(this.url);
    // A client that joined but delivered no log yet (the user had none) resumes from the start: without
    // it the reconnect would get only the newest INITIAL_LOGS and could miss some.
    const since = this.last ?? (this.joined ? SINCE_THE_START : undefined);
    if (since !== undefined) url.searchParams.set('since', since);
    // An empty set cannot be written in the query: connect with the default and unsubscribe once open.
    if (this.wanted.size > 0) url.searchParams.set('channels', [...this.wanted].join(','));
    return url.toString();
  }

  private opened(ws: WebSocketLike): void {
    if (ws !== this.ws) return;
    if (this.attempt) this.attempt.opened = true;
    this.backoff.opened();
    if (this.wanted.size === 0) this.send({ type: 'unsubscribe', channel: 'all' });
    this.pingTimer = setInterval(() => this.ping(ws), this.pingIntervalMs);
    this.setState({ state: 'open' });
  }

  private received(data: string): void {
    // Anything from the server proves the connection alive, not only the pong.
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
    let message: ServerMessage;
    try {
      message = JSON.parse(data) as ServerMessage;
    } catch {
      this.emit('error', { message: 'The server sent a message that is not JSON', code: 'PROTOCOL_ERROR' });
      return;
    }
    switch (message.type) {
      case 'initial-logs': {
        const rejoined = this.joined;
        this.joined = true;
        // Truncated after a log the client delivered (or options.since), or from the start (more was
        // stored than one backlog holds): the view has a hole the server cannot fill, and what follows
        // is the newest stored history to redraw from.
        const reset = message.truncated === true && (this.last !== undefined || rejoined);
        if (reset) {
          this.delivered.clear();
          this.emit('reset');
        }
        const fresh = message.logs.filter((log) => this.remember(log));
        this.emit('initial-logs', { logs: fresh, truncated: reset });
        for (const log of fresh) {
          if (this.stopped) return;
          this.emit('log', log);
        }
        return;
      }
      case 'log':
        if (this.remember(message.log)) this.emit('log', message.log);
        return;
      case 'initial-jobs':
        return this.emit('initial-jobs', message.jobs);
      case 'job-event':
        return this.emit('job-event', message.data);
      case 'logs-cleared':
        return this.emit('logs-cleared', { timestamp: message.timestamp });
      case 'error':
        return this.emit('error', message.code === undefined ? { message: message.error, code: 'PROTOCOL_ERROR' } : { message: message.error, code: 'PROTOCOL_ERROR', serverCode: message.code });
      default:
        return; // pong, subscribed, unsubscribed: nothing for the application
    }
  }

  /** Records a log as delivered; false when it already was (a duplicate). */
  private remember(log: LogEntry): boolean {
    if (this.delivered.has(log.id)) return false;
    this.delivered.add(log.id);
    this.last = log.id;
    return true;
  }

  private ping(ws: WebSocketLike): void {
    if (this.pongTimer !== undefined) return; // still waiting for the last one
    this.send({ type: 'ping' });
    this.pongTimer = setTimeout(() => {
      // Nothing at all for pongTimeoutMs: the connection is dead even if the socket does not know yet.
      if (ws !== this.ws) return;
      detach(ws);
      if (ws.terminate) ws.terminate();
      else ws.close();
      this.ended(ws, ABNORMAL_CLOSURE);
    }, this.pongTimeoutMs);
  }

  private failed(event: unknown): void {
    const message = messageOf(event);
    // `ws` reports a refused upgrade as "Unexpected server response: 401".
    const status = /Unexpected server response: (\d{3})/.exec(message)?.[1];
    if (this.attempt && !this.attempt.opened) {
      if (status !== undefined) this.attempt.status = Number(status);
      // A browser's error event says nothing; `ws` says what failed ("connect ECONNREFUSED …").
      else if (hasMessage(event)) this.attempt.networkFailure = true;
    }
    this.emit('error', { message, code: status !== undefined ? 'UPGRADE_REFUSED' : 'SOCKET_ERROR' });
  }

  private ended(ws: WebSocketLike, code: number): void {
    if (ws !== this.ws) return;
    detach(ws);
    this.ws = undefined;
    this.stopPinging();
    const attempt = this.attempt;
    this.attempt = undefined;
    if (this.stopped) return;
    if (TERMINAL_CLOSE_CODES.includes(code)) {
      this.setState({ state: 'unauthenticated', code });
      return;
    }
    // Failed before opening, and not known to be the network: the server may have refused it.
    if (attempt && !attempt.opened && !attempt.networkFailure) {
      void this.askWhy(attempt, code);
      return;
    }
    this.retry('reconnecting', code);
  }

  /** Asks the server why the upgrade failed (once per failed attempt: the check counts against its rate limit). */
  private async askWhy(attempt: Attempt, code: number): Promise<void> {
    const checking = new AbortController();
    this.checking = checking;
    let answer: CheckAnswer = await askWhyRefused(attempt.url, this.headers, checking.signal);
    if (this.checking !== checking || this.stopped) return; // closed meanwhile
    this.checking = undefined;
    // No check on that server, but `ws` told the upgrade's status: that much is known.
    if (answer.kind === 'unknown' && attempt.status !== undefined) {
      answer = { kind: 'refused', reason: { message: `Unexpected server response: ${attempt.status}`, status: attempt.status } };
    }
    if (answer.kind !== 'refused') return this.retry('reconnecting', code);
    const { reason, retryAfterMs } = answer;
    const state = refusalState(reason.status);
    if (state === 'unauthenticated' || state === 'forbidden') return this.setState({ state, code, reason });
    this.retry(state, code, reason, retryAfterMs ?? (state === 'rate-limited' ? RATE_LIMITED_WAIT_MS : 0));
  }

  /** Schedules the next attempt: full-jitter backoff, and never before the server's Retry-After. */
  private retry(state: 'reconnecting' | 'rate-limited', code: number, reason?: RefusalReason, atLeastMs = 0): void {
    const delay = atLeastMs > 0 ? this.backoff.nextAtLeast(atLeastMs) : this.backoff.next();
    const attempt = this.backoff.attempts;
    this.setState({ state, attempt, retryAt: Date.now() + delay, code, ...(reason ? { reason } : {}) });
    this.retryTimer = setTimeout(() => void this.connect(attempt), delay);
  }

  private stopPinging(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = undefined;
    this.pongTimer = undefined;
  }

  /** Sends when open; false otherwise (subscriptions are restored from `wanted` on the next connect). */
  private send(message: ClientMessage): boolean {
    if (this.ws?.readyState !== OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  private setState(change: StateChange): void {
    this.current = change.state;
    this.emit('state', change);
  }
}

function checkChannel(channel: Channel): Channel {
  if (!(CHANNELS as readonly string[]).includes(channel)) {
    throw new TypeError(`livetail/client: unknown channel ${JSON.stringify(channel)} (expected one of ${CHANNELS.join(', ')})`);
  }
  return channel;
}

function detach(ws: WebSocketLike): void {
  ws.onopen = ignore;
  ws.onmessage = ignore;
  ws.onerror = ignore;
  ws.onclose = ignore;
}

function hasMessage(value: unknown): boolean {
  const message = (value as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && message.length > 0;
}

function messageOf(value: unknown): string {
  const v = value as { message?: unknown; error?: { message?: unknown } } | undefined;
  if (typeof v?.message === 'string' && v.message) return v.message;
  if (typeof v?.error?.message === 'string') return v.error.message;
  return 'WebSocket error';
}
