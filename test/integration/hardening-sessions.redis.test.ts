import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { api, signIn, signOut, signUp } from '../helpers/http.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { deleteRedisKeys, randomRedisPrefix, serviceAvailable, TEST_REDIS_URL } from '../helpers/services.js';
import { within } from '../helpers/wait.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

const available = await serviceAvailable('redis');

describe.skipIf(!available)('sessions end, sockets end: across nodes (Redis bus)', () => {
  const prefix = randomRedisPrefix();
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    // Two nodes on one database and one Redis; no sweep can run during the test (heartbeat of an hour).
    const env = { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix, HEARTBEAT_INTERVAL_MS: '3600000' };
    a = await startTestServer(env);
    b = await startTestServer(env, a.dir);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await deleteRedisKeys(prefix);
  });

  it('sign-out on one node closes the session’s sockets on another with 4401 within 1 s, and that node refuses the cookie', async () => {
    const user = await signUp(a.url);
    const onB = await TestSocket.ready(b.wsUrl, { cookie: user.cookie });
    // B has checked the session (and cached it) for that socket: the next check would come from its cache.
    await (await TestSocket.ready(b.wsUrl, { cookie: user.cookie })).close();
    const signalBefore = await counterValue(b.node.app.metrics.sessionEndedDisconnects, { via: 'signal' });

    const closed = within(onB.closed, 1000, 'close on the other node');
    expect((await signOut(a.url, user.cookie)).status).toBe(200);
    expect(await closed).toEqual({ code: CLOSE_CODES.SESSION_ENDED, reason: 'session ended' });
    expect(await counterValue(b.node.app.metrics.sessionEndedDisconnects, { via: 'signal' })).toBe(signalBefore + 1);
    expect((await refusedUpgrade(b.wsUrl, { cookie: user.cookie })).status).toBe(401);
  });

  it('a node that checked a session but holds none of its sockets does not let it open a socket after a sign-out elsewhere', async () => {
    const user = await signUp(a.url);
    // B checks the session for an API call and caches the answer, but follows none of the user's sockets,
    // so the sign-out on A never reaches it through the bus.
    expect((await api(b.url, 'GET', '/api/logs', { cookie: user.cookie })).status).toBe(200);
    expect((await signOut(a.url, user.cookie)).status).toBe(200);
    expect((await refusedUpgrade(b.wsUrl, { cookie: user.cookie })).status).toBe(401);
  });

  it('nor does a node that follows the user, for a session it cached before it followed them', async () => {
    const user = await signUp(a.url);
    const other = await signIn(a.url, user);
    expect((await api(b.url, 'GET', '/api/logs', { cookie: user.cookie })).status).toBe(200); // cached, not followed
    const follower = await TestSocket.ready(b.wsUrl, { cookie: other }); // now B follows the user
    expect((await signOut(a.url, user.cookie)).status).toBe(200);
    expect((await refusedUpgrade(b.wsUrl, { cookie: user.cookie })).status).toBe(401);
    await follower.roundTrip();
    await follower.close();
  });
});
