import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, service, signUp } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { checkPrerequisites, consoleServerEnv, EVENTUALLY, freePort, launchBrowser, newContext, signInInPage, visibleCommands } from './browser.js';

describe('web console across a server restart', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    checkPrerequisites();
    server = await startTestServer(consoleServerEnv(await freePort()));
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const publish = async (url: string, userId: string, command: string) => {
    expect((await api(url, 'POST', '/api/logs', service, entry({ userId, command }))).status).toBe(201);
  };

  it('reconnects by itself, counting down to each attempt, and shows the logs published while it was down', async () => {
    const user = await signUp(server.url);
    await publish(server.url, user.userId, 'BEFORE');
    const page = await (await newContext(browser)).newPage();
    await signInInPage(page, server.env.BASE_URL!, user.email, user.password);
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['BEFORE']);

    // Record every text the indicator shows: the states pass faster than a test could look.
    await page.evaluate(() => {
      const label = document.querySelector('.connection .label')!;
      const seen: string[] = ((window as unknown as { indicatorTexts: string[] }).indicatorTexts = []);
      new MutationObserver(() => seen.push(label.textContent ?? '')).observe(label, { childList: true, characterData: true, subtree: true });
    });
    const { env, dir } = server;
    await server.close();
    await page.locator('.connection[data-state="reconnecting"], .connection[data-state="connecting"]').waitFor();

    // While the page's server is down, another node on the same database takes two logs.
    const meanwhile = await startTestServer({ ...env, PORT: '0' }, dir);
    await publish(meanwhile.url, user.userId, 'DURING-1');
    await publish(meanwhile.url, user.userId, 'DURING-2');
    await meanwhile.close();

    server = await startTestServer(env, dir); // the same port and database
    await page.locator('.connection[data-state="open"]').waitFor({ timeout: 40_000 });
    const texts = await page.evaluate(() => (window as unknown as { indicatorTexts: string[] }).indicatorTexts);
    expect(texts.some((text) => /^reconnecting in \d+ s/.test(text)), texts.join(' | ')).toBe(true);
    expect(texts.at(-1)).toBe('connected');
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['BEFORE', 'DURING-1', 'DURING-2']);
    await publish(server.url, user.userId, 'AFTER');
    await expect.poll(() => visibleCommands(page), EVENTUALLY).toEqual(['BEFORE', 'DURING-1', 'DURING-2', 'AFTER']);
  });
});
