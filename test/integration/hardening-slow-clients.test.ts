import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { counterValue } from '../helpers/metrics.js';
import { INGEST_TOKEN, serversPerTest, type TestServer } from '../helpers/server.js';
import { waitFor, within } from '../helpers/wait.js';

/** A raw TCP client: what it has received, and when the server closed it. */
interface RawClient {
  socket: net.Socket;
  received(): string;
  /** Resolves with the ms from connect to the close. */
  closed: Promise<number>;
}

function connect(server: TestServer, localAddress = '127.0.0.1'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: server.node.port, host: '127.0.0.1', localAddress });
    let data = '';
    let opened = 0;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', () => {}); // a reset is how a refused connection may end
    const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now() - opened)));
    socket.once('connect', () => {
      opened = Date.now();
      resolve({ socket, received: () => data, closed });
    });
    socket.once('error', reject);
  });
}

/** Sends `text` one byte every `intervalMs` until the socket closes (a slowloris client). */
function trickle(client: RawClient, text: string, intervalMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (client.socket.destroyed || i >= text.length) return clearInterval(timer);
    client.socket.write(text[i++]!);
  }, intervalMs);
  void client.closed.then(() => clearInterval(timer));
}

/** A request over its own connection from `localAddress`: the status line's code. */
async function statusFrom(server: TestServer, localAddress: string, path = '/healthz'): Promise<number> {
  const client = await connect(server, localAddress);
  client.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await client.closed;
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(client.received())?.[1]);
}

describe('slow clients (slowloris): HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS', () => {
  const start = serversPerTest();

  it('answers 408 and closes connections whose headers trickle in, upgrades included, once the headers timeout passes', async () => {
    const server = await start({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '2000' });
    const request = 'GET /api/logs HTTP/1.1\r\nHost: x\r\nX-Pad: ' + 'a'.repeat(200);
    const upgrade = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nX-Pad: ' + 'a'.repeat(200);
    const clients = await Promise.all(Array.from({ length: 40 }, () => connect(server)));
    clients.forEach((client, i) => trickle(client, i % 2 ? upgrade : request, 100));
    const idle = await connect(server); // sends nothing at all
    // 1 s, checked every 250 ms; the bound is generous for a loaded machine, far below Node's 60 s + 30 s sweep.
    const lifetimes = await within(Promise.all([...clients, idle].map((c) => c.closed)), 10_000, 'every slow connection closed');
    for (const lifetime of lifetimes) expect(lifetime).toBeGreaterThanOrEqual(900);
    for (const client of [...clients, idle]) expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(await statusFrom(server, '127.0.0.1')).toBe(200);
  });

  it('answers 408 and closes a request whose body never ends, once the request timeout passes', async () => {
    const server = await start({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000' });
    const client = await connect(server);
    const headers = `Host: x\r\nAuthorization: Bearer ${INGEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000`;
    client.socket.write(`POST /api/jobs/events HTTP/1.1\r\n${headers}\r\n\r\n{"jobId":`);
    trickle(client, ' '.repeat(900), 100);
    const lifetime = await within(client.closed, 10_000, 'the slow body cut');
    expect(lifetime).toBeGreaterThanOrEqual(900);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe('connections per client address (MAX_CONNECTIONS_PER_ADDRESS)', () => {
  const start = serversPerTest();

  it('closes connections over the cap at once, serves other addresses meanwhile, and frees places as connections close', async () => {
    const server = await start({ MAX_CONNECTIONS_PER_ADDRESS: '10' });
    const held = await Promise.all(Array.from({ length: 10 }, () => connect(server)));
    for (const client of held) client.socket.write('G'); // a request begun, never finished
    const over = await Promise.all(Array.from({ length: 5 }, () => connect(server)));
    for (const client of over) client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const lifetimes = await within(Promise.all(over.map((c) => c.closed)), 5000, 'the connections over the cap closed');
    for (const [i, client] of over.entries()) {
      expect(client.received(), `connection ${i}`).toBe('');
      expect(lifetimes[i]).toBeLessThan(2000);
    }
    expect(await counterValue(server.node.app.metrics.httpConnectionsRefused)).toBe(5);

    // Another address is counted on its own.
    expect(await statusFrom(server, '127.0.0.2')).toBe(200);
    expect(held.every((c) => !c.socket.destroyed)).toBe(true);

    held.pop()!.socket.destroy();
    await waitFor(async () => (await statusFrom(server, '127.0.0.1').catch(() => 0)) === 200, 'a place freed for 127.0.0.1');
    for (const client of held) client.socket.destroy();
  });

  it('0 disables the cap; TRUST_PROXY (every connection from the proxy) disables it too', async () => {
    const envs: Array<Record<string, string>> = [{ MAX_CONNECTIONS_PER_ADDRESS: '0' }, { MAX_CONNECTIONS_PER_ADDRESS: '2', TRUST_PROXY: 'true' }];
    for (const env of envs) {
      const server = await start(env);
      const held = await Promise.all(Array.from({ length: 5 }, () => connect(server)));
      expect(await statusFrom(server, '127.0.0.1')).toBe(200);
      expect(await counterValue(server.node.app.metrics.httpConnectionsRefused)).toBe(0);
      for (const client of held) client.socket.destroy();
    }
  });
});
