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

/** Each socket closed with 4401 within 1 s, and its cookie is refused (401) at the next upgrade at once. */
async function expectEnded(app: EmbeddedApp, ...ended: Array<{ socket: TestSocket; cookie: string }>): Promise<void> {
  for (const { socket } of ended) expect(await closedWithin(socket)).toEqual(SESSION_ENDED);
  for (const { cookie } of ended) expect(await refusedUpgrade(app.wsUrl, { cookie })).toMatchObject({ status: 401, body: { code: 'SESSION_INVALID' } });
}

/** The two sessions of `userWithTwoSessions`, each with its socket and cookie. */
const bothOf = ({ cookies, sockets }: Awaited<ReturnType<typeof userWithTwoSessions>>) => [
  { socket: sockets.a, cookie: cookies.a },
  { socket: sockets.b, cookie: cookies.b },
];

/** The app signs a session out (its API, or its HTTP endpoint as a page does). */
const SIGN_OUTS: Array<[string, (auth: FullAppAuth, app: EmbeddedApp, cookie: string) => Promise<unknown>]> = [
  ['auth.api.signOut', (auth, _app, cookie) => auth.api.signOut({ headers: headersOf(cookie) })],
  ['the app’s HTTP sign-out (POST /api/auth/sign-out)', async (_auth, app, cookie) => expect((await httpSignOut(app.url, cookie)).status).toBe(200)],
];

/** The stand-in app with livetail mounted, started before a describe block's tests and closed after them. */
interface AppFixture {
  sqlite: Database.Database;
  auth: FullAppAuth;
  app: EmbeddedApp;
  /** The Cookie of an admin of the app (the admin plugin's role). */
  adminCookie: string;
}

function appPerBlock(extra: Parameters<typeof fullAppAuthOptions>[1] = {}): AppFixture {
  const fixture = {} as AppFixture;
  beforeAll(async () => {
    fixture.sqlite = appSqliteDatabase().database;
    fixture.auth = await migratedAuth(fullAppAuthOptions(fixture.sqlite, extra));
    // livetail keeps its tables in the app's own SQLite file (a connection of its own beside the app's).
    fixture.app = await startEmbeddedApp(fixture.auth, { database: fixture.sqlite, ...NO_RECHECK });
    fixture.adminCookie = await signedInAdmin(fixture.auth, fixture.sqlite);
  });
  afterAll(async () => {
    await fixture.app?.close();
    fixture.sqlite?.close();
  });
  return fixture;
}

/** Sign-out, wherever the app keeps its sessions: that session's socket closes, the user's other one stays. */
function signOutTests(fixture: AppFixture): void {
  it.each(SIGN_OUTS)('%s: that session’s socket closes within 1 s and its cookie is refused at once; the user’s other session stays', async (_name, signOut) => {
    const { auth, app } = fixture;
    const { cookies, sockets } = await userWithTwoSessions(auth, app);
    await signOut(auth, app, cookies.a);
    await expectEnded(app, { socket: sockets.a, cookie: cookies.a });
    await stillOpen(sockets.b);
    await sockets.b.close();
  });
}

describe('livetail inside an app: each way the app’s own better-auth ends a session closes its sockets with 4401 within 1 s (livetail/better-auth plugin)', () => {
  const host = appPerBlock();

  it('found the plugin: no warning that it is missing', () => {
    expect(host.app.logLines.filter((line) => line.includes('plugin-missing'))).toEqual([]);
  });

  signOutTests(host);

  it('revokeSession (one of the user’s sessions, from the other): only the revoked one closes', async () => {
    const { cookies, sockets } = await userWithTwoSessions(host.auth, host.app);
    await host.auth.api.revokeSession({ headers: headersOf(cookies.a), body: { token: await tokenOf(host.auth, cookies.b) } });
    await expectEnded(host.app, { socket: sockets.b, cookie: cookies.b });
    await stillOpen(sockets.a);
    await sockets.a.close();
  });

  type TwoSessions = Awaited<ReturnType<typeof userWithTwoSessions>>;
  const endingEverySession: Array<[string, (two: TwoSessions) => Promise<unknown>]> = [
    ['revokeSessions', (two) => host.auth.api.revokeSessions({ headers: headersOf(two.cookies.a) })],
    ['the admin plugin’s banUser', (two) => host.auth.api.banUser({ headers: headersOf(host.adminCookie), body: { userId: two.user.userId } })],
    ['the admin plugin’s revokeUserSessions', (two) => host.auth.api.revokeUserSessions({ headers: headersOf(host.adminCookie), body: { userId: two.user.userId } })],
    ['deleteUser (user.deleteUser enabled)', (two) => host.auth.api.deleteUser({ headers: headersOf(two.cookies.a), body: { password: two.user.password } })],
  ];
  it.each(endingEverySession)('%s: every session of the user closes', async (_name, end) => {
    const two = await userWithTwoSessions(host.auth, host.app);
    await end(two);
    await expectEnded(host.app, ...bothOf(two));
  });

  it('revokeOtherSessions: every other session closes, the caller’s stays', async () => {
    const { cookies, sockets } = await userWithTwoSessions(host.auth, host.app);
    await host.auth.api.revokeOtherSessions({ headers: headersOf(cookies.a) });
    await expectEnded(host.app, { socket: sockets.b, cookie: cookies.b });
    await stillOpen(sockets.a);
    // The spared session still opens sockets.
    await (await TestSocket.ready(host.app.wsUrl, { cookie: cookies.a })).close();
    await sockets.a.close();
  });


  it('the admin plugin’s revokeUserSession: only that session closes', async () => {
    const { cookies, sockets } = await userWithTwoSessions(host.auth, host.app);
    await host.auth.api.revokeUserSession({ headers: headersOf(host.adminCookie), body: { sessionToken: await tokenOf(host.auth, cookies.a) } });
    await expectEnded(host.app, { socket: sockets.a, cookie: cookies.a });
    await stillOpen(sockets.b);
    await sockets.b.close();
  });



  it('another user’s sockets are never touched', async () => {
    const [one, other] = [await userWithTwoSessions(host.auth, host.app), await userWithTwoSessions(host.auth, host.app)];
    await host.auth.api.revokeSessions({ headers: headersOf(one.cookies.a) });
    await closedWithin(one.sockets.a);
    await closedWithin(one.sockets.b);
    for (const socket of [other.sockets.a, other.sockets.b]) {
      await stillOpen(socket);
      await socket.close();
    }
  });
});

