import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, signUp, type TestUser } from '../helpers/http.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, TEST_ORIGIN, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

const MiB = 1024 * 1024;
const MAX_BUFFERED_BYTES = 4 * MiB; // the default
const MAX_READS_PER_USER = 4; // the default
const BIG_ENTRIES = 120;

/** A log entry of about 620 KB: each text field near its limit (raw and response 256 KiB, error 64 KiB, parsed 64 KiB). */
function bigEntry(i: number): Record<string, unknown> {
  const text = (n: number) => `${i}`.padEnd(n, 'x');
  return entry({ command: `BIG${i}`, data: { raw: text(250_000), response: text(250_000), error: text(60_000), parsed: { s: text(60_000) }, duration: i } });
}

/** Runs a full garbage collection, so a baseline does not count garbage of the setup. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** GET /api/logs on a raw connection that reads the status line and then nothing more: a client that never reads. */
function stuckGet(server: TestServer, cookie: string): Promise<{ status: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.node.port, '127.0.0.1');
    socket.on('error', () => {}); // cut by the server later
    socket.once('connect', () => socket.write(`GET /api/logs?limit=1000 HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nOrigin: ${TEST_ORIGIN}\r\n\r\n`));
    socket.once('data', (chunk: Buffer) => {
      socket.pause(); // from here on the kernel buffers fill, then the server's
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1]), socket });
    });
    socket.once('close', () => reject(new Error('closed before answering')));
  });
}

describe('GET responses are bounded: streamed with backpressure, at most MAX_READS_PER_USER at once per user', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    // HTTP_SEND_TIMEOUT_MS: the stuck answers are cut within the test, not after the default 30 s.
    server = await startTestServer({ HTTP_SEND_TIMEOUT_MS: '4000' });
    [alice, bob] = [await signUp(server.url), await signUp(server.url)];
    for (let i = 0; i < BIG_ENTRIES; i++) {
      const res = await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, bigEntry(i));
      if (res.status !== 201) throw new Error(`fill: ${res.status} ${JSON.stringify(res.body)}`);
    }
  }, 120_000);
  afterAll(() => server.close());

  it(`holds about MAX_BUFFERED_BYTES per stuck answer (8 GETs of ${BIG_ENTRIES} × 620 KB that never read), and another user's log still arrives within 1 s`, async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: bob.cookie });
    collectGarbage();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const latencies: number[] = [];
    let statuses: number[];
    try {
      const started = Promise.all(Array.from({ length: 8 }, () => stuckGet(server, alice.cookie)));
      // Throughout, from the moment the reads are sent until the stuck answers are cut
      // (HTTP_SEND_TIMEOUT_MS, with a few seconds to spare): bob's log is posted and awaited on his socket.
      const deadline = Date.now() + 8000;
      const cut = async () => (await counterValue(server.node.app.metrics.httpStalledResponses)) >= MAX_READS_PER_USER;
      for (let round = 0; Date.now() < deadline && !(await cut()); round++) {
        const sent = Date.now();
        const posted = await api(server.url, 'POST', '/api/logs', { cookie: bob.cookie }, entry({ command: `BOB${round}` }));
        expect(posted.status).toBe(201);
        expect((await socket.next('log', 10_000)).log.command).toBe(`BOB${round}`);
        latencies.push(Date.now() - sent);
        await new Promise((resolve) => setTimeout(resolve, 50)); // paced rounds, not a busy loop
      }
      expect(await cut()).toBe(true);
      const gets = await started;
      statuses = gets.map((g) => g.status).sort();
      for (const get of gets) get.socket.destroy();
    } finally {
      clearInterval(sampler);
      await socket.close();
    }
    expect(latencies.length).toBeGreaterThan(5);
    expect(Math.max(...latencies), `bob's logs took ${latencies.join(', ')} ms`).toBeLessThan(1000);
    // The stated bound: MAX_BUFFERED_BYTES per answer in progress, plus 64 MiB for everything else
    // (the test's own sockets and requests, the garbage of the rounds). Unbounded, each answer held
    // all of alice's logs (about 75 MB, several times over while serialized).
    const bound = MAX_READS_PER_USER * MAX_BUFFERED_BYTES + 64 * MiB;
    expect(peak - baseline, `RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB`).toBeLessThan(bound);
    expect(statuses).toEqual([...Array(MAX_READS_PER_USER).fill(200), ...Array(8 - MAX_READS_PER_USER).fill(429)]);
  });

  it('frees the read slots of cut answers, and streams a complete answer byte for byte as JSON.stringify writes it', async () => {
    await waitFor(async () => (await api(server.url, 'GET', '/api/logs?limit=1', { cookie: alice.cookie })).status === 200, 'a free read slot');
    const res = await fetch(`${server.url}/api/logs?limit=1000`, { headers: { cookie: alice.cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    const page = await server.node.app.logs.read(alice.userId, { from: 'tail', limit: 1000 });
    expect(page.logs).toHaveLength(BIG_ENTRIES);
    expect(text === JSON.stringify({ logs: page.logs.map((l) => l.log), hasMore: page.hasMore })).toBe(true);

    const since = page.logs[9]!.log.id;
    const resumed = await (await fetch(`${server.url}/api/logs?since=${since}&limit=7`, { headers: { cookie: alice.cookie } })).text();
    const after = await server.node.app.logs.read(alice.userId, { from: 'id', id: since, limit: 7 });
    expect(resumed === JSON.stringify({ logs: after.logs.map((l) => l.log), truncated: false, hasMore: true })).toBe(true);
  });

  it('answers a read over MAX_READS_PER_USER with 429 TOO_MANY_READS, on GET /api/jobs too; other users are not counted', async () => {
    const gets = await Promise.all(Array.from({ length: MAX_READS_PER_USER }, () => stuckGet(server, alice.cookie)));
    expect(gets.map((g) => g.status)).toEqual(Array(MAX_READS_PER_USER).fill(200));
    for (const path of ['/api/logs', '/api/jobs']) {
      const refused = await api(server.url, 'GET', path, { cookie: alice.cookie });
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ code: 'TOO_MANY_READS', error: 'Too many reads in progress for this user: wait for one to finish' });
    }
    expect((await api(server.url, 'GET', '/api/jobs', { cookie: bob.cookie })).status).toBe(200);
    for (const get of gets) get.socket.destroy();
    await waitFor(async () => (await api(server.url, 'GET', '/api/jobs', { cookie: alice.cookie })).status === 200, 'the slots freed by closed connections');
  });
});
