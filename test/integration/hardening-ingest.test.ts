import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_ERRORS, ValidationError } from '../../src/errors.js';
import { MAX_BODY_DEPTH } from '../../src/http/json-body.js';
import { api, entry, service, signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { type TestServer, serversPerTest, startTestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

/** A value nested `depth` levels deep: `{}` is 1, `{"a":{}}` is 2. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

/** `{"s":"xxx…"}` whose JSON is exactly `bytes` bytes. */
function parsedOfSize(bytes: number): { s: string } {
  return { s: 'x'.repeat(bytes - JSON.stringify({ s: '' }).length) };
}

describe('ingest limits (the defaults: MAX_BODY_BYTES 1 MiB, MAX_BATCH_ENTRIES 1000, MAX_PARSED_DEPTH 16, MAX_PARSED_BYTES 64 KiB)', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await signUp(server.url);
  });
  afterAll(() => server.close());
  /** A server of its own for a test with other limits. */
  const startOwn = serversPerTest();

  // Most cases ingest with the service token for a fresh user id each (a sign-up per case would be slow).
  const freshUser = () => randomUUID();
  const storedCount = async (userId: string) => (await api(server.url, 'GET', `/api/logs?limit=1000&userId=${userId}`, service)).body.logs.length as number;
  const jobCount = async (userId: string) => (await api(server.url, 'GET', `/api/jobs?userId=${userId}`, service)).body.jobs.length as number;
  const owned = (userId: string, entries: Array<Record<string, unknown>>) => entries.map((e) => ({ ...e, userId }));

  describe('body size', () => {
    /** `count` entries with 200 KiB raw lines each. */
    const bigEntries = (userId: string, count: number) => owned(userId, Array.from({ length: count }, () => entry({ data: { raw: 'x'.repeat(200 * 1024) } })));

    it.each(['/api/logs', '/api/jobs/events'])('POST %s over 1 MiB → 413 with a JSON error, nothing stored (session and service token)', async (path) => {
      const userId = freshUser();
      const bodyFor = (owner: string | undefined) =>
        JSON.stringify(path === '/api/logs' ? bigEntries(owner ?? alice.userId, 6) : { userId: owner, jobId: 'j', status: 'done', blob: 'z'.repeat(MiB) });
      for (const [credentials, owner] of [[service, userId], [{ cookie: alice.cookie }, undefined]] as const) {
        const body = bodyFor(owner);
        expect(Buffer.byteLength(body)).toBeGreaterThan(MiB);
        const res = await api(server.url, 'POST', path, credentials, body);
        expect(res.status).toBe(413);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(res.body).toEqual({ code: 'BODY_TOO_LARGE', error: `Request body too large: the limit is ${MiB} bytes` });
      }
      for (const owner of [userId, alice.userId]) {
        expect(await storedCount(owner)).toBe(0);
        expect(await jobCount(owner)).toBe(0);
      }
    });

    it('413 also for a chunked body without Content-Length, cut off once it passes the limit', async () => {
      const userId = freshUser();
      let produced = 0;
      const chunks = Readable.from(
        (function* () {
          yield '[';
          for (let i = 0; produced < 3 * MiB; i++) {
            const part = `${i ? ',' : ''}${JSON.stringify({ ...entry({ data: { raw: 'q'.repeat(64 * 1024) } }), userId })}`;
            produced += part.length;
            yield part;
          }
          yield ']';
        })(),
      );
      const res = await fetch(`${server.url}/api/logs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${service.token}`, 'content-type': 'application/json' },
        body: Readable.toWeb(chunks) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(413);
      expect((await res.json()).code).toBe('BODY_TOO_LARGE');
      expect(await storedCount(userId)).toBe(0);
    });

    it('takes a body just under 1 MiB', async () => {
      const userId = freshUser();
      const body = JSON.stringify(bigEntries(userId, 4));
      expect(Buffer.byteLength(body)).toBeLessThan(MiB);
      expect((await api(server.url, 'POST', '/api/logs', service, body)).status).toBe(201);
      expect(await storedCount(userId)).toBe(4);
    });
  });

  describe('batch size', () => {
    it('1,001 entries → 413 BATCH_TOO_LARGE, nothing stored; 1,000 are taken', async () => {
      const userId = freshUser();
      const batch = (n: number) => owned(userId, Array.from({ length: n }, (_, i) => entry({ command: `C${i}` })));
      const tooMany = await api(server.url, 'POST', '/api/logs', service, batch(1001));
      expect(tooMany.status).toBe(413);
      expect(tooMany.body).toEqual({ code: 'BATCH_TOO_LARGE', error: 'Too many entries in one batch: 1001 (the limit is 1000)' });
      expect((await api(server.url, 'POST', '/api/logs', service, { logs: batch(1001) })).status).toBe(413);
      expect(await storedCount(userId)).toBe(0);
      expect((await api(server.url, 'POST', '/api/logs', service, batch(1000))).status).toBe(201);
      expect(await storedCount(userId)).toBe(1000);
    });
  });

  describe('parsed: depth and size', () => {
    /** A batch of a good entry and one with this `parsed`, with the session (alice) or the service token. */
    const post = (owner: string, parsed: unknown) =>
      owner === alice.userId
        ? api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, [entry({ command: 'OK' }), entry({ data: { parsed } })])
        : api(server.url, 'POST', '/api/logs', service, owned(owner, [entry({ command: 'OK' }), entry({ data: { parsed } })]));

    it('takes parsed nested 16 levels deep; 17 → 400 naming the limit, nothing of the batch stored', async () => {
      for (const owner of [freshUser(), alice.userId]) {
        const before = await storedCount(owner);
        const deep = await post(owner, nested(17));
        expect(deep.status).toBe(400);
        expect(deep.body.code).toBe('VALIDATION_FAILED');
        expect(deep.body.details).toEqual([expect.objectContaining({ path: [1, 'data', 'parsed'], message: 'parsed is nested deeper than 16 levels' })]);
        expect(await storedCount(owner)).toBe(before);
        expect((await post(owner, nested(16))).status).toBe(201);
        expect(await storedCount(owner)).toBe(before + 2);
      }
    });

    it('takes parsed of 64 KiB serialized; one byte more → 400 naming the limit', async () => {
      const userId = freshUser();
      const big = await post(userId, parsedOfSize(64 * 1024 + 1));
      expect(big.status).toBe(400);
      expect(big.body.details).toEqual([expect.objectContaining({ path: [1, 'data', 'parsed'], message: 'parsed is 65537 bytes serialized; the limit is 65536' })]);
      expect(await storedCount(userId)).toBe(0);
      expect((await post(userId, parsedOfSize(64 * 1024))).status).toBe(201);
    });

    it('the same bounds hold for the in-process API: app.logs.log throws VALIDATION_FAILED and stores nothing', async () => {
      const userId = freshUser();
      const attempt = server.node.app.logs.log(userId, [logInput({ command: 'OK' }), logInput({ data: { parsed: nested(17) } })]);
      await expect(attempt).rejects.toBeInstanceOf(ValidationError);
      await expect(attempt).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(HTTP_ERRORS.VALIDATION_FAILED.status).toBe(400);
      expect(await storedCount(userId)).toBe(0);
    });

    it('answers a body nested far deeper than anything accepted (200,000 levels) with 400 before parsing it', async () => {
      const userId = freshUser();
      const depth = 200_000;
      for (const path of ['/api/logs', '/api/jobs/events']) {
        const res = await api(server.url, 'POST', path, service, `{"userId":"${userId}","jobId":"j","status":"s","x":${'['.repeat(depth)}${']'.repeat(depth)}}`);
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ code: 'VALIDATION_FAILED', error: `Request body is nested deeper than ${MAX_BODY_DEPTH} levels` });
      }
      expect(await jobCount(userId)).toBe(0);
    });

    it('the limits are configurable: MAX_PARSED_DEPTH=3 and MAX_PARSED_BYTES=100', async () => {
      const small = await startOwn({ MAX_PARSED_DEPTH: '3', MAX_PARSED_BYTES: '100' });
      const send = (parsed: unknown) => api(small.url, 'POST', '/api/logs', service, entry({ userId: 'u-1', data: { parsed } }));
      expect((await send(nested(3))).status).toBe(201);
      expect((await send(nested(4))).body.details[0].message).toBe('parsed is nested deeper than 3 levels');
      expect((await send(parsedOfSize(100))).status).toBe(201);
      expect((await send(parsedOfSize(101))).status).toBe(400);
    });
  });

  describe('strings the store cannot keep as sent: lone surrogates (ill-formed UTF-16) and U+0000', () => {
    // JSON.stringify writes a lone surrogate as the escape \ud800, as a hostile client would send it.
    const LONE = '\ud800';
    const storedLogs = async (userId: string) => (await api(server.url, 'GET', `/api/logs?limit=1000&userId=${encodeURIComponent(userId)}`, service)).body.logs as Array<Record<string, unknown>>;

    // 200 requests, each on a connection of its own: below MAX_CONNECTIONS_PER_ADDRESS (256) from this one address.
    it('one bad entry in a burst of 200 concurrent good requests fails alone with 400 INVALID_BODY; every good one is stored', async () => {
      const users = Array.from({ length: 200 }, () => randomUUID());
      const good = users.map((userId) => api(server.url, 'POST', '/api/logs', service, entry({ userId })));
      const bad = api(server.url, 'POST', '/api/logs', service, entry({ userId: `svc-${LONE}` }));
      const answers = await Promise.all([...good.slice(0, 100), bad, ...good.slice(100)]);
      const badAnswer = answers.splice(100, 1)[0]!;
      expect(badAnswer.status).toBe(400);
      expect(badAnswer.body).toEqual({
        code: 'INVALID_BODY',
        error: 'Request body contains a string that is not well-formed UTF-16 (a lone surrogate)',
        details: [{ path: ['userId'], message: 'not well-formed UTF-16: a lone surrogate' }],
      });
      expect(answers.map((a) => a.status)).toEqual(users.map(() => 201));
      for (const userId of users.slice(0, 20)) expect(await storedLogs(userId)).toHaveLength(1);
    });

    it('refuses a lone surrogate anywhere in a log body or a job event (values and keys), naming its path, storing nothing', async () => {
      const carol = await signUp(server.url);
      const cases: Array<[string, unknown, Array<string | number>]> = [
        ['/api/logs', entry({ command: `FETCH${LONE}` }), ['command']],
        ['/api/logs', [entry(), entry({ emailAccountId: `acct${LONE}` })], [1, 'emailAccountId']],
        ['/api/logs', { logs: [entry({ data: { parsed: { [`k${LONE}`]: 1 } } })] }, ['logs', 0, 'data', 'parsed', 'k\ufffd']],
        ['/api/logs', entry({ data: { raw: `\udc00A1 FETCH` } }), ['data', 'raw']],
        ['/api/jobs/events', { jobId: 'j1', status: `done${LONE}` }, ['status']],
        ['/api/jobs/events', { jobId: 'j1', status: 'done', result: { [`x${LONE}y`]: 'z' } }, ['result', 'x\ufffdy']],
      ];
      for (const [path, body, where] of cases) {
        const res = await api(server.url, 'POST', path, { cookie: carol.cookie }, body);
        expect(res.status, JSON.stringify(where)).toBe(400);
        expect(res.body.code).toBe('INVALID_BODY');
        expect(res.body.details).toEqual([{ path: where, message: 'not well-formed UTF-16: a lone surrogate' }]);
      }
      expect(await storedLogs(carol.userId)).toEqual([]);
      expect((await api(server.url, 'GET', '/api/jobs', { cookie: carol.cookie })).body.jobs).toEqual([]);
    });

    it('takes surrogate pairs (emoji), escaped or not, and stores them exactly', async () => {
      const userId = randomUUID();
      const command = 'FETCH 😀 \ud83d\ude00';
      const raw = `{"userId":"${userId}","emailAccountId":"acct-1","level":"info","command":"FETCH \\ud83d\\ude00 😀","data":{"parsed":{"\\ud83d\\ude00":"\\uD83D\\uDE00"}}}`;
      expect((await api(server.url, 'POST', '/api/logs', service, entry({ userId, command }))).status).toBe(201);
      expect((await api(server.url, 'POST', '/api/logs', service, raw)).status).toBe(201);
      const stored = await storedLogs(userId);
      expect(stored.map((l) => l.command)).toEqual([command, 'FETCH 😀 😀']);
      expect(stored[1]!.data).toEqual({ parsed: { '😀': '😀' } });
    });

    it('the in-process API refuses them too: app.logs.log and app.jobs.publish throw INVALID_BODY', async () => {
      const userId = randomUUID();
      await expect(server.node.app.logs.log(`u${LONE}`, logInput())).rejects.toMatchObject({ code: 'INVALID_BODY', details: [{ path: ['userId'] }] });
      await expect(server.node.app.logs.log(userId, [logInput(), logInput({ command: LONE })])).rejects.toMatchObject({ code: 'INVALID_BODY', details: [{ path: [1, 'command'] }] });
      await expect(server.node.app.jobs.publish({ userId, jobId: `j${LONE}`, status: 'done' })).rejects.toMatchObject({ code: 'INVALID_BODY' });
      expect(await storedLogs(userId)).toEqual([]);
    });

    it('refuses U+0000 in the fields stored as columns (ids, command) with 400 VALIDATION_FAILED, alone among concurrent good requests', async () => {
      const users = Array.from({ length: 50 }, () => randomUUID());
      const good = users.map((userId) => api(server.url, 'POST', '/api/logs', service, entry({ userId })));
      const bad = [
        api(server.url, 'POST', '/api/logs', service, entry({ userId: 'a\u0000b' })),
        api(server.url, 'POST', '/api/logs', service, entry({ userId: users[0], command: 'FETCH\u0000' })),
        api(server.url, 'POST', '/api/logs', service, entry({ userId: users[1], emailAccountId: '\u0000' })),
        api(server.url, 'POST', '/api/jobs/events', service, { userId: users[2], jobId: 'j\u0000', status: 'done' }),
      ];
      const answers = await Promise.all([...bad, ...good]);
      for (const answer of answers.slice(0, bad.length)) {
        expect(answer.status).toBe(400);
        expect(answer.body.details).toEqual([expect.objectContaining({ message: 'must not contain U+0000 (NUL)' })]);
      }
      expect(answers.slice(bad.length).map((a) => a.status)).toEqual(users.map(() => 201));
      // U+0000 inside data (stored as JSON text, escaped) is fine.
      expect((await api(server.url, 'POST', '/api/logs', service, entry({ userId: users[3], data: { raw: 'a\u0000b' } }))).status).toBe(201);
    });
  });
});
