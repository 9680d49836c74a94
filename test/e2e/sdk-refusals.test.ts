import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RefusalReason, StateChange } from '../../src/client/index.js';
import { appSignUp, createAppAuth } from '../helpers/app-auth.js';
import { startAppServer } from '../helpers/app-server.js';
import { signOut, signUp } from '../helpers/http.js';
import { claimedOrigin, refusal, startScriptedGateway } from '../helpers/scripted-gateway.js';
import { TEST_ORIGIN, startTestServer } from '../helpers/server.js';
import { CHROMIUM, EVENTUALLY, consoleServerEnv, freePort, launchBrowser, newContext } from './browser.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist');
/** Where the test page and the built SDK are served, on whatever origin the page is opened. */
const PAGE_PATH = '/livetail-sdk-test/';
/**
 * A page fulfilled by the test has no address, so Chromium's Local Network Access checks count it as
 * public and block its WebSocket to a loopback server (its fetch is let through). A real page comes from
 * the server it connects to and is never blocked; the flag only makes up for the page's origin.
 */
const LOCAL_NETWORK_ACCESS_OFF = '--disable-features=LocalNetworkAccessChecks';
/** Longer than any retry the page's backoff (cap 200 ms) can schedule: no attempt after it means none at all. */
const QUIET_MS = 1000;

interface Cookie {
  name: string;
  value: string;
}

/**
 * The server the page talks to, the one part that changes between the rows of the table below: a
 * scripted gateway that implements the contract the SDK was built on, and livetail itself in both auth
 * modes. It only has to answer the upgrade at /ws and the check; the page and the SDK are served by the
 * browser context.
 */
interface ServerUnderTest {
  /** An origin of the server that it trusts, e.g. http://127.0.0.1:port. */
  trustedOrigin: string;
  /** The same server under an origin it does not trust, e.g. http://localhost:port. */
  untrustedOrigin: string;
  /** An origin of the app's pages (another port of the same host) that the server trusts; for the cross-origin tests. */
  appOrigin?: string;
  /** The session cookie of a signed-in user. */
  validCookie: Cookie;
  /** The session cookie of a user who signed out. */
  signedOutCookie: Cookie;
  close(): Promise<void>;
}

/** A scripted gateway that implements the refused-upgrade contract: Origin first, then the session. */
async function startScriptedServer(): Promise<ServerUnderTest> {
  const validCookie = { name: 'better-auth.session_token', value: 'session-of-a-signed-in-user' };
  const signedOutCookie = { name: 'better-auth.session_token', value: 'session-that-was-signed-out' };
  let trustedOrigin = '';
  const gateway = await startScriptedGateway({
    decide: (req) => {
      const origin = claimedOrigin(req);
      if (origin !== undefined && origin !== trustedOrigin) return refusal('ORIGIN_NOT_ALLOWED');
      if (!(req.headers.cookie ?? '').includes(`${validCookie.name}=${validCookie.value}`)) return refusal('SESSION_INVALID');
      return undefined;
    },
    onConnection: (ws) => ws.send(JSON.stringify({ type: 'initial-logs', logs: [], timestamp: new Date().toISOString() })),
  });
  trustedOrigin = `http://127.0.0.1:${gateway.port}`;
  return { trustedOrigin, untrustedOrigin: `http://localhost:${gateway.port}`, validCookie, signedOutCookie, close: gateway.close };
}

/** `name=value` (a Cookie header's first pair, as the helpers return it) as a browser cookie. */
function cookieOf(header: string): Cookie {
  const pair = header.split(';')[0]!;
  const at = pair.indexOf('=');
  return { name: pair.slice(0, at), value: pair.slice(at + 1) };
}

/**
 * livetail on a free port with the console's environment and `env`: its own origin (127.0.0.1:port) and
 * an app's origin (another port) trusted, the same port as localhost not. `users` makes the two cookies.
 */
async function livetailUnderTest(
  env: Record<string, string>,
  users: (url: string) => Promise<{ valid: string; signedOut: string }>,
  closeMore: () => Promise<void> = async () => {},
): Promise<ServerUnderTest> {
  const port = await freePort();
  const trustedOrigin = `http://127.0.0.1:${port}`;
  const appOrigin = `http://127.0.0.1:${await freePort()}`;
  const server = await startTestServer(consoleServerEnv(port, { TRUSTED_ORIGINS: `${trustedOrigin},${appOrigin},${TEST_ORIGIN}`, ...env }));
  const { valid, signedOut } = await users(server.url);
  return {
    trustedOrigin,
    untrustedOrigin: `http://localhost:${port}`,
    appOrigin,
    validCookie: cookieOf(valid),
    signedOutCookie: cookieOf(signedOut),
    close: async () => {
      await server.close();
      await closeMore();
    },
  };
}

