import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, service, signUp, type Credentials, type TestUser } from '../helpers/http.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, serversPerTest, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

describe('Idempotency-Key on POST /api/logs and /api/jobs/events', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, bob] = await Promise.all([signUp(server.url), signUp(server.url)]);
  });
  afterAll(() => server.close());

  const post = (auth: Credentials, body: unknown, key?: string, path = '/api/logs') =>
    api(server.url, 'POST', path, auth, body, key === undefined ? {} : { 'idempotency-key': key });
  const stored = async (user: TestUser) => (await api(server.url, 'GET', '/api/logs?limit=1000', { cookie: user.cookie })).body.logs as any[];
  const repeats = (route: string, answer: string) => counterValue(server.node.app.metrics.idempotentRepeats, { route, answer });

  describe('POST /api/logs', () => {
    it('answers a repeat with the first answer, byte for byte, and stores nothing new', async () => {
      const user = await signUp(server.url);
      const key = randomUUID();
      const body = [entry({ command: 'LOGIN' }), entry({ command: 'SELECT' })];
      const before = await repeats('logs', 'replayed');
      const first = await fetchRaw('/api/logs', user, body, key);
      const again = await fetchRaw('/api/logs', user, body, key);
      expect(first.status).toBe(201);
      expect(first.replayed).toBeNull();
      expect(again).toMatchObject({ status: 201, replayed: 'true', type: first.type, text: first.text });
      expect((await stored(user)).map((l) => l.id)).toEqual(JSON.parse(first.text).logs.map((l: any) => l.id));
      expect(await repeats('logs', 'replayed')).toBe(before + 1);
    });

    it('refuses the same key with another body with 422 IDEMPOTENCY_KEY_REUSED, storing nothing', async () => {
      const user = await signUp(server.url);
      const key = randomUUID();
      expect((await post({ cookie: user.cookie }, entry({ command: 'FIRST' }), key)).status).toBe(201);
      const other = await post({ cookie: user.cookie }, entry({ command: 'OTHER' }), key);
      expect(other.status).toBe(422);
      expect(other.body).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      // A key of /api/logs is not one of /api/jobs/events, even with the same body.
      const jobs = await post({ cookie: user.cookie }, entry({ command: 'FIRST' }), key, '/api/jobs/events');
      expect(jobs.status).toBe(422);
      expect((await stored(user)).map((l) => l.command)).toEqual(['FIRST']);
    });

    it('keeps keys apart per caller: another user, or the service token, with the same key is a request of its own', async () => {
      const key = randomUUID();
      const a = await post({ cookie: alice.cookie }, entry({ command: 'SAME' }), key);
      const b = await post({ cookie: bob.cookie }, entry({ command: 'SAME' }), key);
      const s = await post(service, entry({ command: 'SAME', userId: alice.userId }), key);
      expect([a.status, b.status, s.status]).toEqual([201, 201, 201]);
      expect(b.headers.get('idempotent-replayed')).toBeNull();
      expect(s.headers.get('idempotent-replayed')).toBeNull();
      expect(b.body.logs[0].userId).toBe(bob.userId);
      const ids = [a, b, s].map((r) => r.body.logs[0].id);
      expect(new Set(ids).size).toBe(3);
      expect((await stored(alice)).map((l) => l.id)).toEqual(expect.arrayContaining([ids[0], ids[2]]));
      expect((await stored(bob)).map((l) => l.id)).toContain(ids[1]);
    });

    it('records no key for a request that fails: its retry with a good body is a fresh attempt', async () => {
      const user = await signUp(server.url);
      const key = randomUUID();
      const invalid = await post({ cookie: user.cookie }, entry({ level: 'loud' }), key);
      expect(invalid.status).toBe(400);
      const mismatch = await post({ cookie: user.cookie }, entry({ userId: alice.userId }), key);
      expect(mismatch.status).toBe(403);
      const good = await post({ cookie: user.cookie }, entry({ command: 'GOOD' }), key);
      expect(good.status).toBe(201);
      expect(good.headers.get('idempotent-replayed')).toBeNull();
      expect((await stored(user)).map((l) => l.command)).toEqual(['GOOD']);
    });

    it('records the key of a batch the level dropped whole: a repeat gets the same empty answer', async () => {
      const user = await signUp(server.url);
      const key = randomUUID();
      const quiet = entry({ level: 'debug', command: 'QUIET' });
      expect(await post({ cookie: user.cookie }, quiet, key)).toMatchObject({ status: 201, body: { logs: [] } });
      const again = await post({ cookie: user.cookie }, quiet, key);
      expect(again).toMatchObject({ status: 201, body: { logs: [] } });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((await post({ cookie: user.cookie }, entry({ command: 'LOUD' }), key)).status).toBe(422);
    });

    it('stores once when requests with one key arrive at once: each gets the one answer', async () => {
      const user = await signUp(server.url);
      const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
      const key = randomUUID();
      const body = [entry({ command: 'ONCE' })];
      const answers = await Promise.all(Array.from({ length: 8 }, () => fetchRaw('/api/logs', user, body, key)));
      expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
      expect(new Set(answers.map((a) => a.text)).size).toBe(1);
      expect(answers.filter((a) => a.replayed === null)).toHaveLength(1);
      expect((await stored(user)).map((l) => l.command)).toEqual(['ONCE']);
      await socket.roundTrip();
      expect(socket.all('log').map((m) => m.log.command)).toEqual(['ONCE']);
      await socket.close();
    });

    it('refuses a key that is not 1 to 255 printable ASCII characters with 400 INVALID_IDEMPOTENCY_KEY, storing nothing', async () => {
      const user = await signUp(server.url);
      for (const key of ['', 'x'.repeat(256), 'clé', 'tab\there']) {
        const res = await post({ cookie: user.cookie }, entry({ command: 'BADKEY' }), key);
        expect(res.status, JSON.stringify(key)).toBe(400);
        expect(res.body).toMatchObject({ code: 'INVALID_IDEMPOTENCY_KEY' });
      }
      expect((await post({ cookie: user.cookie }, entry({ command: 'LONGEST' }), '~'.repeat(255))).status).toBe(201);
      expect((await stored(user)).map((l) => l.command)).toEqual(['LONGEST']);
    });

    it('takes requests without the header as before: each is stored', async () => {
      const user = await signUp(server.url);
      await post({ cookie: user.cookie }, entry({ command: 'A' }));
      await post({ cookie: user.cookie }, entry({ command: 'A' }));
      expect((await stored(user)).map((l) => l.command)).toEqual(['A', 'A']);
    });
  });

  describe('POST /api/jobs/events', () => {
    it('answers a repeat with the first event and sends the event to sockets once', async () => {
      const user = await signUp(server.url);
      const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query: 'channels=jobs' });
      await socket.next('initial-jobs');
      const key = randomUUID();
      const event = { jobId: 'sync-1', status: 'active', progress: 10 };
      const before = await repeats('jobs', 'replayed');
      const first = await fetchRaw('/api/jobs/events', user, event, key);
      const again = await fetchRaw('/api/jobs/events', user, event, key);
      expect(first.status).toBe(201);
      expect(again).toMatchObject({ status: 201, replayed: 'true', text: first.text });
      expect(JSON.parse(first.text)).toEqual({ event: { ...event, userId: user.userId } });
      await socket.roundTrip();
      expect(socket.all('job-event')).toHaveLength(1);
      expect(await repeats('jobs', 'replayed')).toBe(before + 1);
      const other = await post({ cookie: user.cookie }, { ...event, status: 'done' }, key, '/api/jobs/events');
      expect(other).toMatchObject({ status: 422, body: { code: 'IDEMPOTENCY_KEY_REUSED' } });
      expect(await repeats('jobs', 'reused')).toBeGreaterThan(0);
      await socket.close();
    });
  });

  /** A POST whose answer is kept as the server wrote it. */
  async function fetchRaw(path: string, user: TestUser, body: unknown, key: string) {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { cookie: user.cookie, origin: 'http://livetail.test', 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    return { status: res.status, type: res.headers.get('content-type'), replayed: res.headers.get('idempotent-replayed'), text: await res.text() };
  }
});

describe('IDEMPOTENCY_WINDOW_MS', () => {
  const start = serversPerTest();

  it('forgets a key once the window has passed: the same request is stored again', async () => {
    const server = await start({ IDEMPOTENCY_WINDOW_MS: '1500' });
    const user = await signUp(server.url);
    const key = randomUUID();
    const send = () => api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, entry({ command: 'WINDOW' }), { 'idempotency-key': key });
    const first = await send();
    expect(first.status).toBe(201);
    const within = await send();
    expect(within.headers.get('idempotent-replayed')).toBe('true');
    const store = server.node.app.store;
    const scope = { scope: `user:${user.userId}`, key };
    await waitFor(async () => (await store.findIdempotency(scope)) === undefined, 'the key to expire');
    const later = await send();
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
    expect(later.body.logs[0].id).not.toBe(first.body.logs[0].id);
    const logs = (await api(server.url, 'GET', '/api/logs', { cookie: user.cookie })).body.logs as any[];
    expect(logs.map((l) => l.command)).toEqual(['WINDOW', 'WINDOW']);
  });
});
