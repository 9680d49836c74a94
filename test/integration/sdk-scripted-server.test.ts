import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import type { LogEntry, ServerMessage } from '../../src/protocol/index.js';
import { recordedClient, type SdkRecorder } from '../helpers/sdk-client.js';

/**
 * The SDK against a scripted server that breaks the rules livetail keeps (it sends duplicates and
 * overlapping backlogs), over real WebSockets: the SDK's own guarantees must not depend on the server's.
 */
describe('livetail/client against a misbehaving server', () => {
  let wss: WebSocketServer | undefined;
  let client: SdkRecorder | undefined;
  afterEach(async () => {
    await client?.client.close();
    await new Promise((resolve) => wss?.close(resolve));
  });

  /** Starts a server that hands each connection and its URL to `script`. */
  const serve = async (script: (ws: WebSocket, url: URL, n: number) => void) => {
    let n = 0;
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws, req) => script(ws, new URL(req.url!, 'ws://x'), n++));
    await new Promise((resolve) => wss!.once('listening', resolve));
    return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
  };
  const send = (ws: WebSocket, message: ServerMessage) => ws.send(JSON.stringify(message));
  const timestamp = new Date().toISOString();
  const log = (command: string): LogEntry => ({
    id: randomUUID(),
    timestamp,
    userId: 'u1',
    emailAccountId: 'acct',
    level: 'info',
    command,
    data: {},
  });
  const [l1, l2, l3, l4] = ['L1', 'L2', 'L3', 'L4'].map(log) as [LogEntry, LogEntry, LogEntry, LogEntry];

  it('drops logs it already delivered: repeated live logs and a backlog overlapping what it had', async () => {
    const seenSince: Array<string | null> = [];
    const url = await serve((ws, u, n) => {
      seenSince.push(u.searchParams.get('since'));
      if (n === 0) {
        send(ws, { type: 'initial-logs', logs: [l1, l2], timestamp });
        for (const l of [l2, l3, l1]) send(ws, { type: 'log', log: l, timestamp });
        ws.close(1011);
      } else {
        send(ws, { type: 'initial-logs', logs: [l2, l3, l4], truncated: false, timestamp });
      }
    });
    client = recordedClient({ url });
    await client.until(() => client!.logs.length >= 4, 'four logs');
    expect(client.commands()).toEqual(['L1', 'L2', 'L3', 'L4']);
    expect(seenSince).toEqual([null, l3.id]);
    expect(client.all('initial-logs').map((i) => i.logs.map((l) => l.command))).toEqual([['L1', 'L2'], ['L4']]);
  });

  it('after a reset, delivers the backlog that redraws the view even where it repeats earlier logs', async () => {
    const url = await serve((ws, _u, n) => {
      if (n === 0) {
        send(ws, { type: 'initial-logs', logs: [l1, l2], timestamp });
        ws.close(1011);
      } else {
        send(ws, { type: 'initial-logs', logs: [l1, l2, l3], truncated: true, timestamp });
      }
    });
    client = recordedClient({ url });
    await client.until(() => client!.logs.length >= 5, 'the redrawn view');
    expect(client.commands()).toEqual(['L1', 'L2', 'L1', 'L2', 'L3']);
    const order = client.events.map((e) => e.name).filter((name) => name !== 'state' && name !== 'log');
    expect(order).toEqual(['initial-logs', 'reset', 'initial-logs']);
    expect(client.all('initial-logs').map((i) => i.truncated)).toEqual([false, true]);
  });

  it('reports a message that is not JSON and keeps going', async () => {
    const url = await serve((ws) => {
      ws.send('{oops');
      send(ws, { type: 'initial-logs', logs: [l1], timestamp });
    });
    client = recordedClient({ url });
    await client.until(() => client!.logs.length === 1, 'L1');
    expect(client.all('error')).toEqual([{ message: 'The server sent a message that is not JSON', code: 'PROTOCOL_ERROR' }]);
  });

  it('reconnects when a server says nothing at all after a ping', async () => {
    const url = await serve(() => {}); // accepts, then never sends anything
    client = recordedClient({ url, pingIntervalMs: 30, pongTimeoutMs: 60 });
    await client.nth('reconnecting');
    expect(client.states.find((s) => s.state === 'reconnecting')).toMatchObject({ code: 1006, attempt: 1 });
  });
});
