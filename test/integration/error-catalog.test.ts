import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LivetailInternals, createLivetailInternals } from '../../src/core/create-livetail.js';
import { HTTP_ERRORS, type HttpErrorCode, SessionCheckUnavailable, retryAfterOf } from '../../src/errors.js';
import { refuseUpgrade } from '../../src/gateway/gateway.js';
import { createStandaloneApp } from '../../src/server/standalone-app.js';
import type { SessionResolver } from '../../src/sessions/session-resolver.js';
import { FakeSessionResolver } from '../helpers/fake-session-resolver.js';
import { logInput } from '../helpers/log-input.js';
import { ROOT } from '../helpers/process.js';
import { INGEST_TOKEN, TEST_ORIGIN } from '../helpers/server.js';
import { TestSocket, refusedUpgrade } from '../helpers/ws-client.js';

/**
 * Every code of HTTP_ERRORS is reachable: each is provoked here over real HTTP (or a real upgrade) on
 * the standalone shell around a core whose sessions come from a fake resolver, and answered with its
 * status, its Retry-After, and a text of the catalog. The two that need a store misbehaving in ways
 * SQLite cannot are provoked by the tests named below.
 */

const ALICE = 'session=alice';
const fake = new FakeSessionResolver();
fake.add(ALICE, { userId: 'alice', sessionId: 's-alice' });
/** When set, every session check fails with it (the resolver's own failure modes, and a bug). */
let failure: Error | undefined;
const resolver: SessionResolver = { resolve: (headers) => (failure ? Promise.reject(failure) : fake.resolve(headers)) };

const PROVOKED_ELSEWHERE: Partial<Record<HttpErrorCode, string>> = {
  TOO_MANY_READS: 'test/integration/hardening-http-reads.test.ts',
  STORE_COMMIT_IN_DOUBT: 'test/integration/store-outage.pg.test.ts',
  INVALID_IDEMPOTENCY_KEY: 'test/integration/idempotent-ingest.test.ts',
  IDEMPOTENCY_KEY_REUSED: 'test/integration/idempotent-ingest.test.ts',
};

interface Answer {
  status: number;
  body: { error: string; code: string };
  retryAfter?: string | null;
}

let lt: LivetailInternals;
let server: http.Server;
let url: string;
let wsUrl: string;
let dir: string;
/** Each case upgrades from an address of its own (TRUST_PROXY), so the per-address limit is its case's alone. */
let address = 0;
const from = () => ({ 'x-forwarded-for': `192.0.2.${++address}` });

async function request(method: string, pathname: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const res = await fetch(`${url}${pathname}`, { method, headers, body });
  return { status: res.status, body: (await res.json()) as Answer['body'], retryAfter: res.headers.get('retry-after') };
}

const asAlice = { cookie: ALICE, origin: TEST_ORIGIN };
const asService = { authorization: `Bearer ${INGEST_TOKEN}` };
const json = { 'content-type': 'application/json' };

async function upgrade(headers: Record<string, string>, query?: string): Promise<Answer> {
  const refused = await refusedUpgrade(wsUrl, { headers: { ...from(), ...headers }, ...(query ? { query } : {}) });
  return { status: refused.status, body: refused.body };
}