/** livetail itself with its built-in auth: a user signed up, and one signed out, through its /api/auth. */
function startLivetail(): Promise<ServerUnderTest> {
  return livetailUnderTest({}, async (url) => {
    const valid = await signUp(url);
    const gone = await signUp(url);
    expect((await signOut(url, gone.cookie)).status).toBe(200);
    return { valid: valid.cookie, signedOut: gone.cookie };
  });
}

/**
 * livetail in proxy mode beside the stand-in app (its own cookie name, tables and fields): the app's
 * get-session answers who the user is, its sign-out makes the cookie a signed-out one.
 */
async function startLivetailBesideApp(): Promise<ServerUnderTest> {
  const { auth, database } = await createAppAuth({ plugin: false });
  const app = await startAppServer(auth);
  const users = async () => {
    const valid = await appSignUp(auth);
    const gone = await appSignUp(auth);
    const signedOut = await fetch(`${app.url}/api/auth/sign-out`, { method: 'POST', headers: { cookie: gone.cookie, origin: 'http://app.test' } });
    expect(signedOut.status).toBe(200);
    return { valid: valid.cookie, signedOut: gone.cookie };
  };
  return livetailUnderTest({ AUTH_SESSION_URL: `${app.url}/api/auth/get-session` }, users, async () => {
    await app.close();
    database.close();
  });
}

/** The page: the built SDK (dist/client, as `livetail/client` ships it) with the native WebSocket, recording its states. */
const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>livetail SDK in a browser</title></head><body>
<script type="module">
  import { createClient } from './client/index.js';
  const states = (window.states = []);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // ?ws=<url>: a page of another origin (the app's) connecting to the server; by default the page's own server.
  const url = new URLSearchParams(location.search).get('ws') ?? scheme + '//' + location.host + '/ws';
  window.client = createClient({ url, backoff: { baseMs: 100, capMs: 200 } });
  window.client.on('state', (state) => states.push(state));
</script>
</body></html>`;

/** Fails early with what to do when the browser or a build of the SDK with the check is missing. */
function checkSdkBuild(): void {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's Chromium with "apt-get install -y chromium"`);
  const built = path.join(DIST, 'client', 'client.js');
  const source = path.join(ROOT, 'src', 'client', 'client.ts');
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(source).mtimeMs) {
    throw new Error('dist/client is missing or older than src/client: run "npm run build" (npm test does it first)');
  }
}

/** Serves the page and dist/client + dist/protocol under PAGE_PATH on `origin`, from this process. */
async function servePage(context: BrowserContext, origin: string): Promise<void> {
  await context.route(`${origin}${PAGE_PATH}**`, async (route) => {
    const file = new URL(route.request().url()).pathname.slice(PAGE_PATH.length);
    if (file === 'index.html') return route.fulfill({ contentType: 'text/html', body: PAGE_HTML });
    const resolved = path.join(DIST, file);
    const allowed = /^(client|protocol)\/[\w-]+\.js$/.test(file) && fs.existsSync(resolved);
    if (!allowed) return route.fulfill({ status: 404, body: 'not part of the SDK' });
    return route.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(resolved, 'utf8') });
  });
}

/** What the page did: its SDK states, and the upgrade attempts and checks the browser made. */
interface PageRecord {
  page: Page;
  upgrades: string[];
  checks: Array<{ url: string; headers: Record<string, string> }>;
  states(): Promise<StateChange[]>;
}

/**
 * Each server, and whether it also answers pages of other origins (an app's pages on another port of the
 * same host, as beside an app): the check is then a CORS request the server must let the page read.
 */
