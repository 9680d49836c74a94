import WebSocket from 'ws';
import type { ServerMessage, ServerMessageOf } from '../../src/protocol/messages.js';

export interface OpenOptions {
  cookie?: string;
  origin?: string;
  query?: string;
  headers?: Record<string, string>;
}

/**
 * A real `ws` client that records every message, so tests can await the next message of a type
 * instead of sleeping.
 */
export class TestSocket {
  readonly messages: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly taken = new Set<number>();
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as ServerMessage);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
  }

  static open(wsUrl: string, options: OpenOptions = {}): Promise<TestSocket> {
    const url = options.query ? `${wsUrl}?${options.query}` : wsUrl;
    const headers: Record<string, string> = { ...options.headers };
    if (options.cookie) headers.cookie = options.cookie;
    if (options.origin) headers.origin = options.origin;
    const ws = new WebSocket(url, { headers });
    const socket = new TestSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(socket));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  /** Opens a socket and waits for its initial-logs (and initial-jobs when it follows jobs). */
  static async ready(wsUrl: string, options: OpenOptions = {}): Promise<TestSocket> {
    const socket = await TestSocket.open(wsUrl, options);
    await socket.next('initial-logs');
    return socket;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next message not yet taken, of `type` if given; earlier messages of other types stay available. */
  next<T extends ServerMessage['type']>(type?: T, timeoutMs = 5000): Promise<ServerMessageOf<T>> {
    return this.take((m) => type === undefined || m.type === type, timeoutMs, type ?? 'any message') as Promise<ServerMessageOf<T>>;
  }

  /** The next message not yet taken that satisfies `predicate`. */
  take(predicate: (m: ServerMessage) => boolean, timeoutMs = 5000, what = 'a matching message'): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = 0; i < this.messages.length; i++) {
          if (!this.taken.has(i) && predicate(this.messages[i]!)) {
            this.taken.add(i);
            resolve(this.messages[i]!);
            return true;
          }
        }
        if (this.ws.readyState === WebSocket.CLOSED) {
          reject(new Error(`socket closed while waiting for ${what}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.messages.map((m) => m.type))}`));
      }, timeoutMs);
      const waiter = () => {
        if (check()) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== waiter);
        }
      };
      this.waiters.push(waiter);
    });
  }

  /** Waits until `count` messages of `type` have arrived in total (taken or not). */
  until<T extends ServerMessage['type']>(type: T, count: number, timeoutMs = 10_000): Promise<Array<ServerMessageOf<T>>> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      const check = () => {
        const got = this.all(type);
        if (got.length >= count) {
          cleanup();
          resolve(got);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          cleanup();
          reject(new Error(`socket closed with ${got.length} of ${count} ${type} messages`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out with ${this.all(type).length} of ${count} ${type} messages`));
      }, timeoutMs);
      this.waiters.push(check);
      check();
    });
  }

  /** Every message of a type received so far. */
  all<T extends ServerMessage['type']>(type: T): Array<ServerMessageOf<T>> {
    return this.messages.filter((m) => m.type === type) as Array<ServerMessageOf<T>>;
  }

  /** Sends a ping and waits for its pong: everything the server sent before is then received. */
  async roundTrip(): Promise<void> {
    this.send({ type: 'ping' });
    await this.next('pong');
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    return this.closed;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Attempts an upgrade that should be refused; returns the HTTP status and parsed JSON body. */
export async function refusedUpgrade(wsUrl: string, options: OpenOptions = {}): Promise<{ status: number; body: any }> {
  try {
    const socket = await TestSocket.open(wsUrl, options);
    await socket.close();
  } catch (error) {
    const e = error as { status?: number; body?: string };
    if (e.status === undefined) throw error;
    return { status: e.status, body: e.body ? JSON.parse(e.body) : undefined };
  }
  throw new Error('the upgrade was accepted');
}