/** How to make the server answer each code. Run in this order: SHUTTING_DOWN drains the core for good. */
const CASES: Array<[HttpErrorCode, () => Promise<Answer>]> = [
  ['UNAUTHENTICATED', () => request('GET', '/api/logs')],
  ['SESSION_INVALID', () => upgrade({ origin: TEST_ORIGIN })],
  ['ORIGIN_NOT_ALLOWED', () => upgrade({ cookie: ALICE, origin: 'http://elsewhere.test' })],
  ['USER_MISMATCH', () => request('GET', '/api/logs?userId=bob', asAlice)],
  ['VALIDATION_FAILED', () => request('POST', '/api/logs', { ...asAlice, ...json }, JSON.stringify({ ...logInput(), level: 'loud' }))],
  ['INVALID_BODY', () => request('POST', '/api/logs', { ...asAlice, ...json }, JSON.stringify(logInput()).replace('"info"', '"\\ud800"'))],
  ['INVALID_JSON', () => request('POST', '/api/logs', { ...asAlice, ...json }, '{"command":')],
  ['INVALID_QUERY', () => upgrade({ cookie: ALICE, origin: TEST_ORIGIN }, 'channels=nope')],
  ['USER_ID_REQUIRED', () => request('GET', '/api/logs', asService)],
  ['SERVICE_TOKEN_REQUIRED', () => request('POST', '/api/sessions/end', { ...asAlice, ...json }, JSON.stringify({ sessionId: 's-alice' }))],
  ['UNSUPPORTED_MEDIA_TYPE', () => request('POST', '/api/logs', { ...asAlice, 'content-type': 'text/plain' }, 'hello')],
  ['BODY_TOO_LARGE', () => request('POST', '/api/logs', { ...asAlice, ...json }, JSON.stringify(logInput({ data: { raw: 'x'.repeat(4096) } })))],
  ['BATCH_TOO_LARGE', () => request('POST', '/api/logs', { ...asAlice, ...json }, JSON.stringify([logInput(), logInput(), logInput()]))],
  ['NOT_FOUND', () => request('GET', '/api/nothing-here', asAlice)],
  [
    'TOO_MANY_CONNECTIONS',
    async () => {
      const open = await TestSocket.ready(wsUrl, { cookie: ALICE, origin: TEST_ORIGIN, headers: from() });
      try {
        return await upgrade({ cookie: ALICE, origin: TEST_ORIGIN });
      } finally {
        await open.close();
      }
    },
  ],
  [
    'UPGRADE_RATE_LIMITED',
    async () => {
      const headers = { ...from(), origin: TEST_ORIGIN }; // one address: no session, so each attempt is a cheap 401
      for (let i = 0; i < 3; i++) expect((await refusedUpgrade(wsUrl, { headers })).status).toBe(401);
      const refused = await refusedUpgrade(wsUrl, { headers });
      return { status: refused.status, body: refused.body };
    },
  ],
  ['STORE_UNAVAILABLE', () => failingWith(new SessionCheckUnavailable('the fake source is down'), () => request('GET', '/api/logs', asAlice))],
  [
    'AUTH_UNAVAILABLE',
    () => failingWith(new SessionCheckUnavailable('the app did not answer', { code: 'AUTH_UNAVAILABLE' }), () => request('GET', '/api/logs', asAlice)),
  ],
  ['INTERNAL', () => failingWith(new Error('a bug in the session check'), () => request('GET', '/api/logs', asAlice))],
  [
    'SHUTTING_DOWN',
    async () => {
      lt.drain();
      return upgrade({ cookie: ALICE, origin: TEST_ORIGIN });
    },
  ],
];

async function failingWith(error: Error, answer: () => Promise<Answer>): Promise<Answer> {
  failure = error;
  try {
    return await answer();
  } finally {
    failure = undefined;
  }
}

/** Whether `text` is the code's message or one of its particular texts (a function's: with any arguments). */
function isCatalogText(code: HttpErrorCode, text: string): boolean {
  const entry = HTTP_ERRORS[code];
  if (text === entry.message) return true;
  return Object.values('texts' in entry ? entry.texts : {}).some((t) => {
    if (typeof t === 'string') return t === text;
    // Each argument a one-element array: it reads as the hole both interpolated and joined.
    const hole = '\u0000';
    const shape = (t as (...args: string[][]) => string)(...Array.from({ length: t.length }, () => [hole]));
    const pattern = shape.split(hole).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+');
    return new RegExp(`^${pattern}$`).test(text);
  });
}

describe('the HTTP error catalog, over HTTP', () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-catalog-'));
    const logger = pino({ level: 'silent' });
    lt = await createLivetailInternals({
      sessionResolver: resolver,
      database: `file:${path.join(dir, 'livetail.db')}`,
      ingestToken: INGEST_TOKEN,
      trustedOrigins: [TEST_ORIGIN],
      trustProxy: true,
      sessionCacheTtlMs: 0,
      maxBodyBytes: 1024,
      maxBatchEntries: 2,
      maxSocketsPerUser: 1,
      upgradeRateLimit: 3,
      upgradeRateWindowMs: 60_000,
      logger,
    });
    const app = createStandaloneApp({ lt, auth: undefined, logger, webDir: undefined, trustProxy: true });
    server = http.createServer(app);
    server.on('upgrade', (req, socket, head) => {
      if (!lt.handleUpgrade(req, socket, head)) refuseUpgrade(socket, 'NOT_FOUND');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    url = `http://127.0.0.1:${port}`;
    wsUrl = `ws://127.0.0.1:${port}/ws`;
  });

  afterAll(async () => {
    await lt?.close();
    await new Promise<void>((resolve) => {
      server?.close(() => resolve());
      server?.closeAllConnections();
    });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('provokes every code here or in a test named for it', () => {
    const covered = [...CASES.map(([code]) => code), ...Object.keys(PROVOKED_ELSEWHERE)];
    expect(covered.sort()).toEqual(Object.keys(HTTP_ERRORS).sort());
    for (const [code, file] of Object.entries(PROVOKED_ELSEWHERE)) expect(fs.readFileSync(path.join(ROOT, file), 'utf8'), file).toContain(`'${code}'`);
  });

  for (const [code, provoke] of CASES) {
    it(`answers ${code} with ${HTTP_ERRORS[code].status}, its Retry-After and a text of the catalog`, async () => {
      const answer = await provoke();
      expect(answer.body.code).toBe(code);
      expect(answer.status).toBe(HTTP_ERRORS[code].status);
      expect(isCatalogText(code, answer.body.error), answer.body.error).toBe(true);
      if (answer.retryAfter !== undefined) expect(answer.retryAfter).toBe(retryAfterOf(code) === undefined ? null : String(retryAfterOf(code)));
    });
  }
});