describe.each([
  ['a scripted gateway', startScriptedServer, false],
  ['livetail (built-in auth)', startLivetail, true],
  ['livetail beside an app (proxy auth mode)', startLivetailBesideApp, true],
] as const)('livetail/client in Chromium, refused by %s', (_name, startServer, crossOrigin) => {
  let server: ServerUnderTest;
  let browser: Browser;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    checkSdkBuild();
    server = await startServer();
    browser = await launchBrowser([LOCAL_NETWORK_ACCESS_OFF]);
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /**
   * Opens the page at `origin` with `cookie` set for it, and records what it does. The page connects to
   * its own origin's /ws, or to `wsUrl`.
   */
  const open = async (origin: string, cookie: Cookie, wsUrl?: string): Promise<PageRecord> => {
    context = await newContext(browser);
    await context.addCookies([{ ...cookie, url: origin }]);
    await servePage(context, origin);
    const page = await context.newPage();
    const record: PageRecord = {
      page,
      upgrades: [],
      checks: [],
      states: () => page.evaluate(() => (window as unknown as { states: StateChange[] }).states),
    };
    page.on('websocket', (ws) => record.upgrades.push(ws.url()));
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/ws' && request.resourceType() === 'fetch') {
        record.checks.push({ url: request.url(), headers: request.headers() });
      }
    });
    await page.goto(`${origin}${PAGE_PATH}index.html${wsUrl ? `?ws=${encodeURIComponent(wsUrl)}` : ''}`);
    return record;
  };
  const lastState = async (record: PageRecord) => (await record.states()).at(-1)?.state;
  const quiet = () => new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  /** Expects the page to end in `state` with `reason` and stay there: one upgrade attempt and one check, no more. */
  const stopsAfterOneAttempt = async (record: PageRecord, state: StateChange['state'], reason: Partial<RefusalReason>) => {
    await expect.poll(() => lastState(record), EVENTUALLY).toBe(state);
    await quiet();
    const states = await record.states();
    expect(states.map((s) => s.state)).toEqual(['connecting', state]);
    expect(states[1]).toMatchObject({ code: 1006, reason });
    expect(record.upgrades).toHaveLength(1);
    expect(record.checks).toHaveLength(1);
    return states[1]!;
  };

  it('opens from a trusted origin with a valid session, without asking anything', async () => {
    const record = await open(server.trustedOrigin, server.validCookie);
    await expect.poll(() => lastState(record), EVENTUALLY).toBe('open');
    expect(record.upgrades).toHaveLength(1);
    expect(record.checks).toHaveLength(0);
  });

  it('ends in forbidden with ORIGIN_NOT_ALLOWED from an untrusted origin, after one attempt and one check', async () => {
    const record = await open(server.untrustedOrigin, server.validCookie);
    const forbidden = await stopsAfterOneAttempt(record, 'forbidden', { code: 'ORIGIN_NOT_ALLOWED', status: 403 });
    expect(forbidden.reason!.message).toMatch(/TRUSTED_ORIGINS/);
    // A same-origin GET carries no Origin: the page's origin travels in x-livetail-origin.
    expect(record.checks[0]!.headers['x-livetail-origin']).toBe(server.untrustedOrigin);
    expect(new URL(record.checks[0]!.url).search).toBe(new URL(record.upgrades[0]!).search);
  });

  it('ends in unauthenticated with SESSION_INVALID with a signed-out cookie, after one attempt and one check', async () => {
    const record = await open(server.trustedOrigin, server.signedOutCookie);
    await stopsAfterOneAttempt(record, 'unauthenticated', { code: 'SESSION_INVALID', status: 401 });
  });

  describe.runIf(crossOrigin)('from a page of another origin (the app’s), through CORS', () => {
    /** The app's pages: another port of the server's host, trusted (TRUSTED_ORIGINS), or under another name, not. */
    const serverWs = () => `${server.trustedOrigin.replace('http', 'ws')}/ws`;

    it('opens with a valid session', async () => {
      const record = await open(server.appOrigin!, server.validCookie, serverWs());
      await expect.poll(() => lastState(record), EVENTUALLY).toBe('open');
      expect(record.checks).toHaveLength(0);
    });

    it('ends in forbidden with ORIGIN_NOT_ALLOWED from an untrusted origin, after one attempt and one check', async () => {
      const record = await open(server.appOrigin!.replace('127.0.0.1', 'localhost'), server.validCookie, serverWs());
      await stopsAfterOneAttempt(record, 'forbidden', { code: 'ORIGIN_NOT_ALLOWED', status: 403 });
      // Cross-origin, the browser sends Origin itself: no custom header, no preflight.
      expect(record.checks[0]!.headers['x-livetail-origin']).toBeUndefined();
    });

    it('ends in unauthenticated with SESSION_INVALID with a signed-out cookie, after one attempt and one check', async () => {
      const record = await open(server.appOrigin!, server.signedOutCookie, serverWs());
      await stopsAfterOneAttempt(record, 'unauthenticated', { code: 'SESSION_INVALID', status: 401 });
    });
  });
});
