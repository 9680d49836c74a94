import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { collectGarbage } from '../helpers/gc.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, serversPerTest, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

const MiB = 1024 * 1024;
const MAX_BUFFERED_BYTES = 4 * MiB; // the default, deliberately not overridden
const TOTAL_BYTES = 50 * MiB;
const LOG_RAW_BYTES = 32 * 1024;
const LOGS_PER_BATCH = 32; // 1 MiB of raw lines per commit
/**
 * The stated bounds, while 50 MiB flow to the slow user, measured after a full garbage collection every
 * 5 commits, for the whole process (server and test clients together):
 * - the memory JavaScript holds (V8 heap + external buffers) grows by less than 24 MiB: about 13 MiB
 *   with the limit, about 49 MiB without it (MAX_BUFFERED_BYTES=1 GiB: the sockets keep everything);
 * - the resident set size grows by less than 40 MiB: 11 to 25 MiB with the limit, 45 to 62 MiB without
 *   (RSS is the coarser measure: the allocator keeps and reuses freed pages).
 */
const HELD_GROWTH_BOUND = 24 * MiB;
const RSS_GROWTH_BOUND = 40 * MiB;

describe('slow consumers (MAX_BUFFERED_BYTES, default 4 MiB)', () => {
  let server: TestServer;
  let slow: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [slow, bob] = await Promise.all([signUp(server.url), signUp(server.url)]);
  });
  afterAll(() => server.close());
  /** A server of its own for a test with another limit. */
  const startOwn = serversPerTest();

  it('closes a socket that stops reading with 1013 while 50 MiB flow to its user; memory stays bounded; others keep their latency', async () => {
    const metrics = server.node.app.metrics;
    const slowBefore = await counterValue(metrics.slowConsumerDisconnects);
    const closesBefore = await counterValue(metrics.closes, { code: '1013' });

    // Two sockets of the slow user stop reading: A will read again once it is closed (to see the close
    // frame), B never does while logs flow (the server must free it by itself).
    // Opened one after the other, so the hub's pool lists them in this order.
    const a = await TestSocket.ready(server.wsUrl, { cookie: slow.cookie });
    const b = await TestSocket.ready(server.wsUrl, { cookie: slow.cookie });
    a.ws.pause();
    b.ws.pause();
    const watcher = await TestSocket.ready(server.wsUrl, { cookie: bob.cookie });
    const arrivedAt = new Map<string, number>();
    watcher.ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      if (message.type === 'log') arrivedAt.set(message.log.command, performance.now());
    });

    const [connA, connB] = [...server.node.app.hub.connections()].filter((c) => c.userId === slow.userId);
    if (!connA || !connB) throw new Error('the server does not list both slow sockets');

    collectGarbage();
    const rssAtStart = process.memoryUsage().rss;
    let rssPeak = rssAtStart;
    let rssRetainedPeak = rssAtStart;
    let bufferedPeak = 0;
    const held = () => {
      const { heapUsed, external } = process.memoryUsage();
      return heapUsed + external;
    };
    const heldAtStart = held();
    let heldPeak = heldAtStart;
    const sample = () => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      bufferedPeak = Math.max(bufferedPeak, connA.ws.bufferedAmount, connB.ws.bufferedAmount);
    };
    const sampleRetained = () => {
      collectGarbage();
      rssRetainedPeak = Math.max(rssRetainedPeak, process.memoryUsage().rss);
      heldPeak = Math.max(heldPeak, held());
    };
    const sampler = setInterval(sample, 5);

    const raw = 'A1 FETCH 1:* BODY[] '.padEnd(LOG_RAW_BYTES, 'x');
    const bobDelivery: number[] = [];
    let sent = 0;
    let batch = 0;
    let resumedA = false;
    while (sent < TOTAL_BYTES) {
      const logs = Array.from({ length: LOGS_PER_BATCH }, (_, i) => logInput({ command: `BIG${batch}-${i}`, data: { raw } }));
      const bobCommand = `BOB${batch}`;
      const [, committed] = await Promise.all([
        server.node.app.logs.log(slow.userId, logs),
        server.node.app.logs.log(bob.userId, logInput({ command: bobCommand })).then(() => performance.now()),
      ]);
      await watcher.take((m) => m.type === 'log' && m.log.command === bobCommand);
      bobDelivery.push(arrivedAt.get(bobCommand)! - committed);
      sent += LOGS_PER_BATCH * LOG_RAW_BYTES;
      batch++;
      sample();
      if (batch % 5 === 0) sampleRetained();
      if (!resumedA && connA.closed) {
        // A was judged slow: let it read what the server had queued, up to the close frame.
        resumedA = true;
        a.ws.resume();
        expect(await a.closed).toEqual({ code: CLOSE_CODES.TRY_AGAIN_LATER, reason: 'slow consumer' });
      }
    }
    clearInterval(sampler);
    sampleRetained();

    expect(resumedA).toBe(true);
    // B never read: the server cut it after the grace period, freeing its buffers.
    expect(connB.closeCode).toBe(CLOSE_CODES.TRY_AGAIN_LATER);
    await waitFor(() => server.node.app.hub.socketCount(slow.userId) === 0, 'the slow sockets to be gone from the hub', 5000);
    b.ws.resume();
    expect([CLOSE_CODES.TRY_AGAIN_LATER, 1006]).toContain((await b.closed).code);

    expect(await counterValue(metrics.slowConsumerDisconnects)).toBe(slowBefore + 2);
    expect(await counterValue(metrics.closes, { code: '1013' })).toBe(closesBefore + 2);

    const mib = (bytes: number) => (bytes / MiB).toFixed(1);
    const sorted = [...bobDelivery].sort((x, y) => x - y);
    const [p50, p95, max] = [sorted[Math.floor(sorted.length * 0.5)]!, sorted[Math.floor(sorted.length * 0.95)]!, sorted[sorted.length - 1]!];
    console.info(
      `slow consumer: ${mib(sent)} MiB sent in ${batch} commits; peak bufferedAmount ${mib(bufferedPeak)} MiB; ` +
        `after GC: RSS +${mib(rssRetainedPeak - rssAtStart)} MiB (from ${mib(rssAtStart)}), heap+external +${mib(heldPeak - heldAtStart)} MiB; ` +
        `RSS peak with garbage +${mib(rssPeak - rssAtStart)} MiB; bob's delivery p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    // What the server holds for one socket is its limit plus one burst (here one commit's 32 logs).
    expect(bufferedPeak).toBeLessThan(MAX_BUFFERED_BYTES + LOGS_PER_BATCH * (LOG_RAW_BYTES + 1024));
    expect(heldPeak - heldAtStart).toBeLessThan(HELD_GROWTH_BOUND);
    expect(rssRetainedPeak - rssAtStart).toBeLessThan(RSS_GROWTH_BOUND);
    // Bob kept receiving every log; 95% of them within 100 ms of their commit (the rest may meet a
    // full garbage collection of this test's own making, or a busy machine).
    expect(watcher.all('log')).toHaveLength(batch);
    expect(p95).toBeLessThan(100);
    await watcher.close();
  });

  it('does not take a client that reads for a slow one when a single burst is bigger than MAX_BUFFERED_BYTES', async () => {
    // 1 MiB allowed; one commit fans out 2 MiB to the socket.
    const small = await startOwn({ MAX_BUFFERED_BYTES: String(MiB) });
    const user = await signUp(small.url);
    const socket = await TestSocket.ready(small.wsUrl, { cookie: user.cookie });
    const raw = 'x'.repeat(LOG_RAW_BYTES);
    const stored = await small.node.app.logs.log(user.userId, Array.from({ length: 64 }, (_, i) => logInput({ command: `B${i}`, data: { raw } })));
    await socket.until('log', 64);
    await socket.roundTrip();
    // A resume after 2 MiB gets what fits in 1 MiB, the newest, and says so (hardening-join-backlog.test.ts).
    const resumed = await TestSocket.open(small.wsUrl, { cookie: user.cookie, query: `since=${stored[0]!.id}` });
    const initial = await resumed.next('initial-logs');
    expect(initial.truncated).toBe(true);
    expect(initial.logs.at(-1)!.command).toBe('B63');
    expect(Buffer.byteLength(JSON.stringify(initial))).toBeLessThanOrEqual(MiB);
    await resumed.roundTrip();
    // Both still open, and not counted as slow.
    await socket.roundTrip();
    expect(await counterValue(small.node.app.metrics.slowConsumerDisconnects)).toBe(0);
    await Promise.all([socket.close(), resumed.close()]);
  });
});
