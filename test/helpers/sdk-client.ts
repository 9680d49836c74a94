import WebSocket from 'ws';
import type { ClientEvents, ClientOptions, LivetailClient, StateChange, WebSocketConstructor } from '../../src/client/index.js';
import { createClient } from '../../src/client/index.js';
import type { LogEntry } from '../../src/protocol/index.js';

export interface RecordingWebSocket {
  /** Pass as the client's `WebSocket` option. */
  WebSocket: WebSocketConstructor;
  sockets: WebSocket[];
  closeCodes: number[];
  gate: { open: boolean };
}

/**
 * A `ws` WebSocket class that keeps every socket it creates, so a test can count connection attempts,
 * see the URLs and close codes, or pause a socket's reading (a client that stops reading). While
 * `gate.open` is false it connects to a port where nothing listens, so every attempt is refused.
 */
export function recordingWebSocket(): RecordingWebSocket {
  const sockets: WebSocket[] = [];
  const closeCodes: number[] = [];
  const gate = { open: true };
  class Recording extends WebSocket {
    constructor(url: string, options?: WebSocket.ClientOptions) {
      super(gate.open ? url : 'ws://127.0.0.1:1/ws', options);
      sockets.push(this);
      this.on('close', (code) => closeCodes.push(code));
    }
  }
  return { WebSocket: Recording, sockets, closeCodes, gate };
}

/**
 * A client of the SDK with everything it emitted recorded, so tests can await a condition instead of
 * sleeping: each `until` is re-checked after every event.
 */
export class SdkRecorder {
  readonly logs: LogEntry[] = [];
  readonly states: StateChange[] = [];
  readonly events: Array<{ name: keyof ClientEvents; payload: unknown }> = [];
  private waiters: Array<() => void> = [];

  constructor(readonly client: LivetailClient) {
    const names: Array<keyof ClientEvents> = ['log', 'initial-logs', 'reset', 'job-event', 'initial-jobs', 'logs-cleared', 'state', 'error'];
    for (const name of names) {
      client.on(name, ((payload: unknown) => {
        this.events.push({ name, payload });
        if (name === 'log') this.logs.push(payload as LogEntry);
        if (name === 'state') this.states.push(payload as StateChange);
        for (const waiter of [...this.waiters]) waiter();
      }) as never);
    }
  }

  /** Resolves once `condition` holds (checked now and after each event); rejects after `timeoutMs`. */
  until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      if (condition()) return resolve();
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; states ${this.states.map((s) => s.state).join(' → ')}`));
      }, timeoutMs);
      const waiter = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  /** Waits for the `count`-th `state` event with this state since the client was created. */
  nth(state: StateChange['state'], count = 1, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.states.filter((s) => s.state === state).length >= count, `state ${state} #${count}`, timeoutMs);
  }

  /** Every payload emitted for `name`, in order. */
  all<K extends keyof ClientEvents>(name: K): Array<ClientEvents[K]> {
    return this.events.filter((e) => e.name === name).map((e) => e.payload as ClientEvents[K]);
  }

  commands(): string[] {
    return this.logs.map((l) => l.command);
  }
}

/** Creates an SDK client with recorded events; small backoff so reconnect tests are fast. */
export function recordedClient(options: ClientOptions): SdkRecorder {
  return new SdkRecorder(createClient({ backoff: { baseMs: 10, capMs: 50, stableAfterMs: 1000 }, ...options }));
}
