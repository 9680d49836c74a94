import { describe, expect, it, onTestFinished } from 'vitest';
import { api, entry, signUp } from '../helpers/http.js';
import { LivetailProcess, PROCESS_TEST_TIMEOUT_MS, processEnv, tempDir } from '../helpers/process.js';
import { TEST_STORE, serversPerTest } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

type Line = Record<string, any>;

// The shape of the server's own log does not depend on the store: the sqlite project runs it.
describe.skipIf(TEST_STORE !== 'sqlite')("the server's own log", { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  const start = serversPerTest();

  it('has one JSON line per HTTP request, each with a request id, echoed in X-Request-Id', async () => {
    const server = await start();
    const user = await signUp(server.url);
    const given = await api(server.url, 'GET', '/api/logs', { cookie: user.cookie }, undefined, { 'x-request-id': 'trace-abc.123' });
    const generated = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, [entry({ level: 'loud' })]);
    const hostile = await api(server.url, 'GET', '/nowhere?token=abc', {}, undefined, { 'x-request-id': 'not ok\u00e9 spaces' });
    expect([given.status, generated.status, hostile.status]).toEqual([200, 400, 404]);
    expect(given.headers.get('x-request-id')).toBe('trace-abc.123');
    // Anything but a short token is replaced, so a client cannot forge or inject into the log.
    for (const res of [generated, hostile]) expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const lines: Line[] = server.logLines.map((l) => JSON.parse(l));
    for (const line of lines) expect(line).toMatchObject({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) });
    const http = lines.filter((l) => l.req !== undefined || l.res !== undefined);
    for (const line of http) expect(line.req?.id, JSON.stringify(line)).toEqual(expect.any(String));
    const byId = (id: string | null) => http.filter((l) => l.req.id === id);
    // Exactly one access line per request, with method, path (no query) and status.
    expect(byId(given.headers.get('x-request-id'))).toEqual([
      expect.objectContaining({ req: { id: 'trace-abc.123', method: 'GET', path: '/api/logs' }, res: { statusCode: 200 }, responseTime: expect.any(Number) }),
    ]);
    expect(byId(generated.headers.get('x-request-id'))).toEqual([expect.objectContaining({ req: expect.objectContaining({ method: 'POST' }), res: { statusCode: 400 } })]);
    expect(byId(hostile.headers.get('x-request-id'))).toEqual([expect.objectContaining({ req: expect.objectContaining({ path: '/nowhere' }), res: { statusCode: 404 } })]);
    // Headers and bodies are never logged (the no-secrets property is tested across the whole suite elsewhere).
    for (const line of http) {
      expect(line.req).not.toHaveProperty('headers');
      expect(line).not.toHaveProperty('body');
    }
  });

  it('logs a request that failed inside the server with its request id', async () => {
    const server = await start();
    const user = await signUp(server.url);
    await server.node.app.database.close(); // every database read now fails
    const res = await api(server.url, 'GET', '/api/logs', { cookie: user.cookie });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.body).toMatchObject({ code: expect.any(String), error: expect.any(String) });
    expect(JSON.stringify(res.body)).not.toMatch(/destroyed|sqlite|kysely|at /i);
    const id = res.headers.get('x-request-id');
    const lines: Line[] = server.logLines.map((l) => JSON.parse(l)).filter((l) => l.req?.id === id);
    expect(lines.map((l) => l.level)).toEqual([50, 50]); // the error with its stack, then the access line
    expect(lines[0]).toMatchObject({ msg: 'request failed', err: { message: expect.any(String) } });
  });

  it('has one line per WebSocket connect and close, with the user id, close code, reason and duration', async () => {
    const server = await start();
    const user = await signUp(server.url);
    const byClient = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    byClient.ws.close(1000, 'tab closed');
    await byClient.closed;
    const byServer = await TestSocket.ready(server.wsUrl, { cookie: user.cookie, query: 'channels=logs' });
    await server.close(); // closes the second socket with 1001
    expect((await byServer.closed).code).toBe(1001);

    const lines: Line[] = server.logLines.map((l) => JSON.parse(l));
    const connects = lines.filter((l) => l.event === 'ws-connect');
    const closes = lines.filter((l) => l.event === 'ws-close');
    expect(connects).toHaveLength(2);
    expect(closes).toHaveLength(2);
    for (const line of connects) expect(line).toMatchObject({ level: 30, userId: user.userId, msg: expect.any(String) });
    expect(closes[0]).toMatchObject({ userId: user.userId, code: 1000, reason: 'tab closed', durationMs: expect.any(Number) });
    expect(closes[1]).toMatchObject({ userId: user.userId, code: 1001, reason: 'Server shutting down', durationMs: expect.any(Number) });
    for (const line of closes) expect(line.durationMs).toBeGreaterThanOrEqual(0);
    // The shutdown is logged too, once at the start and once at the end.
    expect(lines.filter((l) => l.event === 'shutdown')).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'stopped')).toHaveLength(1);
  });

  it('writes JSON lines to stdout by default', async () => {
    const proc = LivetailProcess.start(processEnv(tempDir()));
    onTestFinished(() => proc.kill());
    const url = await proc.listening();
    expect((await api(url, 'GET', '/api/logs', {})).status).toBe(401);
    proc.signal('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    const lines = proc.jsonLines(); // throws on any line that is not JSON
    expect(lines.length).toBeGreaterThanOrEqual(4); // listening, the request, shutdown, stopped
    for (const line of lines) expect(line).toMatchObject({ level: expect.any(Number), time: expect.any(Number), node: expect.any(String), msg: expect.any(String) });
  });

  it('writes human-readable lines with LOG_FORMAT=pretty', async () => {
    const proc = LivetailProcess.start(processEnv(tempDir(), { LOG_FORMAT: 'pretty' }));
    onTestFinished(() => proc.kill());
    const listening = await proc.textLine(/livetail listening on http:\/\/localhost:\d+/);
    expect(listening).toMatch(/INFO/);
    expect(() => JSON.parse(listening)).toThrow();
    proc.signal('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(proc.stdout.some((line) => /stopped/.test(line))).toBe(true);
  });
});
