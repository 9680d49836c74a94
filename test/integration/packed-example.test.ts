import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { launchBrowser, newContext } from '../e2e/browser.js';
import { sessionCookieOf } from '../helpers/app-auth.js';
import { LivetailProcess, ROOT } from '../helpers/process.js';
import { freePort } from '../helpers/services.js';
import { within } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

const run = promisify(execFile);
const EXAMPLE = path.join(ROOT, 'examples', 'express-app');
/** Packing, installing from npm's cache and starting take tens of seconds; more on a busy machine. */
const SETUP_TIMEOUT_MS = 300_000;

interface PackedFile {
  path: string;
}

/**
 * `npm pack` of the repository (dist as `npm test` built it: no lifecycle script runs, so nothing is
 * rebuilt under the other tests' feet), installed into a fresh copy of examples/express-app, which is
 * then started as the adopter would start it.
 */
async function installPackedExample(dir: string): Promise<{ appDir: string; files: string[] }> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: PackedFile[] }>;
  const tarball = path.join(dir, packed!.filename);

  const appDir = path.join(dir, 'express-app');
  fs.cpSync(EXAMPLE, appDir, { recursive: true, filter: (source) => !/[\\/](node_modules|data)$/.test(source) });
  const manifest = JSON.parse(fs.readFileSync(path.join(appDir, 'package.json'), 'utf8'));
  manifest.dependencies.livetail = `file:${tarball}`;
  fs.writeFileSync(path.join(appDir, 'package.json'), JSON.stringify(manifest, null, 2));
  // From npm's cache where it can (the registry otherwise); no install script runs, none downloads.
  await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: appDir, maxBuffer: 16 * 1024 * 1024 });
  await provideSqliteAddon(appDir);
  return { appDir, files: packed!.files.map((f) => f.path) };
}

/**
 * better-sqlite3's native addon, which its install script would build (a minute of compiling): the one
 * this repository's own install built is taken when the versions match, else it is built (`npm rebuild`).
 */
async function provideSqliteAddon(appDir: string): Promise<void> {
  const versionOf = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string }).version;
  const addon = path.join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  if (versionOf(appDir) === versionOf(ROOT) && fs.existsSync(path.join(ROOT, addon))) {
    fs.mkdirSync(path.dirname(path.join(appDir, addon)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, addon), path.join(appDir, addon));
  } else {
    await run('npm', ['rebuild', 'better-sqlite3', '--loglevel=error'], { cwd: appDir, maxBuffer: 16 * 1024 * 1024 });
  }
}

describe('the packed package installed into examples/express-app, started as an adopter would', { timeout: 120_000 }, () => {
  let dir: string;
  let files: string[];
  let app: LivetailProcess;
  let url: string;
  let wsUrl: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-packed-'));
    const installed = await installPackedExample(dir);
    files = installed.files;
    // The example needs its BASE_URL, port included, before it starts.
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    wsUrl = `ws://127.0.0.1:${port}`;
    // One process, its in-process bus: no REDIS_URL from the caller's environment.
    const { REDIS_URL: _redis, ...env } = process.env;
    app = LivetailProcess.spawn(process.execPath, ['server.js'], { ...env, NODE_ENV: 'test', PORT: String(port), BASE_URL: url, DATABASE_FILE: path.join(dir, 'app.db') }, installed.appDir);
    await app.textLine(/example app listening on/);
  }, SETUP_TIMEOUT_MS);
  afterAll(async () => {
    await app?.kill();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Signs up through the app's own better-auth endpoint, as its page does; returns the Cookie value. */
  async function signUp(): Promise<string> {
    const email = `shopper-${Math.random().toString(36).slice(2)}@example.com`;
    const res = await fetch(`${url}/api/auth/sign-up/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: url },
      body: JSON.stringify({ email, password: 'correct horse battery staple', name: 'Shopper' }),
    });
    expect(res.status).toBe(200);
    return sessionCookieOf(res, 'shop');
  }

  it('ships what runs and nothing else: dist (no source maps), bin, docs, README, package.json', () => {
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/livetail.js', 'dist/index.js', 'dist/index.d.ts', 'dist/server/index.js', 'dist/better-auth/index.d.ts', 'dist/client/index.js']));
    expect(files.filter((f) => !/^(dist\/|bin\/|docs\/|README\.md$|package\.json$)/.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { private?: boolean; exports: Record<string, string | Record<string, string>> };
    expect(manifest.private).toBeUndefined();
    for (const target of Object.values(manifest.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)))) {
      expect(files).toContain(target.replace(/^\.\//, ''));
    }
  });

  it('signs up through the app, receives the app’s IMAP log on livetail’s socket, and sign-out closes it with 4401 within 1 s', async () => {
    const cookie = await signUp();
    const socket = await TestSocket.ready(`${wsUrl}/ws`, { cookie, origin: url });
    const selected = await fetch(`${url}/api/mailbox/select`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{"mailbox":"Archive"}' });
    expect(selected.status).toBe(200);
    const { log } = await socket.next('log', 10_000);
    expect(log).toMatchObject({ command: 'SELECT', data: { raw: 'A1 SELECT "Archive"', error: null } });
    expect((await selected.json()) as unknown).toEqual({ logged: log.id });

    const signedOut = await fetch(`${url}/api/auth/sign-out`, { method: 'POST', headers: { cookie, origin: url } });
    expect(signedOut.status).toBe(200);
    expect(await within(socket.closed, 1000, 'close with 4401')).toEqual({ code: CLOSE_CODES.SESSION_ENDED, reason: 'session ended' });
  });

  it('serves its page and livetail/client from the installed package', async () => {
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('"livetail/client": "/vendor/livetail/client/index.js"');
    for (const asset of ['/app.js', '/vendor/livetail/client/index.js', '/vendor/livetail/client/client.js', '/vendor/livetail/protocol/constants.js']) {
      const res = await fetch(`${url}${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(/javascript/);
    }
  });

  it('its page in Chromium signs up, shows the IMAP log live with livetail/client, and sign-out ends the socket (unauthenticated)', async () => {
    const browser = await launchBrowser();
    try {
      const page = await (await newContext(browser)).newPage();
      const failures: string[] = [];
      page.on('pageerror', (error) => failures.push(error.message));
      page.on('console', (message) => void (message.type() === 'error' && failures.push(message.text())));
      await page.goto(url);
      await page.fill('input[name=email]', `browser-${Date.now()}@example.com`);
      await page.fill('input[name=password]', 'correct horse battery staple');
      await page.click('button[value=sign-up]');
      await page.locator('#state.open').waitFor();
      await page.fill('input[name=mailbox]', 'Sent');
      await page.getByRole('button', { name: 'Select mailbox' }).click();
      await expect.poll(() => page.locator('#logs li').allTextContents()).toEqual([expect.stringContaining('SELECT A1 SELECT "Sent"')]);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#state.unauthenticated').waitFor();
      expect(failures).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('the app’s own WebSocket endpoint (/app-ws) still works beside livetail’s, and livetail’s beside it', async () => {
    const cookie = await signUp();
    const echo = new WebSocket(`${wsUrl}/app-ws`);
    const reply = new Promise<string>((resolve, reject) => {
      echo.once('message', (data) => resolve(String(data)));
      echo.once('error', reject);
    });
    await new Promise((resolve, reject) => {
      echo.once('open', resolve);
      echo.once('error', reject);
    });
    const live = await TestSocket.ready(`${wsUrl}/ws`, { cookie, origin: url });
    echo.send('hello');
    expect(await reply).toBe('echo: hello');
    await live.roundTrip();
    echo.close();
    await live.close();
  });
});
