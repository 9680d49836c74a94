import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Credentials, api, entry, service, signUp, signUpRequest, type TestUser } from '../helpers/http.js';
import { type TestServer, TEST_ORIGIN, serversPerTest, startTestServer } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

/** The security headers every response must carry (helmet's defaults, with livetail's CSP). */
function expectSecurityHeaders(headers: Headers | http.IncomingHttpHeaders, what: string): void {
  const get = (name: string) => (headers instanceof Headers ? headers.get(name) : (headers[name] as string | undefined)) ?? undefined;
  const seen = {
    csp: get('content-security-policy'),
    nosniff: get('x-content-type-options'),
    frame: get('x-frame-options'),
    referrer: get('referrer-policy'),
    opener: get('cross-origin-opener-policy'),
    resource: get('cross-origin-resource-policy'),
    poweredBy: get('x-powered-by'),
  };
  expect(seen, what).toEqual({
    csp: expect.stringContaining("connect-src 'self' ws: wss:"),
    nosniff: 'nosniff',
    frame: 'SAMEORIGIN',
    referrer: 'no-referrer',
    opener: 'same-origin',
    resource: 'same-origin',
    poweredBy: undefined,
  });
  expect(seen.csp, what).toContain("default-src 'self'");
  expect(seen.csp, what).toContain("frame-ancestors 'self'");
}

/** An upgrade request the gateway refuses: status and headers of its raw HTTP answer. */
function upgradeAnswer(wsUrl: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode!, headers: res.headers });
    });
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
  });
}

describe('HTTP security headers (helmet) on every response', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ UPGRADE_RATE_LIMIT: '1000', MAX_SOCKETS_PER_USER: '1' });
    alice = await signUp(server.url);
  });
  afterAll(() => server.close());

  const requests: Array<[string, string, string, () => Credentials, unknown?, Record<string, string>?, number?]> = [
    ['health', 'GET', '/healthz', () => ({}), undefined, undefined, 200],
    ['readiness', 'GET', '/readyz', () => ({}), undefined, undefined, 200],
    ['metrics', 'GET', '/metrics', () => ({}), undefined, undefined, 200],
    ['the API, signed in', 'GET', '/api/logs', () => ({ cookie: alice.cookie }), undefined, undefined, 200],
    ['a stored log', 'POST', '/api/logs', () => ({ cookie: alice.cookie }), entry(), undefined, 201],
    ['401 without credentials', 'GET', '/api/logs', () => ({}), undefined, undefined, 401],
    ['400 for malformed JSON', 'POST', '/api/logs', () => ({ cookie: alice.cookie }), '{"level":', undefined, 400],
    ['400 for a __proto__ key', 'POST', '/api/logs', () => ({ cookie: alice.cookie }), '{"__proto__":{}}', undefined, 400],
    ['413 for a big body', 'POST', '/api/jobs/events', () => ({ cookie: alice.cookie }), { jobId: 'j', status: 's', x: 'x'.repeat(2 * 1024 * 1024) }, undefined, 413],
    ['415 for a wrong content type', 'POST', '/api/logs', () => ({ cookie: alice.cookie }), 'x', { 'content-type': 'text/plain' }, 415],
    ['404 under /api', 'GET', '/api/nope', () => ({ cookie: alice.cookie }), undefined, undefined, 404],
    ['404 elsewhere', 'GET', '/nope.txt', () => ({}), undefined, undefined, 404],
    ['better-auth: get-session', 'GET', '/api/auth/get-session', () => ({ cookie: alice.cookie }), undefined, undefined, 200],
    ['better-auth: a failed sign-in', 'POST', '/api/auth/sign-in/email', () => ({}), { email: 'nobody@example.com', password: 'wrong password here' }, { origin: TEST_ORIGIN }, 401],
    ['better-auth: an unknown route', 'GET', '/api/auth/nope', () => ({}), undefined, undefined, 404],
  ];

  it.each(requests)('%s (%s %s)', async (what, method, path, credentials, body, headers, status) => {
    const res = await api(server.url, method, path, credentials(), body, headers);
    expect(res.status).toBe(status);
    expectSecurityHeaders(res.headers, what);
  });

  it('on better-auth’s sign-up (200 with Set-Cookie)', async () => {
    const res = await signUpRequest(server.url);
    expect(res.status).toBe(200);
    expectSecurityHeaders(res.headers, 'sign-up');
  });

  it('on the refusals the WebSocket gateway writes itself (400, 401, 403, 404, 429)', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie }); // MAX_SOCKETS_PER_USER=1: the next gets 429
    const cases: Array<[number, string, Record<string, string>]> = [
      [401, server.wsUrl, {}],
      [403, server.wsUrl, { cookie: alice.cookie, origin: 'http://evil.example' }],
      [404, server.wsUrl.replace('/ws', '/elsewhere'), { cookie: alice.cookie }],
      [400, `${server.wsUrl}?channels=nope`, { cookie: alice.cookie }],
      [429, server.wsUrl, { cookie: alice.cookie }],
    ];
    for (const [status, url, headers] of cases) {
      const answer = await upgradeAnswer(url, headers);
      expect(answer.status).toBe(status);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expectSecurityHeaders(answer.headers, `upgrade refused with ${status}`);
    }
    await socket.close();
  });

  it('on the 101 that opens a WebSocket', async () => {
    const bob = await signUp(server.url);
    const ws = new WebSocket(server.wsUrl, { headers: { cookie: bob.cookie } });
    let upgradeHeaders: http.IncomingHttpHeaders | undefined;
    ws.once('upgrade', (res) => (upgradeHeaders = res.headers));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    expectSecurityHeaders(upgradeHeaders!, '101 Switching Protocols');
    ws.close();
  });
});

