import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Publisher, type PublisherEvents, type PublisherOptions, createPublisher } from '../../src/publisher/index.js';
import { api, service, signUp, type TestUser } from '../helpers/http.js';
import { INGEST_TOKEN, type TestServer, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

describe('Publisher against a livetail server', () => {
  let server: TestServer;
  const publishers: Publisher[] = [];

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterEach(async () => {
    for (const p of publishers.splice(0)) await p.close();
  });
  afterAll(() => server.close());

  const make = (options: Partial<PublisherOptions> = {}) => {
    const publisher = createPublisher({ url: server.url, token: INGEST_TOKEN, ...options });
    publishers.push(publisher);
    const sent: Array<PublisherEvents['sent']> = [];
    const errors: Array<PublisherEvents['error']> = [];
    publisher.on('sent', (s) => sent.push(s));
    publisher.on('error', (e) => errors.push(e));
    return { publisher, sent, errors };
  };
  const log = (user: TestUser, command: string, extra: Record<string, unknown> = {}) => ({
    userId: user.userId,
    emailAccountId: 'acct-1',
    level: 'info' as const,
    command,
    data: { raw: `A1 ${command}`, duration: 3 },
    ...extra,
  });
  const stored = async (user: TestUser) =>
    ((await api(server.url, 'GET', `/api/logs?userId=${user.userId}&limit=1000`, service)).body.logs as Array<{ command: string }>).map((l) => l.command);

  it('delivers every entry to the user socket in publish order, in batches of maxBatchEntries', async () => {
    const user = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const { publisher, sent } = make({ maxBatchEntries: 10, flushIntervalMs: 60_000 });
    const commands = Array.from({ length: 35 }, (_, i) => `C${i}`);
    for (const c of commands) publisher.publish(log(user, c));
    // Three full batches go at once; the last 5 wait for the (long) linger until flush().
    await socket.until('log', 30);
    await publisher.flush();
    await socket.until('log', 35);
    expect(socket.all('log').map((m) => m.log.command)).toEqual(commands);
    expect(sent.map((s) => s.count)).toEqual([10, 10, 10, 5]);
    expect(JSON.parse(sent[0]!.body).logs).toHaveLength(10);
    await socket.close();
  });

  it('sends a lone entry once it has waited flushIntervalMs, without flush()', async () => {
    const user = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const { publisher, sent } = make({ flushIntervalMs: 20 });
    publisher.publish(log(user, 'LONE'));
    const message = await socket.next('log');
    expect(message.log).toMatchObject({ userId: user.userId, command: 'LONE', data: { raw: 'A1 LONE', duration: 3 } });
    await waitFor(() => sent.length === 1, 'the 201'); // the socket may hear of it before the POST's answer is read
    await socket.close();
  });

  it('close() delivers everything still queued', async () => {
    const user = await signUp(server.url);
    const { publisher } = make({ flushIntervalMs: 60_000, maxBatchEntries: 1000 });
    for (let i = 0; i < 250; i++) publisher.publish(log(user, `E${i}`));
    await publisher.close();
    expect(await stored(user)).toEqual(Array.from({ length: 250 }, (_, i) => `E${i}`));
    expect(publisher.stats).toMatchObject({ published: 250, sent: 250, dropped: 0, failed: 0, queued: 0 });
  });

  it('stores the valid entries of a batch the server refuses one entry of, and reports that one', async () => {
    const user = await signUp(server.url);
    const { publisher, errors } = make({ flushIntervalMs: 60_000 });
    publisher.publish(log(user, 'GOOD-1'));
    publisher.publish(log(user, 'X'.repeat(200))); // over the 128 characters a command may have
    publisher.publish(log(user, 'GOOD-2'));
    await publisher.flush();
    expect(await stored(user)).toEqual(['GOOD-1', 'GOOD-2']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'REFUSED', count: 1, status: 400 });
    expect(JSON.parse(errors[0]!.body!)).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: [1, 'command'] }] });
  });

  it('reports a refused token once per batch, without retrying it', async () => {
    const user = await signUp(server.url);
    const { publisher, errors } = make({ token: 'not-the-ingest-token-0123' });
    publisher.publish(log(user, 'A'));
    await publisher.flush();
    expect(errors.map((e) => [e.code, e.status])).toEqual([['REFUSED', 401]]);
    expect(publisher.stats).toMatchObject({ failed: 1, retries: 0 });
    expect(await stored(user)).toEqual([]);
  });

  it('acts as a signed-in user with a session cookie instead of the token', async () => {
    const user = await signUp(server.url);
    const { publisher } = make({ token: undefined, headers: { cookie: user.cookie, origin: 'http://livetail.test' } });
    expect(publisher.publish({ emailAccountId: 'acct-1', level: 'warn', command: 'AS-USER' })).toBe(true);
    await publisher.flush();
    expect(await stored(user)).toEqual(['AS-USER']);
  });
});
