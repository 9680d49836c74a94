import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { api, entry, service } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import {
  checkPrerequisites,
  consoleServerEnv,
  EVENTUALLY,
  freePort,
  launchBrowser,
  newContext,
  screenshotPath,
  userIdOf,
  visibleCommands,
} from './browser.js';

/** The README's screenshot: refreshed from this test's light screenshot with LIVETAIL_UPDATE_DOCS=1. */
const DOCS_SCREENSHOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'console.png');

/**
 * The console in a real Chromium against a real server. One user signs up in the page in the first
 * test and the page stays open for the others (a page load costs seconds on a busy machine); each
 * test starts from an empty log table, cleared through the API.
 */
describe('web console in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let userId: string;
  const email = `page-${randomUUID()}@example.com`;
  const password = 'correct horse battery staple';

  beforeAll(async () => {
    checkPrerequisites();
    server = await startTestServer(consoleServerEnv(await freePort()));
    browser = await launchBrowser();
    context = await newContext(browser);
    page = await context.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(async () => {
    if (!userId) return;
    expect((await api(server.url, 'DELETE', `/api/logs?userId=${userId}`, service)).status).toBe(200);
    await expect.poll(() => page.locator('.counts').textContent(), EVENTUALLY).toBe('0 logs');
  });

  const pageUrl = () => server.env.BASE_URL!;
  const publish = async (overrides: Record<string, unknown> = {}) => {
    const res = await api(server.url, 'POST', '/api/logs', service, entry({ userId, ...overrides }));
    expect(res.status).toBe(201);
  };
  const publishJob = async (event: Record<string, unknown>) => {
    expect((await api(server.url, 'POST', '/api/jobs/events', service, { userId, ...event })).status).toBe(201);
  };
  const job = (jobId: string) => page.locator(`.job[data-job-id="${jobId}"]`);

  it('answers a wrong password in the form, then signs up and starts the console without a reload', async () => {
    await page.goto(pageUrl());
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.locator('.form-error').textContent(), EVENTUALLY).toMatch(/invalid email or password/i);

    await page.getByRole('button', { name: 'No account yet? Create one' }).click();
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account', exact: true }).click();
    await expect.poll(() => page.locator('.connection').textContent(), EVENTUALLY).toBe('connected');
    expect(await page.locator('.topbar .user').textContent()).toBe(email);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    userId = await userIdOf(page);
    // The empty table tells the new user how to make a log appear.
    expect(await page.locator('.publish-hint .command').textContent()).toContain(`--user ${userId}`);
  });

  it('shows the initial logs on open, oldest first, with time, coloured level, account, command and duration', async () => {
    await publish({ command: 'LOGIN', emailAccountId: 'alice@example.com', level: 'info', data: { duration: 150 } });
    await publish({ command: 'SELECT', emailAccountId: 'alice@example.com', level: 'warn', data: { duration: 1500 } });
    await publish({ command: 'FETCH', emailAccountId: 'bob@example.com', level: 'error', data: { error: 'NO [UNAVAILABLE]' } });
    await page.reload(); // a fresh connection: these come in initial-logs
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['LOGIN', 'SELECT', 'FETCH']);
    const first = page.locator('.row', { hasText: 'LOGIN' });
    expect(await first.locator('.time').textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    expect(await first.locator('.account').textContent()).toBe('alice@example.com');
    expect(await first.locator('.duration').textContent()).toBe('150 ms');
    expect(await page.locator('.row', { hasText: 'SELECT' }).locator('.duration').textContent()).toBe('1.50 s');
    const colours = await page.locator('.spacer .row .level').evaluateAll((cells) => cells.map((c) => getComputedStyle(c).color));
    expect(new Set(colours).size).toBe(3);
  });

  it('shows a log POSTed to /api/logs within 1 s, at the bottom', async () => {
    await publish({ command: 'OLDER' });
    await page.locator('.row', { hasText: 'OLDER' }).waitFor();
    const started = Date.now();
    await publish({ command: 'NEWEST' });
    await page.locator('.row', { hasText: 'NEWEST' }).waitFor({ timeout: 1000 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await visibleCommands(page)).toEqual(['OLDER', 'NEWEST']);
  });

  it('fills the window with the table and the jobs panel, with one row as with many (screenshots in test-artifacts/)', async () => {
    const geometry = () =>
      page.evaluate(() => ({
        window: window.innerHeight,
        page: document.documentElement.scrollHeight,
        table: document.querySelector('.log-table')!.getBoundingClientRect().bottom,
        jobs: document.querySelector('.jobs-panel')!.getBoundingClientRect().bottom,
      }));
    const expectFilled = async () => {
      const g = await geometry();
      expect(Math.abs(g.table - g.window), JSON.stringify(g)).toBeLessThanOrEqual(2);
      expect(Math.abs(g.jobs - g.window), JSON.stringify(g)).toBeLessThanOrEqual(2);
      expect(g.page, 'the page itself never scrolls').toBeLessThanOrEqual(g.window);
    };
    await publish({ command: 'ONLY' });
    await page.locator('.row', { hasText: 'ONLY' }).waitFor();
    await expectFilled();
    await page.screenshot({ path: screenshotPath('layout-one-row.png') });

    const logs = Array.from({ length: 120 }, (_, i) => entry({ userId, command: `MANY${i}` }));
    expect((await api(server.url, 'POST', '/api/logs', service, logs)).status).toBe(201);
    await expect.poll(() => page.locator('.counts').textContent(), EVENTUALLY).toBe('121 logs');
    await expectFilled();
    await page.screenshot({ path: screenshotPath('layout-many-rows.png') });
  });

  it('expands a row with the keyboard to show raw, parsed, response and error', async () => {
    await publish({
      command: 'FETCH',
      data: { raw: 'A7 FETCH 1:5 (FLAGS)', parsed: { sequence: '1:5', items: ['FLAGS'] }, response: 'A7 OK FETCH completed', duration: 9, error: 'partial: 2 messages missing' },
    });
    await page.locator('.row', { hasText: 'FETCH' }).waitFor();
    await page.locator('.log-grid').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const detail = page.locator('.row.expanded .detail');
    await detail.waitFor();
    expect(await detail.locator('.part-raw pre').textContent()).toBe('A7 FETCH 1:5 (FLAGS)');
    expect(JSON.parse((await detail.locator('.part-parsed pre').textContent())!)).toEqual({ sequence: '1:5', items: ['FLAGS'] });
    expect(await detail.locator('.part-response pre').textContent()).toBe('A7 OK FETCH completed');
    expect(await detail.locator('.part-error pre').textContent()).toBe('partial: 2 messages missing');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('.row.expanded').count(), EVENTUALLY).toBe(0);
  });

  it('moves a job progress bar and ends it completed; a failed job shows its reason', async () => {
    const bar = job('import-1').locator('[role="progressbar"]');
    await publishJob({ jobId: 'import-1', name: 'import', status: 'active', progress: 10 });
    await expect.poll(() => bar.getAttribute('aria-valuenow'), EVENTUALLY).toBe('10');
    await publishJob({ jobId: 'import-1', status: 'progress', progress: 60 });
    await expect.poll(() => bar.getAttribute('aria-valuenow'), EVENTUALLY).toBe('60');
    expect(await job('import-1').locator('.job-status').textContent()).toBe('active');
    await publishJob({ jobId: 'import-1', status: 'completed' });
    await expect.poll(() => job('import-1').locator('.job-status').textContent(), EVENTUALLY).toBe('completed');
    expect(await bar.getAttribute('aria-valuenow')).toBe('100');
    expect(await job('import-1').locator('.job-duration').textContent()).toMatch(/^took \d/);

    await publishJob({ jobId: 'export-2', status: 'failed', failedReason: 'mailbox locked' });
    await expect.poll(() => job('export-2').locator('.job-failure').textContent(), EVENTUALLY).toBe('mailbox locked');
  });

  it('filters by level, account, command and free text, and highlights the match', async () => {
    await publish({ command: 'LOGIN', emailAccountId: 'a@example.com', level: 'debug', data: { raw: 'A1 LOGIN a' } });
    await publish({ command: 'FETCH', emailAccountId: 'a@example.com', level: 'info', data: { raw: 'A2 FETCH 1:* (FLAGS)' } });
    await publish({ command: 'FETCH', emailAccountId: 'b@example.com', level: 'warn', data: { raw: 'B1 FETCH 7 (BODY[])' } });
    await publish({ command: 'IDLE', emailAccountId: 'b@example.com', level: 'error', data: { error: 'connection reset' } });
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['LOGIN', 'FETCH', 'FETCH', 'IDLE']);

    await page.getByLabel('Minimum level').selectOption('warn');
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['FETCH', 'IDLE']);
    await page.getByLabel('Minimum level').selectOption('debug');
    await page.getByLabel('Email account').selectOption('a@example.com');
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['LOGIN', 'FETCH']);
    await page.getByLabel('Email account').selectOption('');
    await page.getByLabel('Command').selectOption('FETCH');
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['FETCH', 'FETCH']);
    await page.getByLabel('Command').selectOption('');

    await page.locator('body').press('/'); // the search shortcut
    await page.keyboard.type('body[');
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['FETCH']);
    expect(await page.locator('.spacer .row mark').allTextContents()).toEqual(['BODY[']);
    expect(await page.locator('.counts').textContent()).toBe('1 of 4 logs');
    await page.getByLabel('Search logs').fill('no such text');
    await page.getByLabel('Search logs').press('Enter');
    await page.getByText('No log matches the filters.').waitFor();
    expect(await page.locator('.publish-hint').isHidden()).toBe(true);
    await page.getByLabel('Search logs').fill('');
    await page.getByLabel('Search logs').press('Enter');
    await expect.poll(() => page.locator('.counts').textContent(), EVENTUALLY).toBe('4 logs');
  });

  it('pauses with a count of buffered logs and shows them on resume', async () => {
    await publish({ command: 'BEFORE' });
    await page.locator('.row', { hasText: 'BEFORE' }).waitFor();
    await page.getByRole('button', { name: 'Pause' }).click();
    for (const command of ['P1', 'P2', 'P3']) await publish({ command });
    await expect.poll(() => page.locator('.held').textContent(), EVENTUALLY).toBe('paused · 3 new logs buffered');
    expect(await visibleCommands(page)).toEqual(['BEFORE']);
    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['BEFORE', 'P1', 'P2', 'P3']);
    expect(await page.locator('.held').textContent()).toBe('');
  });

  it('follows new logs at the bottom, stops when scrolled up, and jumps back to the latest', async () => {
    const logs = Array.from({ length: 200 }, (_, i) => entry({ userId, command: `C${i}` }));
    expect((await api(server.url, 'POST', '/api/logs', service, logs)).status).toBe(201);
    await expect.poll(async () => (await visibleCommands(page)).at(-1), EVENTUALLY).toBe('C199');
    expect(await page.locator('.spacer .row').count()).toBeLessThan(60); // virtualized: not 200 rows
    await page.locator('.viewport').evaluate((el) => (el.scrollTop = 0));
    await expect.poll(() => page.locator('.jump').isVisible(), EVENTUALLY).toBe(true);
    await publish({ command: 'UNSEEN' });
    await expect.poll(() => page.locator('.jump').textContent(), EVENTUALLY).toBe('↓ Jump to latest (1 new log)');
    expect(await visibleCommands(page)).not.toContain('UNSEEN');
    await page.locator('.jump').click();
    await expect.poll(async () => (await visibleCommands(page)).at(-1), EVENTUALLY).toBe('UNSEEN');
    expect(await page.locator('.jump').isHidden()).toBe(true);
  });

  it('clears the logs after a confirm, and the other tab of the same user empties too', async () => {
    await publish({ command: 'DOOMED' });
    const other = await context.newPage();
    await other.goto(pageUrl());
    await other.locator('.row', { hasText: 'DOOMED' }).waitFor();
    await page.locator('.row', { hasText: 'DOOMED' }).waitFor();

    await page.getByRole('button', { name: 'Clear…' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await visibleCommands(page)).toEqual(['DOOMED']);

    await page.getByRole('button', { name: 'Clear…' }).click();
    await page.getByRole('button', { name: 'Clear logs' }).click();
    await expect.poll(() => visibleCommands(other), EVENTUALLY).toEqual([]);
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual([]);
    expect(await other.locator('.counts').textContent()).toBe('0 logs');
    expect((await api(server.url, 'GET', `/api/logs?userId=${userId}`, service)).body.logs).toEqual([]);
    await other.close();
  });

  it('works in light and dark mode (screenshots with data in test-artifacts/)', async () => {
    const accounts = ['alice@example.com', 'alice@work.example', 'bob@example.com'];
    const samples: Array<[string, string, Record<string, unknown>]> = [
      ['info', 'LOGIN', { raw: 'A1 LOGIN alice ****', response: 'A1 OK LOGIN completed', duration: 182 }],
      ['debug', 'CAPABILITY', { raw: 'A2 CAPABILITY', response: 'A2 OK', duration: 9 }],
      ['info', 'SELECT', { raw: 'A3 SELECT INBOX', parsed: { mailbox: 'INBOX' }, response: 'A3 OK [READ-WRITE]', duration: 41 }],
      ['info', 'FETCH', { raw: 'A4 FETCH 1:50 (FLAGS ENVELOPE)', parsed: { sequence: '1:50', items: ['FLAGS', 'ENVELOPE'] }, response: 'A4 OK FETCH completed', duration: 312 }],
      ['warn', 'FETCH', { raw: 'A5 FETCH 51:900 (BODY.PEEK[])', response: 'A5 OK FETCH completed', duration: 2480 }],
      ['info', 'STORE', { raw: 'A6 STORE 12 +FLAGS (\\Seen)', response: 'A6 OK', duration: 23 }],
      ['error', 'APPEND', { raw: 'A7 APPEND Sent {2048}', response: 'A7 NO [OVERQUOTA] Quota exceeded', duration: 95, error: 'Mailbox quota exceeded' }],
      ['info', 'IDLE', { raw: 'A8 IDLE', response: '+ idling', duration: 29_000 }],
    ];
    const logs = Array.from({ length: 40 }, (_, i) => {
      const [level, command, data] = samples[i % samples.length]!;
      return entry({ userId, level, command, emailAccountId: accounts[i % accounts.length], data });
    });
    expect((await api(server.url, 'POST', '/api/logs', service, logs)).status).toBe(201);
    await publishJob({ jobId: 'sync-inbox', name: 'sync', status: 'progress', progress: 65 });
    await publishJob({ jobId: 'import-archive', name: 'import', status: 'completed' });
    await publishJob({ jobId: 'export-contacts', name: 'export', status: 'failed', failedReason: 'IMAP connection closed by server' });
    await expect.poll(() => page.locator('.counts').textContent(), EVENTUALLY).toBe('40 logs');
    await page.locator('.spacer .row').filter({ hasText: 'A4 FETCH' }).last().locator('.line').click();
    await page.locator('.row.expanded').waitFor();

    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await background();
    await page.screenshot({ path: screenshotPath('console-light.png') });
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await background();
    await page.screenshot({ path: screenshotPath('console-dark.png') });
    expect(dark).not.toBe(light);
    // The theme button overrides the system: light even though the system is dark now.
    await page.getByRole('button', { name: 'Theme: system' }).click();
    expect(await background()).toBe(light);
    await page.getByRole('button', { name: 'Theme: light' }).click();
    expect(await background()).toBe(dark);
    await page.getByRole('button', { name: 'Theme: dark' }).click(); // back to the system's
    await page.emulateMedia({ colorScheme: 'light' });
    if (process.env.LIVETAIL_UPDATE_DOCS === '1') fs.copyFileSync(screenshotPath('console-light.png'), DOCS_SCREENSHOT);
  });

  it('shows "signed out" when the session is signed out in another tab', async () => {
    const other = await context.newPage();
    await other.goto(pageUrl());
    await other.getByRole('button', { name: 'Sign out' }).click();
    await other.getByRole('button', { name: 'Sign in', exact: true }).waitFor();

    await expect.poll(() => page.locator('.connection').textContent(), EVENTUALLY).toBe('signed out');
    expect(await page.locator('.banner .advice').textContent()).toMatch(/^Your session ended: sign in again/);
    expect(await page.getByRole('button', { name: 'Sign in again' }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Sign in again' }).click();
    await page.getByLabel('Email').waitFor();
    expect(await page.locator('.auth-card .notice').textContent()).toBe('Your session ended: sign in again.');
  });
});
