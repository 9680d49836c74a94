import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export { consoleServerEnv, freePort } from './ports.js';

/** Debian's Chromium (apt-get install chromium); never a browser download. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Screenshots of every run (git-ignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

/** Fails early with what to do when the browser or the built console is missing. */
export function checkPrerequisites(): void {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's Chromium with "apt-get install -y chromium" (.ci/run does)`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'web', 'index.html'))) throw new Error('dist/web/index.html not found: run "npm run build" (npm test does it first)');
}

/**
 * Debian's Chromium, headless, with a fresh temporary profile (Playwright creates one per launch and
 * removes it on close). Each test opens its own context: its own cookies, so its own user. `extraArgs`
 * add to the team's flags.
 */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs], headless: true });
}

export async function newContext(browser: Browser, colorScheme: 'light' | 'dark' = 'light'): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme, reducedMotion: 'reduce' });
  context.setDefaultTimeout(5000);
  return context;
}

/** Signs up (or in) through the console's own form, as a person would. */
export async function signUpInPage(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByRole('button', { name: 'No account yet? Create one' }).click();
  await fillAuthForm(page, email, password, 'Create account');
}

export async function signInInPage(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(url);
  await fillAuthForm(page, email, password, 'Sign in');
}

async function fillAuthForm(page: Page, email: string, password: string, submit: string): Promise<void> {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: submit, exact: true }).click();
  await page.locator('.connection[data-state="open"]').waitFor();
}

/** The commands of the rows currently rendered in the log table, top to bottom. */
export async function visibleCommands(page: Page): Promise<string[]> {
  return page.locator('.spacer .row').evaluateAll((rows) =>
    rows
      .map((row) => ({ y: new DOMMatrixReadOnly(getComputedStyle(row).transform).m42, command: row.querySelector('.command')?.textContent ?? '' }))
      .sort((a, b) => a.y - b.y)
      .map((r) => r.command),
  );
}

export function screenshotPath(name: string): string {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** The signed-in user's id, as the console shows it. */
export async function userIdOf(page: Page): Promise<string> {
  const id = await page.locator('.topbar .user').getAttribute('data-user-id');
  if (!id) throw new Error('the console shows no user id');
  return id;
}

/**
 * expect.poll options with a browser-sized budget: the default second is too tight for a page on a
 * loaded two-core machine, and every wait ends as soon as its condition holds.
 */
export const EVENTUALLY = { timeout: 5000, interval: 25 } as const;
