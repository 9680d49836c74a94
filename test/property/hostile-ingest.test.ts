import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_ERRORS } from '../../src/errors.js';
import { api, entry, service, signUp, type TestUser } from '../helpers/http.js';
import { type TestServer, TEST_ORIGIN, startTestServer } from '../helpers/server.js';

const MAX_BODY_BYTES = 4096;
const MAX_BATCH_ENTRIES = 5;
const RUNS = 300;

/** A request body as sent: JSON text (possibly broken) and its content type. */
interface Body {
  text: string;
  contentType: string;
}

const json = (value: unknown): Body => ({ text: JSON.stringify(value) ?? 'null', contentType: 'application/json' });
const objectText = (pairs: Array<[string, unknown]>) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;

const wrongValue = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }));
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype');

/** A log entry made invalid in one or more ways: each mutation alone is enough to refuse it. */
const badEntry = fc
  .record({
    mutation: fc.constantFrom('level', 'missing', 'extra', 'wrong-type', 'parsed-deep', 'parsed-big', 'hostile-key', 'duration'),
    value: wrongValue,
    key: fc.string({ minLength: 1, maxLength: 8 }),
    hostile: hostileKey,
    field: fc.constantFrom('emailAccountId', 'level', 'command', 'data'),
  })
  .map(({ mutation, value, key, hostile, field }): string => {
    const base = entry() as Record<string, unknown>;
    switch (mutation) {
      case 'level':
        return JSON.stringify({ ...base, level: 'loud' });
      case 'missing': {
        const { [field]: _, ...rest } = base;
        return field === 'data' ? JSON.stringify({ ...rest, command: '' }) : JSON.stringify(rest);
      }
      case 'extra':
        return JSON.stringify({ ...base, [`x${key}`]: value });
      case 'wrong-type':
        return JSON.stringify({ ...base, [field]: field === 'data' ? 'not an object' : (value ?? 7) });
      case 'parsed-deep': {
        let parsed: unknown = 1;
        for (let i = 0; i < 20; i++) parsed = [parsed];
        return JSON.stringify({ ...base, data: { parsed } });
      }
      case 'parsed-big':
        return JSON.stringify({ ...base, data: { parsed: 'p'.repeat(200) } }); // over MAX_PARSED_BYTES=100 of this server
      case 'hostile-key':
        return `${JSON.stringify(base).slice(0, -1)},${JSON.stringify(hostile)}:{"polluted":1}}`;
      case 'duration':
        return JSON.stringify({ ...base, data: { duration: -1 } });
    }
    return '';
  });

/** Bodies for POST /api/logs that are bad as a whole: nothing of them may be stored. */
const badLogsBody: fc.Arbitrary<Body> = fc.oneof(
  // Batches with at least one bad entry among good ones, as an array or { logs: [...] }.
  fc
    .tuple(fc.array(fc.constant(JSON.stringify(entry())), { maxLength: 3 }), badEntry, fc.array(fc.constant(JSON.stringify(entry())), { maxLength: 3 }), fc.boolean())
    .map(([before, bad, after, wrapped]) => {
      const list = `[${[...before, bad, ...after].join(',')}]`;
      return { text: wrapped ? `{"logs":${list}}` : list, contentType: 'application/json' };
    }),
  badEntry.map((text) => ({ text, contentType: 'application/json' })),
  // Too many entries, or too many bytes.
  fc.integer({ min: MAX_BATCH_ENTRIES + 1, max: 30 }).map((n) => json(Array.from({ length: n }, () => entry()))),
  fc.integer({ min: MAX_BODY_BYTES + 1, max: 3 * MAX_BODY_BYTES }).map((n) => json(entry({ data: { raw: 'r'.repeat(n) } }))),
  // Anything at all, broken JSON, deep nesting, wrong content types.
  fc.jsonValue({ maxDepth: 4 }).map(json),
  fc.json().map((text) => ({ text: text.slice(0, Math.max(1, text.length - 1)) + '{', contentType: 'application/json' })),
  fc.integer({ min: 1100, max: 2000 }).map((depth) => ({ text: '['.repeat(depth) + ']'.repeat(depth), contentType: 'application/json' })),
  fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/xml', ''), fc.constant(JSON.stringify(entry()))).map(([contentType, text]) => ({ text, contentType })),
  fc.record({ logs: wrongValue }).map(json),
)
  // An empty batch is a valid no-op (201, nothing to store), not a bad body.
  .filter((body) => !/^\s*(\[\s*\]|\{\s*"logs"\s*:\s*\[\s*\]\s*\})\s*$/.test(body.text));

