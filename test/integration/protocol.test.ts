import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logEntrySchema, type ProtocolErrorCode, serverMessageSchema } from '../../src/protocol/index.js';
import { api, entry, service, signUp, type TestUser } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

describe('WebSocket protocol', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ INITIAL_LOGS: '5' });
    [alice, bob] = await Promise.all([signUp(server.url), signUp(server.url)]);
  });
  afterAll(() => server.close());

  const post = (user: TestUser, body: unknown) => api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, body);

  it('sends initial-logs on open with the last INITIAL_LOGS logs, oldest first, and a timestamp', async () => {
    const user = await signUp(server.url);
    for (let i = 0; i < 8; i++) expect((await post(user, entry({ command: `CMD${i}` }))).status).toBe(201);
    const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie });
    const initial = await socket.next('initial-logs');
    expect(initial.logs.map((l) => l.command)).toEqual(['CMD3', 'CMD4', 'CMD5', 'CMD6', 'CMD7']);
    expect(initial.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect('truncated' in initial).toBe(false);
    expect(serverMessageSchema.parse(initial)).toEqual(initial);
    expect(socket.messages[0]!.type).toBe('initial-logs');
    await socket.close();
  });

  it('answers ping with exactly {"type":"pong"}', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    socket.send({ type: 'ping' });
    expect(await socket.next('pong')).toEqual({ type: 'pong' });
    await socket.close();
  });

  it('streams a log with the seed shape to the owner', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const res = await post(alice, entry({ command: 'LOGIN', data: { raw: 'A1 LOGIN alice pw123456', duration: 150, error: null } }));
    const msg = await socket.next('log');
    expect(Object.keys(msg)).toEqual(['type', 'log', 'timestamp']);
    expect(Object.keys(msg.log)).toEqual(['id', 'timestamp', 'userId', 'emailAccountId', 'level', 'command', 'data']);
    expect(logEntrySchema.parse(msg.log)).toEqual(msg.log);
    expect(msg.log).toEqual(res.body.logs[0]);
    expect(msg.log.userId).toBe(alice.userId);
    expect(msg.log.data.raw).toBe('A1 LOGIN alice ****');
    await socket.close();
  });

  describe('bad input gets a clear error and the socket stays usable', () => {
    const cases: Array<[string, string | Buffer, string, ProtocolErrorCode]> = [
      ['not JSON', 'hello', 'Invalid message format', 'INVALID_MESSAGE_FORMAT'],
      ['an array', '[1,2]', 'Invalid message format', 'INVALID_MESSAGE_FORMAT'],
      ['a number', '42', 'Invalid message format', 'INVALID_MESSAGE_FORMAT'],
      ['null', 'null', 'Invalid message format', 'INVALID_MESSAGE_FORMAT'],
      ['a string', '"ping"', 'Invalid message format', 'INVALID_MESSAGE_FORMAT'],
      ['an object without type', '{"channel":"jobs"}', 'Invalid message format', 'INVALID_MESSAGE_FORMAT'],
      ['a non-string type', '{"type":7}', 'Invalid message format', 'INVALID_MESSAGE_FORMAT'],
      ['an unknown type', '{"type":"explode"}', 'Unknown message type: explode', 'UNKNOWN_MESSAGE_TYPE'],
      ['subscribe without channel', '{"type":"subscribe"}', 'subscribe needs a channel: one of all, logs, jobs', 'MISSING_CHANNEL'],
      ['unsubscribe with an empty channel', '{"type":"unsubscribe","channel":""}', 'unsubscribe needs a channel: one of all, logs, jobs', 'MISSING_CHANNEL'],
      ['subscribe to an unknown channel', '{"type":"subscribe","channel":"secrets"}', 'Invalid channel: secrets (expected one of all, logs, jobs)', 'INVALID_CHANNEL'],
      // A value other than a string is described by its kind, never quoted (it may be huge or nested 10,000 deep).
      ['subscribe with an object for channel', '{"type":"subscribe","channel":{"a":1}}', 'Invalid channel: an object (expected one of all, logs, jobs)', 'INVALID_CHANNEL'],
      ['subscribe with an array for channel', '{"type":"subscribe","channel":["logs"]}', 'Invalid channel: an array (expected one of all, logs, jobs)', 'INVALID_CHANNEL'],
      ['unsubscribe with a number for channel', '{"type":"unsubscribe","channel":1e308}', 'Invalid channel: a number (expected one of all, logs, jobs)', 'INVALID_CHANNEL'],
      ['subscribe with a boolean for channel', '{"type":"subscribe","channel":true}', 'Invalid channel: a boolean (expected one of all, logs, jobs)', 'INVALID_CHANNEL'],
      ['a long unknown channel, clipped to 100 characters', `{"type":"subscribe","channel":"${'c'.repeat(5000)}"}`, `Invalid channel: ${'c'.repeat(100)}... (expected one of all, logs, jobs)`, 'INVALID_CHANNEL'],
      ['a long unknown type, clipped without splitting a surrogate pair', `{"type":"${'t'.repeat(99)}😀tail"}`, `Unknown message type: ${'t'.repeat(99)}...`, 'UNKNOWN_MESSAGE_TYPE'],
    ];
    for (const [what, frame, error, code] of cases) {
      it(`answers ${what} with "${error}"`, async () => {
        const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
        socket.send(frame);
        expect(await socket.next('error')).toEqual({ type: 'error', error, code });
        await socket.roundTrip();
        await socket.close();
      });
    }

    it('answers a binary frame with "Invalid message format"', async () => {
      const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
      socket.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
      expect(await socket.next('error')).toEqual({ type: 'error', error: 'Invalid message format', code: 'INVALID_MESSAGE_FORMAT' });
      await socket.roundTrip();
      await socket.close();
    });
  });

  describe('channels', () => {
    it('acknowledges subscribe and unsubscribe with the current set', async () => {
      const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
      socket.send({ type: 'subscribe', channel: 'jobs' });
      expect(await socket.next('subscribed')).toEqual({ type: 'subscribed', channel: 'jobs', channels: ['all', 'jobs'] });
      socket.send({ type: 'unsubscribe', channel: 'all' });
      expect(await socket.next('unsubscribed')).toEqual({ type: 'unsubscribed', channel: 'all', channels: ['jobs'] });
      await socket.close();
    });

    it('routes logs to all/logs and job events to all/jobs; logs-cleared to every socket', async () => {
      const user = await signUp(server.url);
      const sockets = {
        all: await TestSocket.ready(server.wsUrl, { cookie: user.cookie }),
        logs: await TestSocket.ready(server.wsUrl, { cookie: user.cookie }),
        jobs: await TestSocket.ready(server.wsUrl, { cookie: user.cookie }),
        none: await TestSocket.ready(server.wsUrl, { cookie: user.cookie }),
      };
      const only = async (socket: TestSocket, channel: string | undefined) => {
        socket.send({ type: 'unsubscribe', channel: 'all' });
        await socket.next('unsubscribed');
        if (channel) {
          socket.send({ type: 'subscribe', channel });
          await socket.next('subscribed');
        }
      };
      await only(sockets.logs, 'logs');
      await only(sockets.jobs, 'jobs');
      await only(sockets.none, undefined);

      expect((await post(user, entry({ command: 'ROUTED' }))).status).toBe(201);
      const job = await api(server.url, 'POST', '/api/jobs/events', { cookie: user.cookie }, { jobId: 'job-1', status: 'active', progress: 10 });
      expect(job.status).toBe(201);
      expect((await api(server.url, 'DELETE', '/api/logs', { cookie: user.cookie })).status).toBe(200);

      for (const socket of Object.values(sockets)) await socket.next('logs-cleared');
      for (const socket of Object.values(sockets)) await socket.roundTrip();
      const types = (s: TestSocket) => s.messages.map((m) => m.type).filter((t) => ['log', 'job-event', 'logs-cleared'].includes(t));
      expect(types(sockets.all)).toEqual(['log', 'job-event', 'logs-cleared']);
      expect(types(sockets.logs)).toEqual(['log', 'logs-cleared']);
      expect(types(sockets.jobs)).toEqual(['job-event', 'logs-cleared']);
      expect(types(sockets.none)).toEqual(['logs-cleared']);
      expect(sockets.jobs.all('job-event')[0]).toMatchObject({
        type: 'job-event',
        channel: 'jobs',
        data: { userId: user.userId, jobId: 'job-1', status: 'active', progress: 10 },
      });
      for (const socket of Object.values(sockets)) await socket.close();
    });

    it('starts with the channels named in the query', async () => {
      const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie, query: 'channels=jobs' });
      socket.send({ type: 'subscribe', channel: 'logs' });
      expect(await socket.next('subscribed')).toEqual({ type: 'subscribed', channel: 'logs', channels: ['jobs', 'logs'] });
      await socket.close();
    });
  });

  it('clear-logs deletes the logs and sends logs-cleared to every socket of the user, and only theirs', async () => {
    const user = await signUp(server.url);
    await post(user, entry());
    const first = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const second = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const other = await TestSocket.ready(server.wsUrl, { cookie: bob.cookie });
    first.send({ type: 'clear-logs' });
    const cleared = await first.next('logs-cleared');
    expect(Object.keys(cleared)).toEqual(['type', 'timestamp']);
    await second.next('logs-cleared');
    await other.roundTrip();
    expect(other.all('logs-cleared')).toEqual([]);
    const stored = await api(server.url, 'GET', '/api/logs', { cookie: user.cookie });
    expect(stored.body.logs).toEqual([]);
    for (const s of [first, second, other]) await s.close();
  });

  it('never delivers one user’s logs to another, with their logs interleaved', async () => {
    const [u1, u2] = await Promise.all([signUp(server.url), signUp(server.url)]);
    const s1 = [await TestSocket.ready(server.wsUrl, { cookie: u1.cookie }), await TestSocket.ready(server.wsUrl, { cookie: u1.cookie })];
    const s2 = [await TestSocket.ready(server.wsUrl, { cookie: u2.cookie })];
    const posts: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      posts.push(api(server.url, 'POST', '/api/logs', service, entry({ userId: i % 2 ? u1.userId : u2.userId, command: `C${i}` })));
    }
    await Promise.all(posts);
    for (const s of [...s1, ...s2]) await s.until('log', 20);
    for (const s of [...s1, ...s2]) await s.roundTrip();
    for (const s of s1) {
      expect(s.all('log')).toHaveLength(20);
      expect(s.all('log').every((m) => m.log.userId === u1.userId)).toBe(true);
    }
    expect(s2[0]!.all('log')).toHaveLength(20);
    expect(s2[0]!.all('log').every((m) => m.log.userId === u2.userId)).toBe(true);
    for (const s of [...s1, ...s2]) await s.close();
  });
});
