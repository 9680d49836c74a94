import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { type AppAuth, appAuthOptions, appSignIn, appSignUp, migratedAuth } from '../helpers/app-auth.js';
import { type EmbeddedApp, startEmbeddedApp } from '../helpers/embedded-app.js';
import { type TestDatabase, createTestDatabase, deleteRedisKeys, randomRedisPrefix, serviceAvailable, TEST_REDIS_URL } from '../helpers/services.js';
import { within } from '../helpers/wait.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

const available = (await serviceAvailable('postgres')) && (await serviceAvailable('redis'));

describe.skipIf(!available)('livetail inside an app on two nodes (one PostgreSQL database, one Redis): an end reaches every node', () => {
  const prefix = randomRedisPrefix();
  let database: TestDatabase;
  const pools: pg.Pool[] = [];
  let authA: AppAuth;
  let authB: AppAuth;
  let a: EmbeddedApp;
  let b: EmbeddedApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    // Two app processes: each its own pool, its own better-auth instance (with the plugin) and its own
    // livetail core, on the app's one database (livetail's tables beside the app's) and one Redis.
    const pool = () => {
      const p = new pg.Pool({ connectionString: database.url, max: 5 });
      p.on('error', () => {}); // an idle client cut when the test drops the database (as in helpers/app-auth.ts)
      pools.push(p);
      return p;
    };
    const [poolA, poolB] = [pool(), pool()];
    authA = await migratedAuth(appAuthOptions(poolA));
    authB = await migratedAuth(appAuthOptions(poolB));
    // No recheck can run during the test: only the plugin, through the bus, can close B's sockets.
    const options = { redis: { url: TEST_REDIS_URL, prefix }, heartbeatIntervalMs: 3_600_000 };
    a = await startEmbeddedApp(authA, { database: poolA, ...options });
    b = await startEmbeddedApp(authB, { database: poolB, ...options });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    for (const p of pools) await p.end();
    await database?.drop();
    await deleteRedisKeys(prefix);
  });

  it('the app signs out through node A’s better-auth: the session’s socket on node B closes with 4401 within 1 s, the user’s other session stays, and B refuses the cookie', async () => {
    const user = await appSignUp(authA);
    const other = await appSignIn(authA, user);
    const onB = await TestSocket.ready(b.wsUrl, { cookie: user.cookie });
    const otherOnB = await TestSocket.ready(b.wsUrl, { cookie: other });

    await authA.api.signOut({ headers: new Headers({ cookie: user.cookie }) });
    expect(await within(onB.closed, 1000, 'close on node B')).toEqual({ code: CLOSE_CODES.SESSION_ENDED, reason: 'session ended' });
    expect((await refusedUpgrade(b.wsUrl, { cookie: user.cookie })).status).toBe(401);
    await otherOnB.roundTrip();
    await otherOnB.close();
  });

  it('revoking every session of the user through node B closes the user’s sockets on node A', async () => {
    const user = await appSignUp(authB);
    const other = await appSignIn(authB, user);
    const sockets = [await TestSocket.ready(a.wsUrl, { cookie: user.cookie }), await TestSocket.ready(a.wsUrl, { cookie: other })];
    await authB.api.revokeSessions({ headers: new Headers({ cookie: other }) });
    for (const socket of sockets) expect(await within(socket.closed, 1000, 'close on node A')).toEqual({ code: CLOSE_CODES.SESSION_ENDED, reason: 'session ended' });
  });

  it('lt.endUser on node A closes the user’s sockets on node B', async () => {
    const user = await appSignUp(authA);
    const onB = await TestSocket.ready(b.wsUrl, { cookie: user.cookie });
    await a.lt.endUser(user.userId);
    expect(await within(onB.closed, 1000, 'close on node B')).toEqual({ code: CLOSE_CODES.SESSION_ENDED, reason: 'session ended' });
  });
});