/** Bodies for POST /api/jobs/events that must be refused. */
const badJobBody: fc.Arbitrary<Body> = fc.oneof(
  fc.record({ jobId: fc.oneof(wrongValue, fc.constant('')), status: fc.string({ minLength: 1, maxLength: 5 }) }).map(json),
  fc.record({ jobId: fc.string({ minLength: 1, maxLength: 5 }), status: fc.oneof(wrongValue, fc.constant(''), fc.constant('s'.repeat(65))) }).map(json),
  fc.record({ jobId: fc.string({ minLength: 1, maxLength: 5 }) }).map(json),
  fc.tuple(hostileKey, fc.jsonValue({ maxDepth: 2 })).map(([key, value]) => ({ text: objectText([['jobId', 'j'], ['status', 's'], [key, value]]), contentType: 'application/json' })),
  fc.integer({ min: MAX_BODY_BYTES + 1, max: 3 * MAX_BODY_BYTES }).map((n) => json({ jobId: 'j', status: 's', blob: 'b'.repeat(n) })),
  fc.jsonValue({ maxDepth: 3 }).filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)).map(json),
  fc.string({ maxLength: 50 }).map((text) => ({ text: `{"jobId":${text}`, contentType: 'application/json' })),
  fc.constantFrom('text/plain', '').map((contentType) => ({ text: '{"jobId":"j","status":"s"}', contentType })),
);

describe('hostile ingest bodies (fast-check, against a live server)', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer({
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      MAX_BATCH_ENTRIES: String(MAX_BATCH_ENTRIES),
      MAX_PARSED_BYTES: '100',
    });
    alice = await signUp(server.url);
  });
  afterAll(() => server.close());

  /** Sends with the session (alice) or the service token (a fresh user id put into every entry). */
  async function send(path: string, body: Body, asService: boolean, userId: string) {
    let text = body.text;
    if (asService && path === '/api/jobs/events' && text.startsWith('{"jobId"')) text = `{"userId":${JSON.stringify(userId)},${text.slice(1)}`;
    if (asService && path === '/api/logs') text = text.replaceAll('"emailAccountId":', `"userId":${JSON.stringify(userId)},"emailAccountId":`);
    const headers: Record<string, string> = body.contentType ? { 'content-type': body.contentType } : {};
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: {
        ...(asService ? { authorization: `Bearer ${service.token}` } : { cookie: alice.cookie, origin: TEST_ORIGIN }),
        ...headers,
      },
      body: text,
    });
    const raw = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = raw;
    }
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: parsed as { error?: unknown; code?: unknown } };
  }

  const expectJsonRefusal = (res: Awaited<ReturnType<typeof send>>, what: string) => {
    expect(res.status, what).toBeGreaterThanOrEqual(400);
    expect(res.status, what).toBeLessThan(500);
    expect(res.contentType, what).toMatch(/^application\/json/);
    expect(typeof res.body.error, what).toBe('string');
    const code = res.body.code as keyof typeof HTTP_ERRORS;
    expect(Object.keys(HTTP_ERRORS), what).toContain(code);
    expect(HTTP_ERRORS[code].status, what).toBe(res.status);
  };

  const storedLogs = async (userId: string) => (await server.node.app.logs.read(userId, { from: 'tail', limit: 1000 })).logs.length;
  const storedJobs = (userId: string) => server.node.app.jobs.latest(userId);

  it(`POST /api/logs: every bad body gets a 4xx JSON error from the catalog and stores nothing (${RUNS} generated bodies)`, async () => {
    const aliceBefore = await storedLogs(alice.userId);
    await fc.assert(
      fc.asyncProperty(badLogsBody, fc.boolean(), async (body, asService) => {
        const userId = randomUUID();
        const res = await send('/api/logs', body, asService, userId);
        expectJsonRefusal(res, body.text.slice(0, 200));
        expect(await storedLogs(userId)).toBe(0);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(await storedLogs(alice.userId)).toBe(aliceBefore);
    // The server is fine: a good body is still taken.
    expect((await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, entry())).status).toBe(201);
  });

  it(`POST /api/jobs/events: every bad body gets a 4xx JSON error from the catalog and stores nothing (${RUNS} generated bodies)`, async () => {
    await fc.assert(
      fc.asyncProperty(badJobBody, fc.boolean(), async (body, asService) => {
        const userId = randomUUID();
        const res = await send('/api/jobs/events', body, asService, userId);
        expectJsonRefusal(res, body.text.slice(0, 200));
        expect(await storedJobs(userId)).toEqual([]);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(await storedJobs(alice.userId)).toEqual([]);
    expect((await api(server.url, 'POST', '/api/jobs/events', { cookie: alice.cookie }, { jobId: 'ok', status: 'done' })).status).toBe(201);
  });
});
