import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_ERRORS } from '../../src/errors.js';
import { clockTime } from '../../src/util/local-time.js';
import { signUp } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { checkPrerequisites, consoleServerEnv, EVENTUALLY, freePort, launchBrowser, newContext, screenshotPath } from './browser.js';

/**
 * The console opened at an origin the server does not trust (its own port under another host name):
 * the real gateway refuses the socket with 403, and the console says why and what to do. The check's
 * answers are the contract's, given by the browser context (the real one lives in the gateway, built
 * beside this), so each reason can be shown on demand.
 */
describe('web console in Chromium, refused by the server', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  /** The answer the next check gets. */
  let answer: { status: number; code: keyof typeof HTTP_ERRORS; retryAfter?: number } = { status: 403, code: 'ORIGIN_NOT_ALLOWED' };
  const upgrades: string[] = [];

  beforeAll(async () => {
    checkPrerequisites();
    const port = await freePort();
    server = await startTestServer(consoleServerEnv(port));
    origin = `http://localhost:${port}`; // BASE_URL is http://127.0.0.1:port
    browser = await launchBrowser();
    context = await newContext(browser);
    await context.route(
      (url) => url.pathname === '/ws',
      (route: Route) =>
        route.fulfill({
          status: answer.status,
          contentType: 'application/json',
          headers: answer.retryAfter === undefined ? {} : { 'retry-after': String(answer.retryAfter) },
          body: JSON.stringify({ error: HTTP_ERRORS[answer.code].message, code: answer.code }),
        }),
    );
    page = await context.newPage();
    page.on('websocket', (ws) => upgrades.push(ws.url()));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const banner = () => page.locator('.banner');

  it('says the origin is not allowed and to add it to TRUSTED_ORIGINS, after one attempt', async () => {
    // better-auth refuses a sign-in from this origin too: the session comes from a trusted one.
    const user = await signUp(server.url);
    const [name, value] = user.cookie.split(';')[0]!.split('=') as [string, string];
    await context.addCookies([{ name, value, url: origin }]);
    await page.goto(origin);
    await page.locator('.connection[data-state="forbidden"]').waitFor();
    expect(await page.locator('.connection').textContent()).toBe('origin not allowed');
    expect(await banner().locator('.advice').textContent()).toBe(
      `This page's origin (${origin}) is not allowed by the server: add it to TRUSTED_ORIGINS, then retry.`,
    );
    expect(await banner().getByRole('button', { name: 'Retry' }).isVisible()).toBe(true);
    expect(await page.locator('.connection').getAttribute('title')).toBe(`${HTTP_ERRORS.ORIGIN_NOT_ALLOWED.message} (HTTP 403, ORIGIN_NOT_ALLOWED)`);
    expect(upgrades).toHaveLength(1);
    await page.screenshot({ path: screenshotPath('console-forbidden.png') });
  });

  it('retries on Retry; rate limited, it says when it retries', async () => {
    answer = { status: 429, code: 'UPGRADE_RATE_LIMITED', retryAfter: 60 };
    const clicked = Date.now();
    await banner().getByRole('button', { name: 'Retry' }).click();
    await page.locator('.connection[data-state="rate-limited"]').waitFor();
    expect(upgrades).toHaveLength(2);
    const advice = (await banner().locator('.advice').textContent())!;
    const at = /^Too many connection attempts: retrying at (\d\d:\d\d:\d\d)\.$/.exec(advice)?.[1];
    expect(at, advice).toBeDefined();
    // At least Retry-After after the click, and within twice that (the jitter's window), to the second.
    const candidates = Array.from({ length: 62 }, (_, i) => clockTime(clicked + 59_000 + i * 1000));
    expect(candidates).toContain(at);
    expect(await banner().getByRole('button').isHidden()).toBe(true);
    await page.screenshot({ path: screenshotPath('console-rate-limited.png') });
  });
});