describe('livetail inside an host.app whose sessions live only in secondary storage (no database hook fires): the plugin’s endpoint hooks', () => {
  const host = appPerBlock({ secondaryStorage: memorySecondaryStorage() });

  it('the sessions are not rows of the host.app’s database (it has no session table at all)', async () => {
    await appSignUp(host.auth);
    expect(host.sqlite.prepare(`select name from sqlite_master where name = 'app_sessions'`).get()).toBeUndefined();
  });

  signOutTests(host);

  it('revokeSession, revokeOtherSessions and revokeSessions close what they revoke', async () => {
    const one = await userWithTwoSessions(host.auth, host.app);
    await host.auth.api.revokeSession({ headers: headersOf(one.cookies.a), body: { token: await tokenOf(host.auth, one.cookies.b) } });
    await expectEnded(host.app, bothOf(one)[1]!);
    await stillOpen(one.sockets.a);
    await one.sockets.a.close();

    const others = await userWithTwoSessions(host.auth, host.app);
    await host.auth.api.revokeOtherSessions({ headers: headersOf(others.cookies.a) });
    await expectEnded(host.app, bothOf(others)[1]!);
    await stillOpen(others.sockets.a);
    await host.auth.api.revokeSessions({ headers: headersOf(others.cookies.a) });
    await expectEnded(host.app, bothOf(others)[0]!);
  });

  it('the admin plugin’s banUser closes every session of the user (the user update hook)', async () => {
    const banned = await userWithTwoSessions(host.auth, host.app);
    await host.auth.api.banUser({ headers: headersOf(host.adminCookie), body: { userId: banned.user.userId } });
    await expectEnded(host.app, ...bothOf(banned));
  });

  it('the admin plugin’s revokeUserSession closes that session, revokeUserSessions every one', async () => {
    const revoked = await userWithTwoSessions(host.auth, host.app);
    await host.auth.api.revokeUserSession({ headers: headersOf(host.adminCookie), body: { sessionToken: await tokenOf(host.auth, revoked.cookies.a) } });
    await expectEnded(host.app, bothOf(revoked)[0]!);
    await stillOpen(revoked.sockets.b);
    await host.auth.api.revokeUserSessions({ headers: headersOf(host.adminCookie), body: { userId: revoked.user.userId } });
    await expectEnded(host.app, bothOf(revoked)[1]!);
  });

  it('deleteUser closes every session of the user (the user delete hook)', async () => {
    const deleted = await userWithTwoSessions(host.auth, host.app);
    await host.auth.api.deleteUser({ headers: headersOf(deleted.cookies.a), body: { password: deleted.user.password } });
    await expectEnded(host.app, ...bothOf(deleted));
  });

  it('an admin endpoint that refuses the caller (not an admin) closes nothing', async () => {
    const victim = await userWithTwoSessions(host.auth, host.app);
    const intruder = await appSignUp(host.auth);
    await expect(host.auth.api.revokeUserSessions({ headers: headersOf(intruder.cookie), body: { userId: victim.user.userId } })).rejects.toThrow();
    await expect(host.auth.api.revokeUserSession({ headers: headersOf(intruder.cookie), body: { sessionToken: await tokenOf(host.auth, victim.cookies.a) } })).rejects.toThrow();
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
