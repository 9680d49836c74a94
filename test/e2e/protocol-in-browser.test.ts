import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.js';
import { CHROMIUM, launchBrowser } from './browser.js';

/** What the page may load: the built `livetail/protocol` and zod, its one dependency. */
const SERVED: Record<string, string> = {
  '/dist/protocol/': path.join(ROOT, 'dist', 'protocol'),
  '/node_modules/zod/': path.join(ROOT, 'node_modules', 'zod'),
};

/**
 * A page with an import map resolving `zod` as a bundler would, and a module that imports the built
 * protocol and validates entries with `parsed` of chosen sizes. {"s":"…"} is 8 bytes of JSON around the
 * text: é is 2 bytes in UTF-8, 😀 4 (two UTF-16 units).
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>livetail/protocol</title>
<script type="importmap">{ "imports": { "zod": "/node_modules/zod/index.js" } }</script>
<script type="module">
  import { logEntryInputSchema } from '/dist/protocol/index.js';
  const schema = logEntryInputSchema({ maxDepth: 16, maxBytes: 64 });
  const check = (parsed) => {
    try {
      const result = schema.safeParse({ emailAccountId: 'acct-1', level: 'info', command: 'FETCH', data: { raw: 'A1 FETCH', parsed } });
      return result.success ? 'ok' : result.error.issues.map((i) => i.message).join('; ');
    } catch (error) {
      return 'threw: ' + error.message;
    }
  };
  window.results = {
    hasBuffer: typeof globalThis.Buffer !== 'undefined',
    small: check({ sequence: '1:*', flags: ['\\\\Seen'] }),
    exact: check({ s: 'é'.repeat(28) }),
    over: check({ s: 'é'.repeat(29) }),
    emoji: check({ s: '😀'.repeat(14) }),
    emojiOver: check({ s: '😀'.repeat(14) + 'x' }),
    ascii: check({ s: 'x'.repeat(57) }),
  };
</script>`;

function staticServer(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    for (const [prefix, dir] of Object.entries(SERVED)) {
      if (!url.pathname.startsWith(prefix)) continue;
      const file = path.join(dir, path.normalize(url.pathname.slice(prefix.length)));
      if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) break;
      return void res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream' }).end(fs.readFileSync(file));
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('livetail/protocol in a browser (the built dist/protocol in Chromium)', () => {
  let browser: Browser;
  let server: http.Server;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's Chromium with "apt-get install -y chromium"`);
    if (!fs.existsSync(path.join(ROOT, 'dist', 'protocol', 'index.js'))) throw new Error('dist/protocol not found: run "npm run build" (npm test does it first)');
    [browser, server] = await Promise.all([launchBrowser(), staticServer()]);
  });
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('validates entries with parsed, counting its serialized size in UTF-8 bytes as the server does', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const results = await (await page.waitForFunction(() => (globalThis as { results?: unknown }).results)).jsonValue();
    expect(errors).toEqual([]);
    expect(results).toEqual({
      hasBuffer: false,
      small: 'ok',
      exact: 'ok',
      over: 'parsed is 66 bytes serialized; the limit is 64',
      emoji: 'ok',
      emojiOver: 'parsed is 65 bytes serialized; the limit is 64',
      ascii: 'parsed is 65 bytes serialized; the limit is 64',
    });
    // The same byte counts as Node's Buffer.byteLength.
    expect(Buffer.byteLength(JSON.stringify({ s: 'é'.repeat(29) }))).toBe(66);
    expect(Buffer.byteLength(JSON.stringify({ s: '😀'.repeat(14) }))).toBe(64);
    await page.close();
  });
});