describe('session cookies', () => {
  const start = serversPerTest();

  it('are HttpOnly and SameSite=Lax, and not Secure with an http BASE_URL (plain localhost works)', async () => {
    const server = await start();
    const res = await signUpRequest(server.url);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('better-auth.session_token='));
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Lax/i);
    expect(cookie).not.toMatch(/; Secure/i);
  });

  it('are Secure (and __Secure- prefixed) when BASE_URL is https, and that cookie opens sockets and calls the API', async () => {
    const httpsOrigin = 'https://livetail.test';
    const server = await start({ BASE_URL: httpsOrigin, TRUSTED_ORIGINS: `${httpsOrigin},${TEST_ORIGIN}` });
    const res = await signUpRequest(server.url, { origin: httpsOrigin });
    expect(res.status).toBe(200);
    const setCookies = res.headers.getSetCookie().filter((c) => c.includes('session_token='));
    expect(setCookies).toHaveLength(1);
    const [setCookie] = setCookies;
    expect(setCookie).toMatch(/^__Secure-better-auth\.session_token=/);
    expect(setCookie).toMatch(/; Secure/i);
    expect(setCookie).toMatch(/; HttpOnly/i);
    const cookie = setCookie!.split(';')[0]!;
    const socket = await TestSocket.ready(server.wsUrl, { cookie, origin: httpsOrigin });
    await socket.roundTrip();
    await socket.close();
    expect((await api(server.url, 'GET', '/api/logs', { cookie })).status).toBe(200);
  });
});

