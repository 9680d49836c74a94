import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signOut, signUp, signUpRequest, type TestUser } from '../helpers/http.js';
import { type TestServer, TEST_ORIGIN, startTestServer } from '../helpers/server.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

describe('WebSocket upgrade: authentication and origin', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ TRUSTED_ORIGINS: `${TEST_ORIGIN},http://console.example` });
    alice = await signUp(server.url);
  });
  afterAll(() => server.close());

  it('refuses an upgrade without a cookie with 401 and a JSON error', async () => {
    const { status, body } = await refusedUpgrade(server.wsUrl);
    expect(status).toBe(401);
    expect(body).toMatchObject({ code: 'SESSION_INVALID', error: expect.stringContaining('sign in') });
  });

  it('refuses a forged cookie with 401', async () => {
    const { status } = await refusedUpgrade(server.wsUrl, { cookie: 'better-auth.session_token=forged.value' });
    expect(status).toBe(401);
  });

  it('refuses a cookie whose session was signed out with 401', async () => {
    const bob = await signUp(server.url);
    expect((await signOut(server.url, bob.cookie)).status).toBe(200);
    const { status } = await refusedUpgrade(server.wsUrl, { cookie: bob.cookie });
    expect(status).toBe(401);
  });

  it('refuses an Origin that is not trusted with 403, even with a valid cookie', async () => {
    const { status, body } = await refusedUpgrade(server.wsUrl, { cookie: alice.cookie, origin: 'http://evil.example' });
    expect(status).toBe(403);
    expect(body.code).toBe('ORIGIN_NOT_ALLOWED');
  });

  it('accepts a trusted Origin and a request without Origin', async () => {
    for (const origin of [TEST_ORIGIN, 'http://console.example', undefined]) {
      const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie, origin });
      await socket.close();
    }
  });

  it('accepts the session cookie under its __Secure- name, as better-auth sets it behind https', async () => {
    const secure = await startTestServer({ BASE_URL: 'https://livetail.test' });
    try {
      const res = await signUpRequest(secure.url, { origin: 'https://livetail.test' });
      expect(res.status).toBe(200);
      const secureCookie = res.headers
        .getSetCookie()
        .map((c) => c.split(';')[0]!)
        .find((c) => c.startsWith('__Secure-better-auth.session_token='));
      expect(secureCookie).toBeDefined();
      const socket = await TestSocket.ready(secure.wsUrl, { cookie: `theme=dark; ${secureCookie}`, origin: 'https://livetail.test' });
      await socket.close();
    } finally {
      await secure.close();
    }
  });

  it('answers 404 for an upgrade on another path', async () => {
    const { status } = await refusedUpgrade(server.wsUrl.replace('/ws', '/other'), { cookie: alice.cookie });
    expect(status).toBe(404);
  });

  it('answers 400 for an unknown channel in the query', async () => {
    const { status, body } = await refusedUpgrade(server.wsUrl, { cookie: alice.cookie, query: 'channels=nope' });
    expect(status).toBe(400);
    expect(body.code).toBe('INVALID_QUERY');
  });
});

describe('better-auth endpoints: Origin', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('refuses a sign-up from an untrusted Origin and accepts the trusted one', async () => {
    // The same email twice: the refused attempt must not have created the user.
    const post = (origin: string) => signUpRequest(server.url, { email: 'origin-check@example.com', origin });
    expect((await post('http://evil.example')).status).toBe(403);
    expect((await post(TEST_ORIGIN)).status).toBe(200);
  });
});
