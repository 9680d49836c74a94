import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, type TestUser } from '../helpers/http.js';
import { counterValue, histogramCount } from '../helpers/metrics.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

describe('sockets per user (MAX_SOCKETS_PER_USER, default 20)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('accepts 20 sockets of one user and answers the 21st with 429 and a JSON error', async () => {
    const user = await signUp(server.url);
    const sockets = await Promise.all(Array.from({ length: 20 }, () => TestSocket.ready(server.wsUrl, { cookie: user.cookie })));
    const refused = await refusedUpgrade(server.wsUrl, { cookie: user.cookie });
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ code: 'TOO_MANY_CONNECTIONS', error: 'Too many open sockets for this user: close one first' });
    expect(await counterValue(server.node.app.metrics.upgradeRejections, { status: '429', code: 'TOO_MANY_CONNECTIONS' })).toBe(1);

    // Another user is not affected.
    const other = await signUp(server.url);
    await (await TestSocket.ready(server.wsUrl, { cookie: other.cookie })).close();

    // Closing one frees its place.
    await sockets.pop()!.close();
    await waitFor(() => server.node.app.hub.socketCount(user.userId) === 19, 'the server to see the close');
    sockets.push(await TestSocket.ready(server.wsUrl, { cookie: user.cookie }));
    for (const socket of sockets) await socket.roundTrip();
    await Promise.all(sockets.map((s) => s.close()));
  });

  it('never overshoots with concurrent upgrades: 30 at once → exactly 20 open, 10 refused with 429', async () => {
    const user = await signUp(server.url);
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => TestSocket.ready(server.wsUrl, { cookie: user.cookie })));
    const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const statuses = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { status?: number }).status] : []));
    expect(opened).toHaveLength(20);
    expect(statuses).toEqual(Array(10).fill(429));
    expect(server.node.app.hub.socketCount(user.userId)).toBe(20);
    await Promise.all(opened.map((s) => s.close()));
  });
});

describe('upgrade attempts per client address (UPGRADE_RATE_LIMIT per UPGRADE_RATE_WINDOW_MS, default 50 per 10 s)', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    // The documented defaults (startTestServer raises them for other tests); no session cache, so every
    // session check that happens is a real one and shows in the metric.
    server = await startTestServer({ UPGRADE_RATE_LIMIT: '50', UPGRADE_RATE_WINDOW_MS: '10000', SESSION_CACHE_TTL_MS: '0' });
    alice = await signUp(server.url);
  });
  afterAll(() => server.close());

  const sessionChecks = () => histogramCount(server.node.app.metrics.sessionCheckDuration);

  it('answers the 51st attempt from one address with 429, before the session is even checked', async () => {
    // Attempt 1 with a forged cookie: a real session check, so the metric demonstrably counts them.
    const checksAtStart = await sessionChecks();
    expect((await refusedUpgrade(server.wsUrl, { cookie: 'better-auth.session_token=forged.value' })).status).toBe(401);
    expect(await sessionChecks()).toBe(checksAtStart + 1);
    // Attempts 2 to 50 without a cookie (refused with 401, but counted against the address).
    for (let i = 2; i <= 50; i++) expect((await refusedUpgrade(server.wsUrl)).status).toBe(401);

    const checksBefore = await sessionChecks();
    for (const cookie of [alice.cookie, 'better-auth.session_token=forged.value']) {
      const refused = await refusedUpgrade(server.wsUrl, { cookie });
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ code: 'UPGRADE_RATE_LIMITED', error: 'Too many connection attempts from this address: retry later' });
    }
    expect(await sessionChecks()).toBe(checksBefore);
    expect(await counterValue(server.node.app.metrics.upgradeRejections, { status: '429', code: 'UPGRADE_RATE_LIMITED' })).toBe(2);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY is on, so a client cannot pick a fresh address', async () => {
    const refused = await refusedUpgrade(server.wsUrl, { cookie: alice.cookie, headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(refused.status).toBe(429);
  });
});

describe('upgrade attempts behind a trusted proxy (TRUST_PROXY=true, 3 per 300 ms)', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ TRUST_PROXY: 'true', UPGRADE_RATE_LIMIT: '3', UPGRADE_RATE_WINDOW_MS: '300' });
    alice = await signUp(server.url);
  });
  afterAll(() => server.close());

  /** An upgrade as the proxy forwards it: whatever the client claimed, then the address the proxy saw. */
  const open = (address: string, claimed = '203.0.113.7') =>
    TestSocket.ready(server.wsUrl, { cookie: alice.cookie, headers: { 'x-forwarded-for': `${claimed}, ${address}` } });

  it('counts each client address (the entry the proxy appended) separately, and forgets it after the window', async () => {
    for (let i = 0; i < 3; i++) await (await open('198.51.100.1')).close();
    const refused = await refusedUpgrade(server.wsUrl, { cookie: alice.cookie, headers: { 'x-forwarded-for': '198.51.100.1' } });
    expect(refused.status).toBe(429);
    await (await open('198.51.100.2')).close();
    await new Promise((resolve) => setTimeout(resolve, 350));
    await (await open('198.51.100.1')).close();
  });

  it('cannot be dodged by a client that sends a new X-Forwarded-For of its own each time', async () => {
    for (let i = 0; i < 3; i++) await (await open('198.51.100.3', `10.9.9.${i}`)).close();
    const refused = await refusedUpgrade(server.wsUrl, { cookie: alice.cookie, headers: { 'x-forwarded-for': '10.9.9.99, 198.51.100.3' } });
    expect(refused.status).toBe(429);
  });
});
