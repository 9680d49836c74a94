import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { type Server as WebSocketServerOf, WebSocketServer } from 'ws';
import { GatewaySocket, type SocketOwner } from '../../src/gateway/gateway-socket.js';
import { waitFor } from '../helpers/wait.js';

/** What an owner was handed, in order. */
function recordingOwner(): SocketOwner & { events: unknown[][] } {
  const events: unknown[][] = [];
  return {
    events,
    onSocketMessage: (data, isBinary) => events.push(['message', String(data), isBinary]),
    onSocketPing: (data) => events.push(['ping', String(data)]),
    onSocketPong: () => events.push(['pong']),
    onSocketError: (error) => events.push(['error', error.code]),
    onSocketClose: (code, reason) => events.push(['close', code, String(reason)]),
  };
}

/** A real ws server made with GatewaySocket (as the gateway makes it) and a ws client on loopback. */
async function connectedPair(options: { maxPayload?: number } = {}): Promise<{ server: GatewaySocket; client: WebSocket }> {
  // As the gateway makes it: no client tracking (which would listen for every socket's close), no auto pong.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', WebSocket: GatewaySocket, autoPong: false, clientTracking: false, ...options });
  servers.push(wss);
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  client.on('error', () => {});
  const [server] = await Promise.all([
    new Promise<GatewaySocket>((resolve) => wss.once('connection', resolve)),
    new Promise((resolve) => client.once('open', resolve)),
  ]);
  sockets.push(server);
  return { server, client };
}

const servers: WebSocketServerOf<typeof GatewaySocket>[] = [];
const sockets: GatewaySocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const wss of servers.splice(0)) await new Promise((resolve) => wss.close(resolve));
});

describe('GatewaySocket', () => {
  it('hands messages, pings, pongs and the close to its owner, in order, without a listener on the socket', async () => {
    const { server, client } = await connectedPair();
    const owner = recordingOwner();
    server.owner = owner;
    client.send('hello');
    client.send(Buffer.from([1, 2]), { binary: true });
    client.ping('are you there');
    client.pong('here');
    client.close(4000, 'bye');
    await waitFor(() => owner.events.some(([event]) => event === 'close'), 'the close');
    expect(owner.events).toEqual([['message', 'hello', false], ['message', '\u0001\u0002', true], ['ping', 'are you there'], ['pong'], ['close', 4000, 'bye']]);
    for (const event of ['message', 'ping', 'pong', 'error', 'close']) expect(server.listenerCount(event)).toBe(0);
  });

  it('still runs listeners added with on/once, after the owner', async () => {
    const { server, client } = await connectedPair();
    const owner = recordingOwner();
    server.owner = owner;
    const seen: string[] = [];
    server.on('message', (data) => seen.push(`listener ${String(data)} after ${owner.events.length} owner event(s)`));
    const closed = new Promise<number>((resolve) => server.once('close', (code) => resolve(code)));
    client.send('one');
    client.close(1000);
    expect(await closed).toBe(1000);
    expect(seen).toEqual(['listener one after 1 owner event(s)']);
  });

  it('hands ws’s error for a frame it refused to the owner, and throws nothing when nobody listens', async () => {
    const { server, client } = await connectedPair({ maxPayload: 10 });
    const owner = recordingOwner();
    server.owner = owner;
    client.send('x'.repeat(100));
    await waitFor(() => owner.events.some(([event]) => event === 'close'), 'the close');
    expect(owner.events[0]).toEqual(['error', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH']);
    expect(server.listenerCount('error')).toBe(0);
  });

  it('throws nothing for an error before it has an owner', async () => {
    const { server } = await connectedPair();
    expect(server.emit('error', new Error('before the connection was made'))).toBe(false);
  });
});
