import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { within } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('message rate: the defaults (20 messages/s, burst 50)', () => {
  let server: TestServer;
  let alice: TestUser;
  let mallory: TestUser;

  beforeAll(async () => {
    // startTestServer raises the limits for other tests: put the documented defaults back.
    server = await startTestServer({ RATE_LIMIT_PER_SECOND: '20', RATE_LIMIT_BURST: '50' });
    [alice, mallory] = await Promise.all([signUp(server.url), signUp(server.url)]);
  });
  afterAll(() => server.close());

  it('answers the burst, sends one "Rate limit exceeded", then closes with 1008 after a second’s worth more', async () => {
    const disconnectsBefore = await counterValue(server.node.app.metrics.rateLimitDisconnects);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
    for (let i = 0; i < 200; i++) socket.send({ type: 'ping' });
    const closed = await socket.closed;
    expect(closed).toEqual({ code: CLOSE_CODES.POLICY_VIOLATION, reason: 'rate limit exceeded' });
    // The burst, plus the few tokens that refilled (20/s) while the frames were read.
    expect(socket.all('pong').length).toBeGreaterThanOrEqual(50);
    expect(socket.all('pong').length).toBeLessThan(60);
    expect(socket.all('error')).toEqual([{ type: 'error', error: 'Rate limit exceeded', code: 'RATE_LIMITED' }]);
    expect(await counterValue(server.node.app.metrics.rateLimitDisconnects)).toBe(disconnectsBefore + 1);
  });

  it('answers a flood of ping control frames within the same budget, then closes with 1008 and its reason (not a 1006 cut)', async () => {
    const disconnectsBefore = await counterValue(server.node.app.metrics.rateLimitDisconnects);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
    let pongs = 0;
    socket.ws.on('pong', () => pongs++);
    // ws's own auto-pong cut the socket without a close frame past 60 unanswered pongs, before the
    // budget was even asked: 75 pings in a row were enough.
    for (let i = 0; i < 200; i++) socket.ws.ping();
    expect(await socket.closed).toEqual({ code: CLOSE_CODES.POLICY_VIOLATION, reason: 'rate limit exceeded' });
    expect(socket.all('error')).toEqual([{ type: 'error', error: 'Rate limit exceeded', code: 'RATE_LIMITED' }]);
    // A pong for each ping of the burst and the few tokens that refilled meanwhile, none for the rest.
    expect(pongs).toBeGreaterThanOrEqual(50);
    expect(pongs).toBeLessThan(60);
    expect(await counterValue(server.node.app.metrics.rateLimitDisconnects)).toBe(disconnectsBefore + 1);
  });

  it('a flood of 2,000 messages from one client does not slow another user’s logs: latency stays under 100 ms', async () => {
    const watcher = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const flooder = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
    const arrivedAt = new Map<string, number>();
    watcher.ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      if (message.type === 'log') arrivedAt.set(message.log.command, performance.now());
    });

    /**
     * Publishes `count` logs for alice, one every 5 ms. For each: end to end (ingest → arrival, includes
     * the store's commit) and delivery (commit → arrival: what a busy gateway would slow down).
     */
    const publish = async (prefix: string, count: number) => {
      const timings: Array<{ command: string; ingested: number; committed: Promise<number> }> = [];
      for (let i = 0; i < count; i++) {
        const command = `${prefix}${i}`;
        const ingested = performance.now();
        timings.push({ command, ingested, committed: server.node.app.logs.log(alice.userId, logInput({ command })).then(() => performance.now()) });
        await sleep(5);
      }
      await watcher.until('log', watcher.all('log').length + timings.filter((t) => !arrivedAt.has(t.command)).length);
      return Promise.all(
        timings.map(async (t) => ({ endToEnd: arrivedAt.get(t.command)! - t.ingested, delivery: arrivedAt.get(t.command)! - (await t.committed) })),
      );
    };

    const baseline = await publish('BASE', 40);
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();

    // The flood: 2,000 frames in 20 bursts of 100, 10 ms apart, while alice's logs keep flowing.
    const flood = (async () => {
      for (let burst = 0; burst < 20; burst++) {
        for (let i = 0; i < 100; i++) flooder.send({ type: 'ping', n: burst * 100 + i });
        await sleep(10);
      }
    })();
    const during = await publish('FLOOD', 60);
    await flood;
    loopDelay.disable();

    expect((await flooder.closed).code).toBe(CLOSE_CODES.POLICY_VIOLATION);
    expect(flooder.all('error')).toHaveLength(1);
    const stats = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return { p50: sorted[Math.floor(sorted.length / 2)]!, max: sorted[sorted.length - 1]! };
    };
    const show = (name: string, s: { p50: number; max: number }) => `${name} p50 ${s.p50.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;
    const [b, d] = [baseline, during].map((run) => ({ endToEnd: stats(run.map((t) => t.endToEnd)), delivery: stats(run.map((t) => t.delivery)) }));
    const loopDelayMaxMs = loopDelay.max / 1e6;
    console.info(
      `alice's log latency (${process.env.LIVETAIL_TEST_STORE ?? 'sqlite'}): baseline ${show('end-to-end', b!.endToEnd)}, ${show('delivery', b!.delivery)}; ` +
        `during the flood ${show('end-to-end', d!.endToEnd)}, ${show('delivery', d!.delivery)}; event loop delay max ${loopDelayMaxMs.toFixed(1)} ms`,
    );
    // What the flood could slow is the event loop: it never stalled 100 ms, and no log took 100 ms from
    // its commit to alice's socket. (End to end adds the store's commit, which the flood does not touch:
    // printed above, its outliers are SQLite checkpoints or PostgreSQL commits, flood or not.)
    expect(d!.delivery.max).toBeLessThan(100);
    expect(loopDelayMaxMs).toBeLessThan(100);
    // Every log arrived, in order.
    expect(watcher.all('log').map((m) => m.log.command)).toEqual([
      ...baseline.map((_, i) => `BASE${i}`),
      ...during.map((_, i) => `FLOOD${i}`),
    ]);
    await watcher.close();
  });
});