describe('the edge of livetail’s own /api routes', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = [await signUp(server.url), await signUp(server.url)];
  });
  afterAll(() => server.close());

  describe('cross-site requests with the session cookie (CSRF)', () => {
    const logCount = async () => (await api(server.url, 'GET', '/api/logs?limit=1000', { cookie: alice.cookie })).body.logs.length as number;

    it('refuses a cookie POST or DELETE from an untrusted Origin with 403 ORIGIN_NOT_ALLOWED, changing nothing', async () => {
      expect((await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, entry())).status).toBe(201);
      for (const origin of ['http://evil.example', 'null', 'http://livetail.test.evil.example']) {
        const headers = { origin };
        const attempts = [
          await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, entry({ command: 'FORGED' }), headers),
          await api(server.url, 'POST', '/api/jobs/events', { cookie: alice.cookie }, { jobId: 'j', status: 'forged' }, headers),
          await api(server.url, 'DELETE', '/api/logs', { cookie: alice.cookie }, undefined, headers),
        ];
        for (const res of attempts) {
          expect(res.status, origin).toBe(403);
          expect(res.body).toEqual({ code: 'ORIGIN_NOT_ALLOWED', error: 'Origin not allowed: add it to TRUSTED_ORIGINS' });
        }
      }
      expect(await logCount()).toBe(1);
      expect((await api(server.url, 'GET', '/api/jobs', { cookie: alice.cookie })).body.jobs).toEqual([]);
    });

    it('takes the same requests from a trusted Origin, or without Origin (a non-browser client); the bearer token ignores Origin', async () => {
      expect((await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, entry(), { origin: TEST_ORIGIN })).status).toBe(201);
      const noOrigin = await fetch(`${server.url}/api/logs`, { method: 'POST', headers: { cookie: alice.cookie, 'content-type': 'application/json' }, body: JSON.stringify(entry()) });
      expect(noOrigin.status).toBe(201);
      const evil = { origin: 'http://evil.example' };
      expect((await api(server.url, 'POST', '/api/logs', service, entry({ userId: alice.userId }), evil)).status).toBe(201);
      expect((await api(server.url, 'GET', '/api/logs', { cookie: alice.cookie }, undefined, evil)).status).toBe(200); // reads: CORS keeps the answer from the page
      expect((await api(server.url, 'DELETE', `/api/logs?userId=${alice.userId}`, service, undefined, evil)).status).toBe(200);
    });
  });

  describe('query parameters: each once, as name=value', () => {
    it('answers a repeated or array parameter with 400 INVALID_QUERY on every /api route, and changes nothing', async () => {
      expect((await api(server.url, 'POST', '/api/logs', { cookie: bob.cookie }, entry())).status).toBe(201);
      const a = alice.userId;
      const queries = [`userId=${a}&userId=${a}`, `userId[]=${a}`, `userId[0]=${a}`, `userId[x]=${a}`, 'limit=1&limit=2', `since=x&userId=${a}&since=y`];
      for (const query of queries) {
        for (const [method, path] of [['DELETE', '/api/logs'], ['GET', '/api/logs'], ['GET', '/api/jobs'], ['POST', '/api/logs'], ['GET', '/api/nope']] as const) {
          const res = await api(server.url, method, `${path}?${query}`, { cookie: bob.cookie }, method === 'POST' ? entry() : undefined);
          expect(res.status, `${method} ${path}?${query}`).toBe(400);
          expect(res.body.code).toBe('INVALID_QUERY');
          expect(res.body.error).toMatch(/^Query parameter "(userId|limit|since)(\[\w*\])?" (is repeated|uses array syntax)/);
        }
      }
      expect((await api(server.url, 'GET', '/api/logs', { cookie: bob.cookie })).body.logs).toHaveLength(1);
    });

    it('leaves better-auth’s routes and single parameters alone', async () => {
      expect((await api(server.url, 'GET', '/api/auth/get-session?x=1&x=2', { cookie: alice.cookie })).status).toBe(200);
      expect((await api(server.url, 'GET', `/api/logs?limit=5&userId=${alice.userId}`, { cookie: alice.cookie })).status).toBe(200);
    });
  });

  describe('error details', () => {
    it('lists the first 20 issues of a batch of 1,000 invalid entries and their count: the answer is smaller than the request', async () => {
      const body = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ userId: `u-${i}`, level: 'loud', command: '', emailAccountId: 'a', data: { duration: -1 } })));
      const res = await api(server.url, 'POST', '/api/logs', service, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.details).toHaveLength(20);
      expect(res.body.details[0]).toEqual({ path: [0, 'level'], message: expect.any(String), code: 'invalid_value' });
      expect(res.body.detailsTotal).toBe(3000);
      const answered = Buffer.byteLength(JSON.stringify(res.body));
      expect(answered).toBeLessThan(Buffer.byteLength(body) / 10);
      expect(answered).toBeLessThan(8 * 1024);
    });

    it('cuts a detail that quotes the request at length (an unknown key of 100,000 characters)', async () => {
      const res = await api(server.url, 'POST', '/api/logs', service, { ...entry({ userId: 'u-1' }), ['k'.repeat(100_000)]: 1 });
      expect(res.status).toBe(400);
      expect(res.body.details).toHaveLength(1);
      expect(res.body.details[0].message.length).toBeLessThanOrEqual(200);
      expect(res.body.details[0].message).toMatch(/^Unrecognized key: "kkkk.*…$/);
    });
  });
});
