import type Database from 'better-sqlite3';
import { admin } from 'better-auth/plugins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { livetail } from '../../src/better-auth/plugin.js';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { appAuthOptions, appSignIn, appSignUp, appSqliteDatabase, createAppAuth, memorySecondaryStorage, migratedAuth } from '../helpers/app-auth.js';
import { type EmbeddedApp, httpSignOut, startEmbeddedApp } from '../helpers/embedded-app.js';
import { within } from '../helpers/wait.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

const SESSION_ENDED = { code: CLOSE_CODES.SESSION_ENDED, reason: 'session ended' };
/** No recheck can run during a test (it defaults to the heartbeat): every close must come from the plugin. */
const NO_RECHECK = { heartbeatIntervalMs: 3_600_000 };

const closedWithin = (socket: TestSocket, ms = 1000) => within(socket.closed, ms, 'close with 4401');
const headersOf = (cookie: string) => new Headers({ cookie });

/** The stand-in app's better-auth with what adopters enable beside it: the admin plugin, account deletion. */
function fullAppAuthOptions(database: unknown, extra: Pick<Parameters<typeof appAuthOptions>[1] & object, 'secondaryStorage'> = {}) {
  const base = appAuthOptions(database, extra);
  return { ...base, user: { ...base.user, deleteUser: { enabled: true } }, plugins: [livetail(), admin()] };
}
type FullAppAuth = Awaited<ReturnType<typeof migratedAuth<ReturnType<typeof fullAppAuthOptions>>>>;

/** A user with two sessions, each with a socket open. */
async function userWithTwoSessions(auth: FullAppAuth, app: EmbeddedApp) {
  const user = await appSignUp(auth);
  const second = await appSignIn(auth, user);
  const [a, b] = await Promise.all([TestSocket.ready(app.wsUrl, { cookie: user.cookie }), TestSocket.ready(app.wsUrl, { cookie: second })]);
  return { user, cookies: { a: user.cookie, b: second }, sockets: { a, b } };
}

/** The token (better-auth's session key) of the session behind `cookie`. */
async function tokenOf(auth: FullAppAuth, cookie: string): Promise<string> {
  const session = await auth.api.getSession({ headers: headersOf(cookie), query: { disableRefresh: true } });
  return session!.session.token;
}

/** An admin of the app, made so in its database and signed in afterwards (a session carries the user's role). */
async function signedInAdmin(auth: FullAppAuth, sqlite: Database.Database): Promise<string> {
  const user = await appSignUp(auth);
  sqlite.prepare(`update app_users set role = 'admin' where id = ?`).run(user.userId);
  return appSignIn(auth, user);
}

/** A socket that is still served: its ping gets a pong. */
async function stillOpen(socket: TestSocket): Promise<void> {
  await socket.roundTrip();
}

