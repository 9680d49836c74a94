import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { EarlyListener } from '../../src/server/early-listener.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The port src/main.ts binds before the node has loaded: connects and requests that arrive while the node
 * starts are held, then handed to the node's handlers once it is ready (a restart's reconnect storm finds a
 * listening port, so no client backs off meanwhile), or dropped if it cannot start. Real sockets throughout.
 */
describe('EarlyListener', () => {
  let early: EarlyListener | undefined;
  const wss = new WebSocketServer({ noServer: true });
  afterEach(() => {
    early?.fail();
    early = undefined;
  });

  const limits = { headersTimeoutMs: 5000, requestTimeoutMs: 10_000, maxConnectionsPerAddress: 0 };
  async function listening(maxHeld?: number): Promise<{ early: EarlyListener; port: number }> {
    early = new EarlyListener(limits, maxHeld);
    await early.listen({ port: 0, host: '127.0.0.1', backlog: 511 });
    return { early, port: (early.server.address() as AddressInfo).port };
  }
  const handlers = {
    request: (_req: unknown, res: import('node:http').ServerResponse) => res.end('ready'),
    upgrade: (req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) =>
      wss.handleUpgrade(req, socket, head, (ws) => ws.send('hello')),
  };

  it('holds an upgrade and a request until the node takes over, then hands both to its handlers', async () => {
    const { early, port } = await listening();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const firstMessage = new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
    });
    let opened = false;
    ws.once('open', () => (opened = true));
    const answer = fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.text());
    await waitFor(() => early.heldCount === 2, 'the upgrade and the request to be held');
    expect(opened).toBe(false);

    early.handOver(handlers, () => {});
    expect(await firstMessage).toBe('hello');
    expect(await answer).toBe('ready');
    expect(early.heldCount).toBe(0);
    // After the hand-over, new arrivals go straight to the node.
    expect(await fetch(`http://127.0.0.1:${port}/x`).then((r) => r.text())).toBe('ready');
    ws.close();
  });

  it('drops what it holds when the node cannot start, and closes the port', async () => {
    const { early, port } = await listening();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const failed = new Promise<string>((resolve) => {
      ws.once('error', (e) => resolve(e.message));
      ws.once('close', () => resolve('closed'));
    });
    await waitFor(() => early.heldCount === 1, 'the upgrade to be held');
    early.fail();
    expect(await failed).toMatch(/socket hang up|closed|ECONNRESET/);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('holds at most its bound: one more is closed at once', async () => {
    const { early, port } = await listening(1);
    const first = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    first.on('error', () => {});
    await waitFor(() => early.heldCount === 1, 'the first upgrade to be held');
    const second = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const refused = await new Promise<string>((resolve) => second.once('error', (e) => resolve(e.message)));
    expect(refused).toMatch(/socket hang up|ECONNRESET/);
    expect(early.heldCount).toBe(1);
    first.terminate();
  });
});
