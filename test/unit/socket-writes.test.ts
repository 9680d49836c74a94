import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SendBursts, rawSocketOf, textFrame } from '../../src/gateway/socket-writes.js';
import { waitFor } from '../helpers/wait.js';

/** A real ws server and client on loopback; resolves with the server side of the connection. */
async function connectedPair(perMessageDeflate = false): Promise<{ server: WebSocket; client: WebSocket; received: string[] }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  servers.push(wss);
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on('message', (data) => received.push(String(data)));
  const [server] = await Promise.all([
    new Promise<WebSocket>((resolve) => wss.once('connection', resolve)),
    new Promise((resolve) => client.once('open', resolve)),
  ]);
  return { server, client, received };
}

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const wss of servers.splice(0)) {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
});

describe('textFrame', () => {
  it('frames payloads of every length encoding (7, 16 and 64 bits) so that a ws client reads them back byte for byte', async () => {
    const { server, received } = await connectedPair();
    const socket = rawSocketOf(server)!;
    // Exactly these many UTF-8 bytes ('é' is two), on both sides of each length boundary.
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 300_001];
    const payloads = sizes.map((bytes) => 'x'.repeat(bytes % 2) + 'é'.repeat(bytes >> 1));
    expect(payloads.map((p) => Buffer.byteLength(p))).toEqual(sizes);
    for (const payload of payloads) socket.write(textFrame(Buffer.from(payload)));
    await waitFor(() => received.length === payloads.length, 'every frame');
    expect(received).toEqual(payloads);
  });
});

describe('SendBursts', () => {
  it('ends every member of a synchronous run of sends once, one microtask later', async () => {
    const bursts = new SendBursts();
    const ended: string[] = [];
    bursts.join({ endBurst: () => ended.push('a') });
    bursts.join({ endBurst: () => ended.push('b') });
    expect(ended).toEqual([]);
    await Promise.resolve();
    expect(ended).toEqual(['a', 'b']);
    bursts.join({ endBurst: () => ended.push('c') }); // a new run
    await Promise.resolve();
    expect(ended).toEqual(['a', 'b', 'c']);
  });

  it('lets a corked socket send a burst in order with what ws itself sent between, once the run ends', async () => {
    const { server, received } = await connectedPair();
    const socket = rawSocketOf(server)!;
    const bursts = new SendBursts();
    socket.cork();
    bursts.join({ endBurst: () => socket.uncork() });
    socket.write(textFrame(Buffer.from('first')));
    server.send('second');
    socket.write(textFrame(Buffer.from('third')));
    expect(socket.writableLength).toBeGreaterThan(0); // nothing left yet
    await Promise.resolve();
    expect(socket.writableCorked).toBe(0);
    await waitFor(() => received.length === 3, 'the three frames');
    expect(received).toEqual(['first', 'second', 'third']);
  });
});

describe('rawSocketOf', () => {
  it('gives no socket when permessage-deflate was negotiated (every socket frames differently then)', async () => {
    const { server } = await connectedPair(true);
    expect(server.extensions).toContain('permessage-deflate');
    expect(rawSocketOf(server)).toBeUndefined();
  });

  it('gives the TCP socket when no extension was negotiated', async () => {
    const { server } = await connectedPair(false);
    expect(rawSocketOf(server)?.remoteAddress).toBe('127.0.0.1');
  });
});