describe('livetail inside an app: each way the app’s own better-auth ends a session closes its sockets with 4401 within 1 s (livetail/better-auth plugin)', () => {
  let sqlite: Database.Database;
  let auth: FullAppAuth;
  let app: EmbeddedApp;
  let adminCookie: string;

  beforeAll(async () => {
    sqlite = appSqliteDatabase().database;
    auth = await migratedAuth(fullAppAuthOptions(sqlite));
    // livetail keeps its tables in the app's own SQLite file (a connection of its own beside the app's).
    app = await startEmbeddedApp(auth, { database: sqlite, ...NO_RECHECK });
    adminCookie = await signedInAdmin(auth, sqlite);
  });
  afterAll(async () => {
    await app?.close();
    sqlite?.close();
  });

  it('found the plugin: no warning that it is missing', () => {
    expect(app.logLines.filter((line) => line.includes('plugin-missing'))).toEqual([]);
  });

  it('auth.api.signOut: that session’s socket closes, the user’s other session stays; the cookie is refused at the next upgrade', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.signOut({ headers: headersOf(cookies.a) });
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    expect(await refusedUpgrade(app.wsUrl, { cookie: cookies.a })).toMatchObject({ status: 401, body: { code: 'SESSION_INVALID' } });
    await stillOpen(sockets.b);
    await sockets.b.close();
  });

  it('the app’s HTTP sign-out (POST /api/auth/sign-out) does the same', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    expect((await httpSignOut(app.url, cookies.a)).status).toBe(200);
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    expect((await refusedUpgrade(app.wsUrl, { cookie: cookies.a })).status).toBe(401);
    await stillOpen(sockets.b);
    await sockets.b.close();
  });

  it('revokeSession (one of the user’s sessions, from the other): only the revoked one closes', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.revokeSession({ headers: headersOf(cookies.a), body: { token: await tokenOf(auth, cookies.b) } });
    expect(await closedWithin(sockets.b)).toEqual(SESSION_ENDED);
    expect((await refusedUpgrade(app.wsUrl, { cookie: cookies.b })).status).toBe(401);
    await stillOpen(sockets.a);
    await sockets.a.close();
  });

  it('revokeSessions: every session of the user closes', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.revokeSessions({ headers: headersOf(cookies.a) });
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    expect(await closedWithin(sockets.b)).toEqual(SESSION_ENDED);
    for (const cookie of [cookies.a, cookies.b]) expect((await refusedUpgrade(app.wsUrl, { cookie })).status).toBe(401);
  });

  it('revokeOtherSessions: every other session closes, the caller’s stays', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.revokeOtherSessions({ headers: headersOf(cookies.a) });
    expect(await closedWithin(sockets.b)).toEqual(SESSION_ENDED);
    expect((await refusedUpgrade(app.wsUrl, { cookie: cookies.b })).status).toBe(401);
    await stillOpen(sockets.a);
    // The spared session still opens sockets.
    await (await TestSocket.ready(app.wsUrl, { cookie: cookies.a })).close();
    await sockets.a.close();
  });

  it('the admin plugin’s banUser: every session of the banned user closes', async () => {
    const { user, cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.banUser({ headers: headersOf(adminCookie), body: { userId: user.userId } });
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    expect(await closedWithin(sockets.b)).toEqual(SESSION_ENDED);
    for (const cookie of [cookies.a, cookies.b]) expect((await refusedUpgrade(app.wsUrl, { cookie })).status).toBe(401);
  });

  it('the admin plugin’s revokeUserSession: only that session closes', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.revokeUserSession({ headers: headersOf(adminCookie), body: { sessionToken: await tokenOf(auth, cookies.a) } });
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    expect((await refusedUpgrade(app.wsUrl, { cookie: cookies.a })).status).toBe(401);
    await stillOpen(sockets.b);
    await sockets.b.close();
  });

  it('the admin plugin’s revokeUserSessions: every session of the user closes', async () => {
    const { user, cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.revokeUserSessions({ headers: headersOf(adminCookie), body: { userId: user.userId } });
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    expect(await closedWithin(sockets.b)).toEqual(SESSION_ENDED);
    for (const cookie of [cookies.a, cookies.b]) expect((await refusedUpgrade(app.wsUrl, { cookie })).status).toBe(401);
  });

  it('deleteUser (user.deleteUser enabled): every session of the deleted user closes', async () => {
    const { user, cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.deleteUser({ headers: headersOf(cookies.a), body: { password: user.password } });
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    expect(await closedWithin(sockets.b)).toEqual(SESSION_ENDED);
    for (const cookie of [cookies.a, cookies.b]) expect((await refusedUpgrade(app.wsUrl, { cookie })).status).toBe(401);
  });

  it('another user’s sockets are never touched', async () => {
    const [one, other] = [await userWithTwoSessions(auth, app), await userWithTwoSessions(auth, app)];
    await auth.api.revokeSessions({ headers: headersOf(one.cookies.a) });
    await closedWithin(one.sockets.a);
    await closedWithin(one.sockets.b);
    for (const socket of [other.sockets.a, other.sockets.b]) {
      await stillOpen(socket);
      await socket.close();
    }
  });
});

describe('livetail inside an app whose sessions live only in secondary storage (no database hook fires): the plugin’s endpoint hooks', () => {
  let sqlite: Database.Database;
  let auth: FullAppAuth;
  let app: EmbeddedApp;
  let adminCookie: string;

  beforeAll(async () => {
    sqlite = appSqliteDatabase().database;
    auth = await migratedAuth(fullAppAuthOptions(sqlite, { secondaryStorage: memorySecondaryStorage() }));
    app = await startEmbeddedApp(auth, { database: sqlite, ...NO_RECHECK });
    adminCookie = await signedInAdmin(auth, sqlite);
  });
  afterAll(async () => {
    await app?.close();
    sqlite?.close();
  });

  it('the sessions are not rows of the app’s database (it has no session table at all)', async () => {
    await appSignUp(auth);
    expect(sqlite.prepare(`select name from sqlite_master where name = 'app_sessions'`).get()).toBeUndefined();
  });

  it('auth.api.signOut closes that session’s socket within 1 s, and the other session stays', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.signOut({ headers: headersOf(cookies.a) });
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    expect((await refusedUpgrade(app.wsUrl, { cookie: cookies.a })).status).toBe(401);
    await stillOpen(sockets.b);
    await sockets.b.close();
  });

  it('the HTTP sign-out does the same', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    expect((await httpSignOut(app.url, cookies.a)).status).toBe(200);
    expect(await closedWithin(sockets.a)).toEqual(SESSION_ENDED);
    await stillOpen(sockets.b);
    await sockets.b.close();
  });

  it('revokeSession, revokeOtherSessions and revokeSessions close what they revoke', async () => {
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    await auth.api.revokeSession({ headers: headersOf(cookies.a), body: { token: await tokenOf(auth, cookies.b) } });
    expect(await closedWithin(sockets.b)).toEqual(SESSION_ENDED);
    await stillOpen(sockets.a);
    await sockets.a.close();

    const others = await userWithTwoSessions(auth, app);
    await auth.api.revokeOtherSessions({ headers: headersOf(others.cookies.a) });
    expect(await closedWithin(others.sockets.b)).toEqual(SESSION_ENDED);
    await stillOpen(others.sockets.a);

    await auth.api.revokeSessions({ headers: headersOf(others.cookies.a) });
    expect(await closedWithin(others.sockets.a)).toEqual(SESSION_ENDED);
    expect((await refusedUpgrade(app.wsUrl, { cookie: others.cookies.a })).status).toBe(401);
  });

  it('the admin plugin’s banUser closes every session of the user (the user update hook)', async () => {
    const banned = await userWithTwoSessions(auth, app);
    await auth.api.banUser({ headers: headersOf(adminCookie), body: { userId: banned.user.userId } });
    for (const socket of [banned.sockets.a, banned.sockets.b]) expect(await closedWithin(socket)).toEqual(SESSION_ENDED);
  });

  it('the admin plugin’s revokeUserSession closes that session, revokeUserSessions every one', async () => {
    const revoked = await userWithTwoSessions(auth, app);
    await auth.api.revokeUserSession({ headers: headersOf(adminCookie), body: { sessionToken: await tokenOf(auth, revoked.cookies.a) } });
    expect(await closedWithin(revoked.sockets.a)).toEqual(SESSION_ENDED);
    await stillOpen(revoked.sockets.b);
    await auth.api.revokeUserSessions({ headers: headersOf(adminCookie), body: { userId: revoked.user.userId } });
    expect(await closedWithin(revoked.sockets.b)).toEqual(SESSION_ENDED);
  });

  it('deleteUser closes every session of the user (the user delete hook)', async () => {
    const deleted = await userWithTwoSessions(auth, app);
    await auth.api.deleteUser({ headers: headersOf(deleted.cookies.a), body: { password: deleted.user.password } });
    for (const socket of [deleted.sockets.a, deleted.sockets.b]) expect(await closedWithin(socket)).toEqual(SESSION_ENDED);
  });

  it('an admin endpoint that refuses the caller (not an admin) closes nothing', async () => {
    const victim = await userWithTwoSessions(auth, app);
    const intruder = await appSignUp(auth);
    await expect(auth.api.revokeUserSessions({ headers: headersOf(intruder.cookie), body: { userId: victim.user.userId } })).rejects.toThrow();
    await expect(auth.api.revokeUserSession({ headers: headersOf(intruder.cookie), body: { sessionToken: await tokenOf(auth, victim.cookies.a) } })).rejects.toThrow();
    for (const socket of [victim.sockets.a, victim.sockets.b]) {
      await stillOpen(socket);
      await socket.close();
    }
  });
});

