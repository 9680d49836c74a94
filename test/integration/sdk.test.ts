import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { api, entry, signOut, signUp, type TestUser } from '../helpers/http.js';
import { recordedClient, recordingWebSocket, type SdkRecorder } from '../helpers/sdk-client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** Longer than any retry the tests' backoff (cap 50 ms) can schedule: no attempt after it means none at all. */
const QUIET_MS = 300;
const quiet = () => new Promise((resolve) => setTimeout(resolve, QUIET_MS));

describe('livetail/client', () => {
  let server: TestServer;
  const clients: SdkRecorder[] = [];

  beforeAll(async () => {
    server = await startTestServer({ INITIAL_LOGS: '50' });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.client.close();
  });
  afterAll(() => server.close());

  const connect = (user: TestUser, options: Partial<Parameters<typeof createClient>[0]> = {}) => {
    const recorder = recordedClient({ url: server.wsUrl, headers: { cookie: user.cookie }, ...options });
    clients.push(recorder);
    return recorder;
  };
  const store = async (user: TestUser, commands: string[]) => {
    const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, commands.map((command) => entry({ command })));
    expect(res.status).toBe(201);
    return res.body.logs as Array<{ id: string }>;
  };
  const publishJob = async (user: TestUser, event: Record<string, unknown>) => {
    expect((await api(server.url, 'POST', '/api/jobs/events', { cookie: user.cookie }, event)).status).toBe(201);
  };
  /** Cuts every server-side socket of the user without a close frame (what a network failure looks like). */
  const cut = (user: TestUser) => {
    for (const conn of server.node.app.hub.connections()) if (conn.userId === user.userId) conn.ws.terminate();
  };
  const serverSockets = (user: TestUser) => [...server.node.app.hub.connections()].filter((c) => c.userId === user.userId && !c.closed);

  it('connects, delivers the backlog and live logs as `log`, job state and job events', async () => {
    const user = await signUp(server.url);
    await store(user, ['OLD1', 'OLD2']);
    await publishJob(user, { jobId: 'sync', status: 'active', progress: 5 });
    const c = connect(user);
    expect(c.client.state).toBe('connecting');
    await c.nth('open');
    await c.until(() => c.all('initial-jobs').length === 1, 'initial-jobs');
    expect(c.all('initial-logs')).toEqual([{ logs: c.logs.slice(0, 2), truncated: false }]);
    expect(c.all('initial-jobs')).toEqual([[{ jobId: 'sync', status: 'active', progress: 5, userId: user.userId }]]);

    await store(user, ['LIVE']);
    await publishJob(user, { jobId: 'sync', status: 'completed' });
    await c.until(() => c.all('job-event').length === 1 && c.logs.length === 3, 'the live log and job event');
    expect(c.commands()).toEqual(['OLD1', 'OLD2', 'LIVE']);
    expect(c.all('job-event')).toEqual([{ jobId: 'sync', status: 'completed', userId: user.userId }]);
    expect(c.client.lastLogId).toBe(c.logs[2]!.id);
    expect(c.states.map((s) => s.state)).toEqual(['connecting', 'open']);
    expect(c.states[0]).toEqual({ state: 'connecting', attempt: 0 });
  });

  it('resumes after the last delivered log when the connection is cut, with nothing lost or doubled', async () => {
    const user = await signUp(server.url);
    const { WebSocket, sockets, gate } = recordingWebSocket();
    const c = connect(user, { WebSocket });
    await c.nth('open');
    const [, b] = await store(user, ['A', 'B']);
    await c.until(() => c.logs.length === 2, 'A and B');
    gate.open = false;
    cut(user);
    await c.nth('reconnecting');
    await store(user, ['C', 'D']); // committed while the client is away
    gate.open = true;
    await c.nth('open', 2);
    await store(user, ['E']);
    await c.until(() => c.logs.length === 5, 'five logs');
    expect(c.commands()).toEqual(['A', 'B', 'C', 'D', 'E']);
    const resumedFrom = sockets.map((s) => new URL(s.url).searchParams.get('since'));
    expect(resumedFrom[0]).toBeNull();
    expect(resumedFrom.at(-1)).toBe(b!.id);
    const [first, second] = c.all('initial-logs');
    expect(first).toEqual({ logs: [], truncated: false });
    expect(second!.logs.map((l) => l.command)).toEqual(['C', 'D']);
    expect(c.all('reset')).toEqual([]);
    const reconnecting = c.states.filter((s) => s.state === 'reconnecting');
    expect(reconnecting[0]).toMatchObject({ attempt: 1, code: 1006 });
    // Refused attempts count up until a connection is stable again.
    expect(reconnecting.map((s) => s.attempt)).toEqual(reconnecting.map((_, i) => i + 1));
    expect(reconnecting[0]!.retryAt).toBeGreaterThan(Date.now() - 5000);
  });

  it('resumes a client that joined before the user had any log with every log stored since', async () => {
    const user = await signUp(server.url);
    const { WebSocket, sockets, gate } = recordingWebSocket();
    const c = connect(user, { WebSocket });
    await c.until(() => c.all('initial-logs').length === 1, 'the first (empty) initial-logs');
    gate.open = false; // every attempt is refused until the logs are stored
    cut(user);
    await c.nth('reconnecting', 2);
    const missed = Array.from({ length: 60 }, (_, i) => `M${i}`); // more than INITIAL_LOGS (50)
    await store(user, missed);
    gate.open = true;
    await c.until(() => c.logs.length === 60, 'the 60 logs stored while away');
    expect(c.commands()).toEqual(missed);
    expect(c.all('reset')).toEqual([]);
    expect(c.all('initial-logs').map((i) => i.truncated)).toEqual([false, false]);
    expect(sockets.length).toBeGreaterThanOrEqual(3);
  });

  it('starts after options.since, and emits reset when the server cannot resume from it', async () => {
    const user = await signUp(server.url);
    const [a] = await store(user, ['A', 'B']);
    const resumed = connect(user, { since: a!.id });
    await resumed.until(() => resumed.logs.length === 1, 'B');
    expect(resumed.commands()).toEqual(['B']);
    expect(resumed.all('reset')).toEqual([]);

    const stale = connect(user, { since: randomUUID() });
    await stale.until(() => stale.logs.length === 2, 'A and B');
    expect(stale.all('reset')).toHaveLength(1);
    expect(stale.events.map((e) => e.name).filter((n) => n !== 'state').slice(0, 4)).toEqual(['reset', 'initial-logs', 'log', 'log']);
    expect(stale.all('initial-logs')[0]!.truncated).toBe(true);
  });

  it('restores its channel subscriptions after a reconnect', async () => {
    const user = await signUp(server.url);
    const c = connect(user, { channels: ['jobs'] });
    await c.nth('open');
    c.client.subscribe('logs');
    c.client.unsubscribe('jobs');
    expect(c.client.channels).toEqual(['logs']);
    await waitFor(() => serverSockets(user)[0]?.channels.has('logs') === true && !serverSockets(user)[0]!.channels.has('jobs'), 'the subscription changes');
    cut(user);
    await c.nth('open', 2);
    await waitFor(() => serverSockets(user).length === 1, 'the new server-side socket');
    expect([...serverSockets(user)[0]!.channels]).toEqual(['logs']);
    await publishJob(user, { jobId: 'ignored', status: 'active' });
    await store(user, ['AFTER']);
    await c.until(() => c.logs.length === 1, 'AFTER');
    expect(c.all('job-event')).toEqual([]);
    // Only the first connect, when jobs was followed, brought job state.
    expect(c.all('initial-jobs')).toHaveLength(1);
  });

  it('restores an empty subscription set too', async () => {
    const user = await signUp(server.url);
    const c = connect(user);
    await c.nth('open');
    c.client.unsubscribe('all');
    cut(user);
    await c.nth('open', 2);
    await waitFor(() => serverSockets(user).length === 1 && serverSockets(user)[0]!.channels.size === 0, 'a socket following nothing');
  });

  it('refuses an unknown channel at once instead of sending it', () => {
    const c = createClient({ url: server.wsUrl });
    expect(() => c.subscribe('secrets' as never)).toThrow(/unknown channel "secrets"/);
    expect(() => createClient({ url: server.wsUrl, channels: ['nope' as never] })).toThrow(TypeError);
    expect(() => createClient({ url: 'http://localhost/ws' })).toThrow(/ws:\/\/ or wss:\/\//);
    void c.close();
  });

  it('clears the logs on request and reports logs-cleared', async () => {
    const user = await signUp(server.url);
    await store(user, ['X']);
    const c = connect(user);
    await c.nth('open');
    await c.until(() => c.logs.length === 1, 'X');
    expect(c.client.clearLogs()).toBe(true);
    await c.until(() => c.all('logs-cleared').length === 1, 'logs-cleared');
    expect((await api(server.url, 'GET', '/api/logs', { cookie: user.cookie })).body.logs).toEqual([]);
  });

  it('reports a protocol error from the server as an error event and stays connected', async () => {
    const user = await signUp(server.url);
    const { WebSocket, sockets } = recordingWebSocket();
    const c = connect(user, { WebSocket });
    await c.nth('open');
    // The SDK itself sends nothing malformed: write a bad frame on its socket to get the server's answer.
    sockets[0]!.send('not json');
    await c.until(() => c.all('error').length === 1, 'an error event');
    expect(c.all('error')).toEqual([{ message: 'Invalid message format', code: 'PROTOCOL_ERROR', serverCode: 'INVALID_MESSAGE_FORMAT' }]);
    expect(c.client.state).toBe('open');
    expect(c.client.clearLogs()).toBe(true); // still usable
    await c.until(() => c.all('logs-cleared').length === 1, 'logs-cleared');
  });

  it('reconnects when the server stops answering (no pong), and then delivers what it missed', async () => {
    const user = await signUp(server.url);
    const { WebSocket, sockets } = recordingWebSocket();
    const c = connect(user, { WebSocket, pingIntervalMs: 50, pongTimeoutMs: 150 });
    await c.nth('open');
    await waitFor(() => serverSockets(user).length === 1, 'the server-side socket');
    const stalled = serverSockets(user)[0]!;
    stalled.ws.pause(); // the server no longer reads: pings go unanswered, as with a dead peer
    const pausedAt = Date.now();
    await c.nth('reconnecting');
    expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(150);
    expect(c.states.find((s) => s.state === 'reconnecting')).toMatchObject({ code: 1006 });
    await c.nth('open', 2);
    expect(sockets).toHaveLength(2);
    await store(user, ['AFTER']);
    await c.until(() => c.logs.length === 1, 'AFTER');
    stalled.ws.terminate();
  });

  it('stays connected while pongs come back', async () => {
    const user = await signUp(server.url);
    const c = connect(user, { pingIntervalMs: 20, pongTimeoutMs: 60 });
    await c.nth('open');
    await quiet();
    expect(c.states.map((s) => s.state)).toEqual(['connecting', 'open']);
  });

  it('never reconnects after the session ends (4401): it reports unauthenticated', async () => {
    const user = await signUp(server.url);
    const { WebSocket, sockets, closeCodes } = recordingWebSocket();
    const c = connect(user, { WebSocket });
    await c.nth('open');
    expect((await signOut(server.url, user.cookie)).status).toBe(200);
    await c.nth('unauthenticated');
    expect(c.states.at(-1)).toEqual({ state: 'unauthenticated', code: 4401 });
    await quiet();
    expect(sockets).toHaveLength(1);
    expect(closeCodes).toEqual([4401]);
    expect(c.client.state).toBe('unauthenticated');
    expect(server.node.app.hub.socketCount(user.userId)).toBe(0);
  });

  it('stops at once when the upgrade is refused with 401 (Node)', async () => {
    const { WebSocket, sockets } = recordingWebSocket();
    const c = recordedClient({ url: server.wsUrl, headers: { cookie: 'better-auth.session_token=forged.value' }, WebSocket });
    clients.push(c);
    await c.nth('unauthenticated');
    expect(c.all('error')).toEqual([{ message: 'Unexpected server response: 401', code: 'UPGRADE_REFUSED' }]);
    await quiet();
    expect(sockets).toHaveLength(1);
  });

  it('never reconnects after close(), which is idempotent', async () => {
    const user = await signUp(server.url);
    const { WebSocket, sockets } = recordingWebSocket();
    const c = connect(user, { WebSocket });
    await c.nth('open');
    const closing = c.client.close();
    expect(c.client.close()).toBe(closing);
    await closing;
    expect(c.client.state).toBe('closed');
    await quiet();
    expect(sockets).toHaveLength(1);
    expect(c.states.map((s) => s.state)).toEqual(['connecting', 'open', 'closed']);
    await waitFor(() => server.node.app.hub.socketCount(user.userId) === 0, 'the server to see the close');
    expect(c.client.clearLogs()).toBe(false);
  });

  it('cancels a scheduled reconnect when closed while waiting', async () => {
    const user = await signUp(server.url);
    const { WebSocket, sockets } = recordingWebSocket();
    const c = connect(user, { WebSocket, backoff: { baseMs: 100, capMs: 100 } });
    await c.nth('open');
    c.client.on('state', (s) => {
      if (s.state === 'reconnecting') void c.client.close();
    });
    cut(user);
    await c.nth('closed');
    await quiet();
    expect(sockets).toHaveLength(1);
  });

  it('closes before connecting when closed right after creation', async () => {
    const user = await signUp(server.url);
    const { WebSocket, sockets } = recordingWebSocket();
    const c = connect(user, { WebSocket });
    await c.client.close();
    await quiet();
    expect(sockets).toHaveLength(0);
    expect(c.states.map((s) => s.state)).toEqual(['closed']);
  });
});
