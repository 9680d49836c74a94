import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestLane } from '../../src/http/ingest-lane.js';
import { type TestUser, entry, signUp } from '../helpers/http.js';
import { INGEST_TOKEN, TEST_ORIGIN, type TestServer, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The standalone server carries plain POST /api/logs through the ingest lane, without Express
 * (src/http/ingest-lane.ts); `/api/logs?` (an empty query) still goes through Express's route. Every
 * request here is sent both ways, over real connections to one server, and must be answered alike:
 * status, body, and the headers a client reads. The server's own request events record which way each
 * one went, so a lane that took nothing (or everything) fails too.
 */
describe('The ingest lane (POST /api/logs without Express)', () => {
  let server: TestServer;
  let user: TestUser;
  let lane: IngestLane;
  /** For each request id the server saw: whether the lane took it. */
  const taken = new Map<string, boolean>();
  let sequence = 0;

  beforeAll(async () => {
    server = await startTestServer({ MAX_BATCH_ENTRIES: '5', MAX_BODY_BYTES: '4096' });
    user = await signUp(server.url);
    lane = server.node.app.ingestLane('/api');
    // First in line, before the server's own listener can read the body or Express rewrite the url.
    server.node.server.prependListener('request', (req: http.IncomingMessage) => {
      const id = req.headers['x-request-id'];
      if (typeof id === 'string') taken.set(id, lane.takes(req));
    });
  }, 30_000);
  afterAll(() => server?.close());

  interface Answer {
    status: number;
    body: unknown;
    headers: Record<string, string | undefined>;
    id: string;
  }

  /** A POST through node's client (so a test can send what fetch would not: no length, any length). */
  function post(path: string, body: string, headers: Record<string, string | undefined>): Promise<Answer> {
    const id = `lane-${++sequence}`;
    const sent: Record<string, string> = { 'x-request-id': id, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) delete sent[name];
      else sent[name] = value;
    }
    return new Promise((resolve, reject) => {
      // The path as given (a URL string would lose the empty query that sends a request to Express).
      const req = http.request({ host: '127.0.0.1', port: server.node.port, path, method: 'POST', headers: sent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {}
          const kept: Record<string, string | undefined> = {};
          for (const [name, value] of Object.entries(res.headers)) if (name !== 'date') kept[name] = Array.isArray(value) ? value.join(', ') : value;
          resolve({ status: res.statusCode!, body: parsed, headers: kept, id });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** What must agree between the two ways: the stored logs' own ids and times differ, their length not. */
  function comparable(answer: Answer) {
    const { 'x-request-id': requestId, ...headers } = answer.headers;
    expect(requestId).toBe(answer.id); // each request's own id is echoed either way
    const body = answer.body as { logs?: Array<Record<string, unknown>> };
    if (answer.status === 201 && Array.isArray(body.logs)) {
      delete headers['content-length'];
      return { ...answer, id: undefined, headers, body: { logs: body.logs.map(({ id: _id, timestamp: _t, ...log }) => log) } };
    }
    return { ...answer, id: undefined, headers };
  }

  const bearer = { authorization: `Bearer ${INGEST_TOKEN}` };
  const session = () => ({ cookie: user.cookie, origin: TEST_ORIGIN });
  const one = (overrides: Record<string, unknown> = {}) => JSON.stringify({ ...entry(), userId: user.userId, ...overrides });

  /** Sends the same request to the lane's path and to Express's, and checks who took each. */
  async function bothWays(body: string, headers: Record<string, string | undefined>, lanePath = '/api/logs') {
    const viaLane = await post(lanePath, body, headers);
    const viaExpress = await post('/api/logs?', body, headers);
    expect(taken.get(viaExpress.id)).toBe(false);
    return { viaLane, viaExpress, laneTook: taken.get(viaLane.id) };
  }

  const cases: Array<[string, () => string, () => Record<string, string | undefined>]> = [
    ['one entry with the service token', () => one(), () => bearer],
    ['a batch, as an array', () => JSON.stringify([1, 2, 3].map((n) => ({ ...entry({ command: `C${n}` }), userId: user.userId }))), () => bearer],
    ['a batch as { logs }', () => JSON.stringify({ logs: [{ ...entry(), userId: user.userId }] }), () => bearer],
    ['one entry with the session cookie', () => one(), session],
    ['a +json type with a charset', () => one(), () => ({ ...bearer, 'content-type': 'application/vnd.livetail+json; charset=utf-8' })],
    ['malformed JSON', () => '{"command":', () => bearer],
    ['JSON that is not entries', () => 'null', () => bearer],
    ['an entry that fails validation', () => one({ command: 42, level: 'loud' }), () => bearer],
    ['an entry without its userId (service token)', () => JSON.stringify(entry()), () => bearer],
    ["another user's entry (session cookie)", () => one({ userId: 'someone-else' }), session],
    ['more entries than MAX_BATCH_ENTRIES', () => JSON.stringify(Array.from({ length: 6 }, () => ({ ...entry(), userId: user.userId }))), () => bearer],
    ['a key that could reach a prototype', () => `{"userId":"${user.userId}","__proto__":{"polluted":true}}`, () => bearer],
    ['nesting past the body depth', () => `${'['.repeat(1100)}${']'.repeat(1100)}`, () => bearer],
    ['a lone surrogate', () => `{"userId":"${user.userId}","command":"\\ud800","level":"info"}`, () => bearer],
    ['a wrong bearer token', () => one(), () => ({ authorization: 'Bearer nope' })],
    ['no credentials', () => one(), () => ({})],
    ['a session cookie from an untrusted Origin', () => one(), () => ({ cookie: user.cookie, origin: 'https://evil.example' })],
    ['a malformed Idempotency-Key', () => one(), () => ({ ...bearer, 'idempotency-key': 'x'.repeat(300) })],
  ];

  it.each(cases)('answers %s as Express does', async (_name, body, headers) => {
    const { viaLane, viaExpress, laneTook } = await bothWays(body(), headers());
    expect(laneTook).toBe(true);
    expect(comparable(viaLane)).toEqual(comparable(viaExpress));
    expect(viaLane.headers['content-security-policy']).toBeDefined(); // the security headers, on the lane's answers too
  });

  it('stores each 201 once and nothing of a refused request', async () => {
    const watched = await signUp(server.url);
    const read = async () =>
      ((await (await fetch(`${server.url}/api/logs?userId=${watched.userId}&limit=100`, { headers: bearer })).json()) as { logs: Array<{ id: string; command: string }> }).logs;
    const good = await post('/api/logs', JSON.stringify([{ ...entry({ command: 'A' }), userId: watched.userId }, { ...entry({ command: 'B' }), userId: watched.userId }]), bearer);
    const bad = await post('/api/logs', JSON.stringify([{ ...entry({ command: 'C' }), userId: watched.userId }, { ...entry({ level: 'loud' }), userId: watched.userId }]), bearer);
    expect([good.status, bad.status]).toEqual([201, 400]);
    expect(taken.get(good.id)).toBe(true);
    const logs = await read();
    expect(logs.map((l) => l.command)).toEqual(['A', 'B']);
    expect(logs.map((l) => l.id)).toEqual((good.body as { logs: Array<{ id: string }> }).logs.map((l) => l.id));
  });

  it('answers a repeated Idempotency-Key with the first answer, and a reused one with 422, either way', async () => {
    for (const path of ['/api/logs', '/api/logs?']) {
      const key = `key-${path.length}-${Date.now()}`;
      const first = await post(path, one({ command: 'ONCE' }), { ...bearer, 'idempotency-key': key });
      const again = await post(path, one({ command: 'ONCE' }), { ...bearer, 'idempotency-key': key });
      const reused = await post(path, one({ command: 'OTHER' }), { ...bearer, 'idempotency-key': key });
      expect([first.status, again.status, reused.status]).toEqual([201, 201, 422]);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(taken.get(first.id)).toBe(path === '/api/logs');
      // A replay on the lane is the very bytes of its first answer.
      expect(again.headers['content-length']).toBe(first.headers['content-length']);
    }
  });

  it('leaves to Express what it does not carry, which answers as before', async () => {
    const body = one();
    const text = await post('/api/logs', body, { ...bearer, 'content-type': 'text/plain' });
    const large = await post('/api/logs', JSON.stringify({ ...entry({ data: { raw: 'x'.repeat(5000) } }), userId: user.userId }), bearer);
    const deflated = await post('/api/logs', body, { ...bearer, 'content-encoding': 'identity' });
    const chunked = await post('/api/logs', body, { ...bearer, 'content-length': undefined, 'transfer-encoding': 'chunked' });
    const empty = await post('/api/logs', '', bearer);
    const upper = await post('/API/LOGS', body, bearer);
    expect([text.status, large.status, deflated.status, chunked.status, empty.status, upper.status]).toEqual([415, 413, 201, 201, 400, 201]);
    for (const answer of [text, large, deflated, chunked, empty, upper]) expect(taken.get(answer.id)).toBe(false);
  });

  it('lets a request go whose client leaves mid-body, as Express does, and goes on serving', async () => {
    for (const path of ['/api/logs', '/api/logs?']) {
      const id = `lane-aborted-${path.length}`;
      const socket = net.connect(server.node.port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${INGEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nX-Request-Id: ${id}\r\n\r\n{"userId":`,
      );
      await waitFor(() => taken.has(id), 'the server to take the request');
      expect(taken.get(id)).toBe(path === '/api/logs');
      socket.destroy();
      // The access line is written when the response closes: before the refusal of the cut body was
      // written (aborted, the status never set), or just after (400), whichever of the request's and the
      // response's close node reports first.
      await waitFor(() => server.logLines.some((line) => line.includes(`"id":"${id}"`)), 'the request to be logged');
      const line = JSON.parse(server.logLines.find((l) => l.includes(`"id":"${id}"`))!) as { msg: string; res: { statusCode: number } };
      expect([['request aborted', 200], ['request completed', 400]]).toContainEqual([line.msg, line.res.statusCode]);
    }
    expect((await post('/api/logs', one(), bearer)).status).toBe(201);
  });
});
