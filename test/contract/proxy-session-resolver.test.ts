import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxySessionResolver } from '../../src/sessions/proxy-session-resolver.js';
import { SessionCheckUnavailable } from '../../src/sessions/session-resolver.js';
import { appSignUp, createAppAuth } from '../helpers/app-auth.js';
import { startAppServer } from '../helpers/app-server.js';
import { sessionResolverContract } from './session-resolver.contract.js';

sessionResolverContract('ProxySessionResolver (the app’s own /api/auth/get-session over HTTP)', async () => {
  const { auth, database } = await createAppAuth({ plugin: false });
  const app = await startAppServer(auth);
  return {
    resolver: new ProxySessionResolver({ url: `${app.url}/api/auth/get-session`, timeoutMs: 1000 }),
    signUp: () => appSignUp(auth),
    signOut: async (cookie) => {
      await fetch(`${app.url}/api/auth/sign-out`, { method: 'POST', headers: { cookie, origin: 'http://app.test' } });
    },
    storedExpiry: async (sessionId) => {
      const row = database.prepare('select expires_at from app_sessions where id = ?').get(sessionId) as { expires_at: number | string };
      return new Date(row.expires_at).getTime();
    },
    breakSource: () => app.close(),
    close: async () => {
      await app.close();
      database.close();
    },
  };
});

/** A server of the test's own that answers every request with `answer` (or never, when it is undefined). */
async function scripted(answer?: (res: http.ServerResponse) => void) {
  const server = http.createServer((_req, res) => answer?.(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/session`,
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())),
  };
}

describe('ProxySessionResolver against endpoints that are not better-auth', () => {
  const servers: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  const serve = async (answer?: (res: http.ServerResponse) => void) => {
    const s = await scripted(answer);
    servers.push(s);
    return new ProxySessionResolver({ url: s.url, timeoutMs: 300 });
  };
  const json = (status: number, body: unknown) => (res: http.ServerResponse) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const creds = { cookie: 'sid=1' };

  it('takes the same JSON shape from any endpoint, with expiresAt as an ISO string or epoch ms', async () => {
    const expires = Date.now() + 60_000;
    const iso = await serve(json(200, { session: { id: 's1', userId: 'u1', expiresAt: new Date(expires).toISOString() }, user: { id: 'u1' } }));
    expect(await iso.resolve(creds)).toEqual({ sessionId: 's1', userId: 'u1', expiresAt: expires });
    const epoch = await serve(json(200, { session: { id: 's2', userId: 'u2', expiresAt: expires } }));
    expect(await epoch.resolve(creds)).toEqual({ sessionId: 's2', userId: 'u2', expiresAt: expires });
  });

  it('answers null for 200 null, 401 and 403', async () => {
    for (const answer of [json(200, null), json(401, { error: 'no' }), json(403, {})]) {
      expect(await (await serve(answer)).resolve(creds)).toBeNull();
    }
  });

  it('is unavailable for a 500, a 404, a non-JSON body, a shape it does not know, or a user that is not the session’s', async () => {
    const answers = [
      json(500, {}),
      json(404, {}),
      (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>'),
      json(200, { session: { id: 's1' } }),
      json(200, { session: { id: 's1', userId: 'u1', expiresAt: Date.now() + 1000 }, user: { id: 'u2' } }),
    ];
    for (const answer of answers) await expect((await serve(answer)).resolve(creds)).rejects.toBeInstanceOf(SessionCheckUnavailable);
  });

  it('is unavailable, within its timeout, when the app never answers', async () => {
    const resolver = await serve();
    const started = Date.now();
    await expect(resolver.resolve(creds)).rejects.toThrow(/did not answer within 300 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('forwards only Cookie and Authorization, and asks better-auth not to refresh nor use its cookie cache', async () => {
    let seen: http.IncomingHttpHeaders = {};
    let url = '';
    const s = http.createServer((req, res) => {
      seen = req.headers;
      url = req.url ?? '';
      json(200, null)(res);
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    servers.push({ close: () => new Promise<void>((resolve) => s.close(() => resolve())) });
    const resolver = new ProxySessionResolver({ url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/api/auth/get-session` });
    await resolver.resolve({ cookie: 'a=1', authorization: 'Bearer t', ...({ 'x-forwarded-for': '1.2.3.4', host: 'evil' } as object) });
    expect(seen.cookie).toBe('a=1');
    expect(seen.authorization).toBe('Bearer t');
    expect(seen['x-forwarded-for']).toBeUndefined();
    expect(url).toBe('/api/auth/get-session?disableCookieCache=true&disableRefresh=true');
  });

  it('ping: up when the endpoint answers without credentials, down when it answers 5xx or not at all', async () => {
    await expect((await serve(json(200, null))).ping()).resolves.toBeUndefined();
    await expect((await serve(json(401, {}))).ping()).resolves.toBeUndefined();
    await expect((await serve(json(503, {}))).ping()).rejects.toBeInstanceOf(SessionCheckUnavailable);
    await expect((await serve()).ping()).rejects.toBeInstanceOf(SessionCheckUnavailable);
  });
});
