import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, signUp, type TestUser } from '../helpers/http.js';
import { type TestServer, serversPerTest, startTestServer } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

describe('initial-jobs: job state on connect', () => {
  /** For tests that need no configuration of their own: each signs its own user up. */
  let shared: TestServer;
  beforeAll(async () => {
    shared = await startTestServer();
  });
  afterAll(() => shared.close());
  const start = serversPerTest();
  const publish = async (server: TestServer, user: TestUser, event: Record<string, unknown>) => {
    const res = await api(server.url, 'POST', '/api/jobs/events', { cookie: user.cookie }, event);
    expect(res.status).toBe(201);
  };
  /** Opens a socket and returns the messages it starts with, up to the answer to a ping. */
  const opening = async (server: TestServer, user: TestUser, query?: string) => {
    const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query });
    await socket.roundTrip();
    await socket.close();
    return socket.messages;
  };
  const jobsOf = (messages: Awaited<ReturnType<typeof opening>>) => {
    const initial = messages.find((m) => m.type === 'initial-jobs');
    if (initial?.type !== 'initial-jobs') throw new Error(`no initial-jobs in ${JSON.stringify(messages.map((m) => m.type))}`);
    return initial.jobs;
  };

  it('sends the latest event of each job, most recently updated first, right after initial-logs', async () => {
    const server = shared;
    const user = await signUp(server.url);
    await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, entry());
    await publish(server, user, { jobId: 'sync', status: 'active', progress: 10 });
    await publish(server, user, { jobId: 'index', status: 'active', progress: 0 });
    await publish(server, user, { jobId: 'sync', status: 'active', progress: 70, mailbox: 'INBOX' });

    const messages = await opening(server, user);
    expect(messages.map((m) => m.type)).toEqual(['initial-logs', 'initial-jobs', 'pong']);
    const initial = messages[1]!;
    expect(Object.keys(initial)).toEqual(['type', 'jobs', 'timestamp']);
    expect(jobsOf(messages)).toEqual([
      { jobId: 'sync', status: 'active', progress: 70, mailbox: 'INBOX', userId: user.userId },
      { jobId: 'index', status: 'active', progress: 0, userId: user.userId },
    ]);
    // The REST view is the same state.
    expect((await api(server.url, 'GET', '/api/jobs', { cookie: user.cookie })).body.jobs).toEqual(jobsOf(messages));
  });

  it('sends an empty list to a user without jobs, and only the user’s own jobs', async () => {
    const server = shared;
    const [user, other] = await Promise.all([signUp(server.url), signUp(server.url)]);
    await publish(server, other, { jobId: 'theirs', status: 'active' });
    expect(jobsOf(await opening(server, user))).toEqual([]);
  });

  it('sends a new socket of a user whose other sockets saw no jobs yet the jobs published since', async () => {
    const server = shared;
    const user = await signUp(server.url);
    const watcher = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    // Sockets opened while the user has no jobs are answered without the store; what is published then counts.
    expect(jobsOf(await opening(server, user))).toEqual([]);
    expect(jobsOf(await opening(server, user))).toEqual([]);
    await publish(server, user, { jobId: 'first', status: 'active', progress: 5 });
    await watcher.next('job-event');
    expect(jobsOf(await opening(server, user))).toEqual([{ jobId: 'first', status: 'active', progress: 5, userId: user.userId }]);
    await publish(server, user, { jobId: 'first', status: 'completed' });
    await watcher.until('job-event', 2);
    expect(jobsOf(await opening(server, user))).toEqual([{ jobId: 'first', status: 'completed', userId: user.userId }]);
    await watcher.close();
  });

  it('replaces a job’s state with its later event, as the live job-event did', async () => {
    const server = shared;
    const user = await signUp(server.url);
    await publish(server, user, { jobId: 'a', status: 'active', progress: 50 });
    await publish(server, user, { jobId: 'b', status: 'waiting' });
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    await publish(server, user, { jobId: 'a', status: 'completed' });
    expect((await socket.next('job-event')).data).toEqual({ jobId: 'a', status: 'completed', userId: user.userId });
    await socket.close();
    expect(jobsOf(await opening(server, user))).toEqual([
      { jobId: 'a', status: 'completed', userId: user.userId },
      { jobId: 'b', status: 'waiting', userId: user.userId },
    ]);
  });

  it('keeps the MAX_JOBS_PER_USER most recently updated jobs', async () => {
    const server = await start({ MAX_JOBS_PER_USER: '3' });
    const user = await signUp(server.url);
    for (const jobId of ['j1', 'j2', 'j3', 'j4', 'j5']) await publish(server, user, { jobId, status: 'active' });
    expect(jobsOf(await opening(server, user)).map((j) => j.jobId)).toEqual(['j5', 'j4', 'j3']);
    // An update makes a job recent again; the least recently updated one makes room.
    await publish(server, user, { jobId: 'j3', status: 'completed' });
    await publish(server, user, { jobId: 'j6', status: 'active' });
    expect(jobsOf(await opening(server, user)).map((j) => `${j.jobId}:${j.status}`)).toEqual(['j6:active', 'j3:completed', 'j5:active']);
  });

  it('keeps job state across a restart', async () => {
    const first = await start();
    const user = await signUp(first.url);
    await publish(first, user, { jobId: 'long', status: 'active', progress: 42 });
    await publish(first, user, { jobId: 'short', status: 'completed' });
    await first.close();
    const second = await start({}, first.dir);
    expect(jobsOf(await opening(second, user))).toEqual([
      { jobId: 'short', status: 'completed', userId: user.userId },
      { jobId: 'long', status: 'active', progress: 42, userId: user.userId },
    ]);
  });

  it('goes to sockets following all or jobs, never to sockets following only logs', async () => {
    const server = shared;
    const user = await signUp(server.url);
    await publish(server, user, { jobId: 'x', status: 'active' });
    expect((await opening(server, user, 'channels=logs')).map((m) => m.type)).toEqual(['initial-logs', 'pong']);
    expect((await opening(server, user, 'channels=jobs')).map((m) => m.type)).toEqual(['initial-logs', 'initial-jobs', 'pong']);
    expect((await opening(server, user, 'channels=logs,jobs')).map((m) => m.type)).toEqual(['initial-logs', 'initial-jobs', 'pong']);
    expect(jobsOf(await opening(server, user, 'channels=jobs')).map((j) => j.jobId)).toEqual(['x']);
  });

  it('follows initial-logs of a resumed socket too', async () => {
    const server = shared;
    const user = await signUp(server.url);
    const stored = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, [entry({ command: 'A' }), entry({ command: 'B' })]);
    await publish(server, user, { jobId: 'r', status: 'active' });
    const messages = await opening(server, user, `since=${stored.body.logs[0].id}`);
    expect(messages.map((m) => m.type)).toEqual(['initial-logs', 'initial-jobs', 'pong']);
    expect(jobsOf(messages).map((j) => j.jobId)).toEqual(['r']);
  });
});