describe('message rate: warned once, closed only if it keeps going (25 messages/s, burst 10)', () => {
  let server: TestServer;
  let user: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_PER_SECOND: '25', RATE_LIMIT_BURST: '10' });
    user = await signUp(server.url);
  });
  afterAll(() => server.close());

  it('a client that slows down after the warning stays connected, and is warned again on its next excess', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    for (let i = 0; i < 14; i++) socket.send({ type: 'ping' });
    await socket.next('error');
    // Back within the rate: the bucket (10 tokens at 25/s) is full again after 400 ms.
    await sleep(450);
    await socket.roundTrip();
    for (let i = 0; i < 14; i++) socket.send({ type: 'ping' });
    await socket.next('error');
    await sleep(450);
    await socket.roundTrip();
    expect(socket.all('error')).toHaveLength(2);
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    await socket.close();
  });

  it('a client that keeps going just over its rate is closed with 1008 rather than warned forever', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    // 3 messages every 20 ms: 150/s against 25/s; the bucket would need 400 ms of quiet to count as calm again.
    const timer = setInterval(() => {
      for (let i = 0; i < 3; i++) socket.send({ type: 'ping' });
    }, 20);
    try {
      expect((await within(socket.closed, 5000, 'close')).code).toBe(CLOSE_CODES.POLICY_VIOLATION);
    } finally {
      clearInterval(timer);
    }
    expect(socket.all('error')).toHaveLength(1);
  });

  it('counts ping control frames against the rate too', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    for (let i = 0; i < 100; i++) socket.ws.ping();
    expect((await socket.closed).code).toBe(CLOSE_CODES.POLICY_VIOLATION);
    expect(socket.all('error')).toEqual([{ type: 'error', error: 'Rate limit exceeded', code: 'RATE_LIMITED' }]);
  });
});