describe('livetail inside an app without the plugin', () => {
  it('says so in one warning line at start; the recheck still closes a signed-out session’s socket; lt.endSession and lt.endUser close at once', async () => {
    const { auth, database } = await createAppAuth({ plugin: false });
    const app = await startEmbeddedApp(auth, { database, sessionRecheckIntervalMs: 200 });
    try {
      const warnings = app.logLines.filter((line) => line.includes('plugin-missing'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining('plugins: [livetail()]') });

      // The app signs out: no hook tells livetail; the next recheck finds the session gone.
      const user = await appSignUp(auth);
      const swept = await TestSocket.ready(app.wsUrl, { cookie: user.cookie });
      await auth.api.signOut({ headers: headersOf(user.cookie) });
      expect(await within(swept.closed, 5000, 'close by the recheck')).toEqual(SESSION_ENDED);

      // Ends the app reports itself: at once, and only what they name.
      const other = await appSignUp(auth);
      const second = await appSignIn(auth, other);
      const [a, b] = await Promise.all([TestSocket.ready(app.wsUrl, { cookie: other.cookie }), TestSocket.ready(app.wsUrl, { cookie: second })]);
      const session = await auth.api.getSession({ headers: headersOf(other.cookie), query: { disableRefresh: true } });
      await app.lt.endSession(session!.session.id);
      expect(await closedWithin(a)).toEqual(SESSION_ENDED);
      await stillOpen(b);
      await app.lt.endUser(other.userId);
      expect(await closedWithin(b)).toEqual(SESSION_ENDED);
    } finally {
      await app.close();
      database.close();
    }
  });
});

describe('livetail inside an app whose sessions are refreshed on every allowed check (updateAge 0)', () => {
  it('opening 20 sockets (each one checked: no session cache) leaves the session’s expiresAt where it was; the app’s own check moves it', async () => {
    const { auth, database } = await createAppAuth();
    const app = await startEmbeddedApp(auth, { database, sessionCacheTtlMs: 0 });
    try {
      const user = await appSignUp(auth);
      const expiry = () => (database.prepare('select expires_at from app_sessions where user_id = ?').get(user.userId) as { expires_at: unknown }).expires_at;
      const before = expiry();
      await new Promise((resolve) => setTimeout(resolve, 20)); // any refresh from here on moves the expiry
      const sockets = [];
      for (let i = 0; i < 20; i++) sockets.push(await TestSocket.ready(app.wsUrl, { cookie: user.cookie }));
      expect(expiry()).toEqual(before);
      for (const socket of sockets) await socket.close();

      // The stand-in really refreshes: a check of the app's own (refresh allowed) moves it.
      await auth.api.getSession({ headers: headersOf(user.cookie) });
      expect(expiry()).not.toEqual(before);
    } finally {
      await app.close();
      database.close();
    }
  });
});
