import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, service, signUp } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { checkPrerequisites, consoleServerEnv, EVENTUALLY, freePort, launchBrowser, newContext, signInInPage, visibleCommands } from './browser.js';

const ROWS = 10_000;
const RATE_PER_SECOND = 500;
const SECONDS = 4;
/** How often the producer posts. */
const TICK_MS = 100;

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const COMMANDS = ['FETCH', 'SELECT', 'IDLE', 'LOGIN', 'STORE'];

/** Frame timing recorded in the page: rAF intervals and long tasks (main-thread work over 50 ms). */
interface FrameStats {
  frames: number;
  p50: number;
  p95: number;
  max: number;
  longTasks: number;
  longestTask: number;
  /** DOM updates (one per frame at most) and the console's work in each, in ms. */
  updates: number;
  workP50: number;
  workP95: number;
  workMax: number;
}

type Recorder = { frameTimes: number[]; longTasks: number[]; work: number[]; recording: boolean };

describe('web console under load', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    checkPrerequisites();
    server = await startTestServer(consoleServerEnv(await freePort(), { INITIAL_LOGS: String(ROWS), MAX_LOGS_PER_USER: String(ROWS * 2) }));
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const logsFor = (userId: string, from: number, count: number) =>
    Array.from({ length: count }, (_, i) =>
      entry({
        userId,
        level: LEVELS[(from + i) % 4],
        command: `${COMMANDS[(from + i) % COMMANDS.length]}`,
        emailAccountId: `account-${(from + i) % 7}@example.com`,
        data: { raw: `A${from + i} ${COMMANDS[(from + i) % COMMANDS.length]} 1:* (FLAGS)`, duration: (from + i) % 900 },
      }),
    );

  it(`stays smooth with ${ROWS.toLocaleString('en')} rows and ${RATE_PER_SECOND} new logs/s`, async () => {
    const user = await signUp(server.url);
    for (let from = 0; from < ROWS; from += 1000) {
      expect((await api(server.url, 'POST', '/api/logs', service, logsFor(user.userId, from, 1000))).status).toBe(201);
    }
    const page = await (await newContext(browser)).newPage();
    await signInInPage(page, server.env.BASE_URL!, user.email, user.password);
    await expect.poll(() => page.locator('.counts').textContent(), EVENTUALLY).toBe('10,000 logs');

    await startFrameRecorder(page);
    const started = Date.now();
    let sent = 0;
    // 500 logs/s: every 100 ms, one POST with every log due by then (a slow POST makes the next batch
    // bigger, so the rate holds and the order is kept).
    const total = SECONDS * RATE_PER_SECOND;
    while (sent < total) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + (sent / RATE_PER_SECOND) * 1000 + TICK_MS - Date.now())));
      const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * RATE_PER_SECOND));
      if (due <= sent) continue;
      const batch = logsFor(user.userId, ROWS + sent, due - sent);
      batch.at(-1)!.command = `LAST-${ROWS + due - 1}`;
      expect((await api(server.url, 'POST', '/api/logs', service, batch)).status).toBe(201);
      sent = due;
    }
    const sendSeconds = (Date.now() - started) / 1000;
    await expect.poll(async () => (await visibleCommands(page)).at(-1), EVENTUALLY).toBe(`LAST-${ROWS + sent - 1}`);
    const stats = await stopFrameRecorder(page);
    const domRows = await page.locator('.spacer .row').count();

    console.log(
      `console under load: ${sent} logs in ${sendSeconds.toFixed(1)} s (${Math.round(sent / sendSeconds)}/s) onto ${ROWS} rows; ` +
        `${stats.frames} frames, interval p50 ${stats.p50.toFixed(1)} ms, p95 ${stats.p95.toFixed(1)} ms, max ${stats.max.toFixed(0)} ms; ` +
        `${stats.longTasks} long tasks (longest ${stats.longestTask.toFixed(0)} ms); ` +
        `${stats.updates} DOM updates, work p50 ${stats.workP50.toFixed(1)} ms, p95 ${stats.workP95.toFixed(1)} ms, max ${stats.workMax.toFixed(0)} ms; ` +
        `${domRows} rows in the DOM`,
    );
    expect(await page.locator('.counts').textContent()).toBe('10,000 logs'); // the console keeps the newest 10,000
    expect(domRows).toBeLessThan(80); // virtualized: the DOM holds the visible window, not 10,000 rows
    // The console's work fits a 60 fps frame (16.7 ms). Frame intervals and long tasks are printed but not
    // asserted: on a shared two-core machine they measure the neighbours as much as the console.
    // The median, because a busy neighbour can stall any single frame.
    expect(stats.workP50).toBeLessThan(16.7);
    expect(stats.updates).toBeLessThanOrEqual(stats.frames + 1); // never more than one DOM update per frame
  });
});

async function startFrameRecorder(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as Recorder;
    w.frameTimes = [];
    w.longTasks = [];
    w.work = [];
    w.recording = true;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) w.longTasks.push(entry.duration);
    }).observe({ type: 'longtask' });
    // The console's own work per frame (web/src/frame-loop.ts measures it as "livetail:frame").
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (entry.name === 'livetail:frame') w.work.push(entry.duration);
    }).observe({ type: 'measure' });
    const tick = (time: number) => {
      w.frameTimes.push(time);
      if (w.recording) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

async function stopFrameRecorder(page: Page): Promise<FrameStats> {
  return page.evaluate(() => {
    const w = window as unknown as Recorder;
    w.recording = false;
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const at = (values: number[], q: number) => values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? 0;
    const intervals = sorted(w.frameTimes.slice(1).map((t, i) => t - w.frameTimes[i]!));
    const work = sorted(w.work);
    return {
      frames: w.frameTimes.length,
      p50: at(intervals, 0.5),
      p95: at(intervals, 0.95),
      max: intervals.at(-1) ?? 0,
      longTasks: w.longTasks.length,
      longestTask: Math.max(0, ...w.longTasks),
      updates: work.length,
      workP50: at(work, 0.5),
      workP95: at(work, 0.95),
      workMax: work.at(-1) ?? 0,
    };
  });
}
