import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { type Database, openDatabase } from '../../src/store/database.js';
import { api, signIn, signOut, signUp, type TestUser } from '../helpers/http.js';
import { counterValue, histogramCount } from '../helpers/metrics.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { within } from '../helpers/wait.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

const SESSION_ENDED = { code: CLOSE_CODES.SESSION_ENDED, reason: 'session ended' };

/** The socket's close, or a failure once `ms` have passed without one. */
const closedWithin = (socket: TestSocket, ms: number) => within(socket.closed, ms, 'close');

/** The better-auth session id a server-side socket was opened with. */
function sessionIdOf(server: TestServer, userId: string): string {
  const conn = [...server.node.app.hub.connections()].find((c) => c.userId === userId);
  if (!conn) throw new Error(`no socket of ${userId} on the server`);
  return conn.sessionId;
}

describe('sessions end, sockets end: through better-auth (sweep effectively off: HEARTBEAT_INTERVAL_MS = 1 h)', () => {
  let server: TestServer;

  beforeAll(async () => {
    // A heartbeat of an hour: no sweep can run during these tests, so every close must come from the hook.
    server = await startTestServer({ HEARTBEAT_INTERVAL_MS: '3600000' });
  });
  afterAll(() => server.close());

  const endedVia = (via: 'signal' | 'sweep') => counterValue(server.node.app.metrics.sessionEndedDisconnects, { via });

  it('sign-out closes every socket of that session with 4401 within 1 s, through the session delete hook; the user’s other session stays', async () => {
    const user = await signUp(server.url);
    const otherSession = await signIn(server.url, user);
    const sockets = await Promise.all([1, 2, 3].map(() => TestSocket.ready(server.wsUrl, { cookie: user.cookie })));
    const keeper = await TestSocket.ready(server.wsUrl, { cookie: otherSession });
    const [signalBefore, sweepBefore] = [await endedVia('signal'), await endedVia('sweep')];

    const closes = sockets.map((s) => closedWithin(s, 1000));
    expect((await signOut(server.url, user.cookie)).status).toBe(200);
    for (const close of closes) expect(await close).toEqual(SESSION_ENDED);
    // The closes came from better-auth's hook (through the bus), not from a sweep.
    expect(await endedVia('signal')).toBe(signalBefore + 3);
    expect(await endedVia('sweep')).toBe(sweepBefore);
    await keeper.roundTrip();
    await keeper.close();
  });

  it('a signed-out session cannot open a socket or call the API, even right after a successful connect (session cache)', async () => {
    const user = await signUp(server.url);
    // Once this node follows the user, a check is cached (SESSION_CACHE_TTL_MS, 5 s) and trusted:
    // the third socket opens without a session check at all.
    const first = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    await (await TestSocket.ready(server.wsUrl, { cookie: user.cookie })).close();
    const checks = await histogramCount(server.node.app.metrics.sessionCheckDuration);
    await (await TestSocket.ready(server.wsUrl, { cookie: user.cookie })).close();
    expect(await histogramCount(server.node.app.metrics.sessionCheckDuration)).toBe(checks);
    expect((await api(server.url, 'GET', '/api/logs', { cookie: user.cookie })).status).toBe(200);
    expect((await signOut(server.url, user.cookie)).status).toBe(200);
    const refused = await refusedUpgrade(server.wsUrl, { cookie: user.cookie });
    expect(refused).toEqual({ status: 401, body: expect.objectContaining({ code: 'SESSION_INVALID' }) });
    expect((await api(server.url, 'GET', '/api/logs', { cookie: user.cookie })).status).toBe(401);
    expect(await first.closed).toEqual(SESSION_ENDED);
  });

  it('revoking all sessions (POST /api/auth/revoke-sessions) closes the sockets of each of them', async () => {
    const user = await signUp(server.url);
    const second = await signIn(server.url, user);
    const sockets = [await TestSocket.ready(server.wsUrl, { cookie: user.cookie }), await TestSocket.ready(server.wsUrl, { cookie: second })];
    const signalBefore = await endedVia('signal');
    expect((await api(server.url, 'POST', '/api/auth/revoke-sessions', { cookie: second }, {})).status).toBe(200);
    for (const socket of sockets) expect(await closedWithin(socket, 1000)).toEqual(SESSION_ENDED);
    expect(await endedVia('signal')).toBe(signalBefore + 2);
  });

  it('a socket of another user is never touched by someone’s sign-out', async () => {
    const [a, b] = await Promise.all([signUp(server.url), signUp(server.url)]);
    const bystander = await TestSocket.ready(server.wsUrl, { cookie: b.cookie });
    const leaving = await TestSocket.ready(server.wsUrl, { cookie: a.cookie });
    await signOut(server.url, a.cookie);
    expect(await closedWithin(leaving, 1000)).toEqual(SESSION_ENDED);
    await bystander.roundTrip();
    await bystander.close();
  });
});

describe('sessions end, sockets end: behind better-auth’s back (the sweep, HEARTBEAT_INTERVAL_MS = 200 ms)', () => {
  let server: TestServer;
  let database: Database;

  beforeAll(async () => {
    server = await startTestServer({ HEARTBEAT_INTERVAL_MS: '200' });
    // A connection of our own to the server's database, as another program (or an operator) would have.
    database = await openDatabase(loadConfig(server.env).database);
  });
  afterAll(async () => {
    await server.close();
    await database.close();
  });

  const endedVia = (via: 'signal' | 'sweep') => counterValue(server.node.app.metrics.sessionEndedDisconnects, { via });

  async function connected(): Promise<{ user: TestUser; socket: TestSocket; sessionId: string }> {
    const user = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    return { user, socket, sessionId: sessionIdOf(server, user.userId) };
  }

  it('a session row deleted directly in the database is found by the sweep: 4401, and the cookie is refused from then on', async () => {
    const { user, socket, sessionId } = await connected();
    const sweepBefore = await endedVia('sweep');
    await database.db.deleteFrom('session').where('id', '=', sessionId).execute();
    // Found at the next heartbeat (every 200 ms), whatever its phase.
    expect(await closedWithin(socket, 1000)).toEqual(SESSION_ENDED);
    expect(await endedVia('sweep')).toBe(sweepBefore + 1);
    expect((await refusedUpgrade(server.wsUrl, { cookie: user.cookie })).status).toBe(401);
  });

  it('a session that expires (expiresAt in the past) is found by the sweep: 4401', async () => {
    const { socket, sessionId } = await connected();
    const row = await database.db.selectFrom('session').select('expiresAt').where('id', '=', sessionId).executeTakeFirstOrThrow();
    // Write the past in the type the dialect stores (an ISO string or a number in SQLite, a Date in PostgreSQL).
    const past = new Date(Date.now() - 60_000);
    const expiresAt = row.expiresAt instanceof Date ? past : typeof row.expiresAt === 'number' ? past.getTime() : past.toISOString();
    await database.db.updateTable('session').set({ expiresAt }).where('id', '=', sessionId).execute();
    expect(await closedWithin(socket, 1000)).toEqual(SESSION_ENDED);
  });

  it('sockets of sessions that are still valid are left alone by the sweep', async () => {
    const { socket } = await connected();
    const sweepBefore = await endedVia('sweep');
    // Several heartbeats pass.
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await socket.roundTrip();
    }
    expect(await endedVia('sweep')).toBe(sweepBefore);
    await socket.close();
  });
});
