import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, service, signUp, type TestUser } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('REST API', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ REALTIME_LOG_LEVEL: 'info' });
    [alice, bob] = await Promise.all([signUp(server.url), signUp(server.url)]);
  });
  afterAll(() => server.close());

  const stored = async (user: TestUser) => (await api(server.url, 'GET', '/api/logs?limit=1000', { cookie: user.cookie })).body.logs as any[];

  describe('POST /api/logs', () => {
    it('takes one entry, stamps id (UUIDv7) and timestamp, and answers 201 with the stored entry', async () => {
      const res = await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, entry({ command: 'SELECT' }));
      expect(res.status).toBe(201);
      expect(res.body.logs).toHaveLength(1);
      const [log] = res.body.logs;
      expect(log).toMatchObject({ userId: alice.userId, emailAccountId: 'acct-1', level: 'info', command: 'SELECT' });
      expect(log.id).toMatch(UUID_V7);
      expect(log.timestamp).toMatch(ISO_MS);
    });

    it('takes an array and { logs: [...] }, in order', async () => {
      const user = await signUp(server.url);
      const a = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, [entry({ command: 'A' }), entry({ command: 'B' })]);
      const b = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, { logs: [entry({ command: 'C' })] });
      expect([a.status, b.status]).toEqual([201, 201]);
      expect((await stored(user)).map((l) => l.command)).toEqual(['A', 'B', 'C']);
    });

    it('drops entries under REALTIME_LOG_LEVEL: neither stored nor sent', async () => {
      const user = await signUp(server.url);
      const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
      const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, [entry({ level: 'debug', command: 'QUIET' }), entry({ level: 'warn', command: 'LOUD' })]);
      expect(res.status).toBe(201);
      expect(res.body.logs.map((l: any) => l.command)).toEqual(['LOUD']);
      await socket.next('log');
      await socket.roundTrip();
      expect(socket.all('log').map((m) => m.log.command)).toEqual(['LOUD']);
      expect((await stored(user)).map((l) => l.command)).toEqual(['LOUD']);
      await socket.close();
    });

    it('sanitizes before storing and sending', async () => {
      const user = await signUp(server.url);
      const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, entry({
        command: 'LOGIN',
        data: { raw: 'A1 LOGIN bob hunter2hunter2', parsed: { user: 'bob', password: 'hunter2hunter2', args: ['bob', 'hunter2hunter2'] } },
      }));
      expect(JSON.stringify(res.body)).not.toContain('hunter2hunter2');
      expect(JSON.stringify(await stored(user))).not.toContain('hunter2hunter2');
    });

    it('rejects an invalid batch with 400 and details, storing nothing of it', async () => {
      const user = await signUp(server.url);
      const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, [
        entry({ command: 'GOOD' }),
        entry({ level: 'loud' }),
        { emailAccountId: 'a' },
      ]);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', error: expect.any(String) });
      expect(res.body.details.map((d: any) => d.path[0])).toEqual(expect.arrayContaining([1, 2]));
      expect(await stored(user)).toEqual([]);
    });

    it.each([
      ['malformed JSON', '{"level": ', 'INVALID_JSON'],
      ['a bare string', '"hello"', 'VALIDATION_FAILED'],
      ['null', 'null', 'VALIDATION_FAILED'],
      ['logs that are not an array', '{"logs": 5}', 'VALIDATION_FAILED'],
      ['an unknown field', JSON.stringify({ ...entry(), extra: 1 }), 'VALIDATION_FAILED'],
      ['a __proto__ key', '{"emailAccountId":"a","level":"info","command":"X","data":{"parsed":{"__proto__":{"x":1}}}}', 'VALIDATION_FAILED'],
    ])('answers %s with 400 and a JSON error', async (_what, body, code) => {
      const res = await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe(code);
    });

    it('answers a non-JSON content type with 415', async () => {
      const res = await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, 'x', { 'content-type': 'text/plain' });
      expect(res.status).toBe(415);
      expect(res.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    it('refuses a userId other than the signed-in user with 403, storing nothing', async () => {
      const user = await signUp(server.url);
      const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, [entry(), entry({ userId: bob.userId })]);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('USER_MISMATCH');
      expect(await stored(user)).toEqual([]);
      expect((await stored(bob)).length).toBe(0);
    });

    it('accepts the service token with a userId on each entry, and refuses entries without one', async () => {
      const user = await signUp(server.url);
      const ok = await api(server.url, 'POST', '/api/logs', service, [entry({ userId: user.userId })]);
      expect(ok.status).toBe(201);
      const bad = await api(server.url, 'POST', '/api/logs', service, [entry({ userId: user.userId }), entry()]);
      expect(bad.status).toBe(400);
      expect(bad.body.details[0].path).toEqual([1, 'userId']);
      expect(await stored(user)).toHaveLength(1);
    });
  });

  describe('authentication', () => {
    const routes: Array<[string, string]> = [
      ['POST', '/api/logs'],
      ['GET', '/api/logs'],
      ['DELETE', '/api/logs'],
      ['POST', '/api/jobs/events'],
      ['GET', '/api/jobs'],
    ];
    it.each(routes)('%s %s answers 401 with a JSON error without credentials', async (method, path) => {
      const res = await api(server.url, method, path, {}, method === 'POST' ? entry() : undefined);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: 'UNAUTHENTICATED', error: expect.any(String) });
    });
    it.each(routes)('%s %s answers 401 with a wrong bearer token', async (method, path) => {
      const res = await api(server.url, method, path, { token: 'not-the-token-not-the-token' }, method === 'POST' ? entry() : undefined);
      expect(res.status).toBe(401);
    });
    it('answers 401 to a forged session cookie', async () => {
      const res = await api(server.url, 'GET', '/api/logs', { cookie: 'better-auth.session_token=abc.def' });
      expect(res.status).toBe(401);
    });
  });

  describe('GET /api/logs', () => {
    it('returns the newest N, oldest first, of the caller only', async () => {
      const user = await signUp(server.url);
      await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, ['1', '2', '3', '4'].map((c) => entry({ command: `C${c}` })));
      await api(server.url, 'POST', '/api/logs', { cookie: bob.cookie }, entry({ command: 'BOBS' }));
      const res = await api(server.url, 'GET', '/api/logs?limit=2', { cookie: user.cookie });
      expect(res.status).toBe(200);
      expect(res.body.logs.map((l: any) => l.command)).toEqual(['C3', 'C4']);
      expect(res.body.hasMore).toBe(true);
    });
    it('answers a bad limit with 400', async () => {
      const res = await api(server.url, 'GET', '/api/logs?limit=-3', { cookie: alice.cookie });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('INVALID_QUERY');
    });
    it('reads any user with the service token and ?userId=', async () => {
      const user = await signUp(server.url);
      await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, entry({ command: 'MINE' }));
      const res = await api(server.url, 'GET', `/api/logs?userId=${user.userId}`, service);
      expect(res.body.logs.map((l: any) => l.command)).toEqual(['MINE']);
    });
  });

  describe('DELETE /api/logs', () => {
    it('deletes the user’s logs and sends logs-cleared to each of their sockets', async () => {
      const user = await signUp(server.url);
      await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, entry());
      const sockets = [await TestSocket.ready(server.wsUrl, { cookie: user.cookie }), await TestSocket.ready(server.wsUrl, { cookie: user.cookie })];
      const res = await api(server.url, 'DELETE', '/api/logs', { cookie: user.cookie });
      expect(res.status).toBe(200);
      for (const s of sockets) expect((await s.next('logs-cleared')).timestamp).toMatch(ISO_MS);
      expect(await stored(user)).toEqual([]);
      for (const s of sockets) await s.close();
    });
  });

  describe('POST /api/jobs/events', () => {
    it('sends the event as job-event on channel jobs with the event as data', async () => {
      const user = await signUp(server.url);
      const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
      const event = { jobId: 'sync-42', status: 'progress', progress: 40, mailbox: 'INBOX' };
      const res = await api(server.url, 'POST', '/api/jobs/events', { cookie: user.cookie }, event);
      expect(res.status).toBe(201);
      const msg = await socket.next('job-event');
      expect(msg).toEqual({ type: 'job-event', channel: 'jobs', data: { ...event, userId: user.userId }, timestamp: expect.stringMatching(ISO_MS) });
      await socket.close();
    });
    it('needs userId with the service token, and refuses a foreign userId with a session', async () => {
      expect((await api(server.url, 'POST', '/api/jobs/events', service, { jobId: 'j', status: 's' })).status).toBe(400);
      expect((await api(server.url, 'POST', '/api/jobs/events', service, { jobId: 'j', status: 's', userId: alice.userId })).status).toBe(201);
      expect((await api(server.url, 'POST', '/api/jobs/events', { cookie: alice.cookie }, { jobId: 'j', status: 's', userId: bob.userId })).status).toBe(403);
    });
    it('answers a missing jobId or status with 400 and details', async () => {
      const res = await api(server.url, 'POST', '/api/jobs/events', { cookie: alice.cookie }, { status: 'active' });
      expect(res.status).toBe(400);
      expect(res.body.details[0].path).toEqual(['jobId']);
    });
  });

  it('GET /healthz answers 200', async () => {
    const res = await api(server.url, 'GET', '/healthz', {});
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('answers unknown API routes with 404 JSON', async () => {
    const res = await api(server.url, 'GET', '/api/nope', { cookie: alice.cookie });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND');
  });
});
