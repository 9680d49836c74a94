import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { api, entry, signUp } from '../helpers/http.js';
import { LivetailProcess, PROCESS_TEST_TIMEOUT_MS, ROOT, processEnv, tempDir } from '../helpers/process.js';
import { TEST_STORE } from '../helpers/server.js';
import { TestSocket, refusedUpgrade } from '../helpers/ws-client.js';

function start(dir: string, env: Record<string, string> = {}): LivetailProcess {
  const proc = LivetailProcess.start(processEnv(dir, env));
  onTestFinished(() => proc.kill());
  return proc;
}

const wsUrlOf = (url: string) => `${url.replace('http', 'ws')}/ws`;

// Measured on real processes and sockets; the store does not matter here, so only the sqlite project runs it.
describe.skipIf(TEST_STORE !== 'sqlite')('shutdown on SIGTERM', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  it('turns unready at once, refuses new sockets, closes open ones with 1001 after DRAIN_DELAY_MS, flushes and exits 0', async () => {
    const dir = tempDir();
    const drainDelayMs = 2000;
    const proc = start(dir, { DRAIN_DELAY_MS: String(drainDelayMs) });
    const url = await proc.listening();
    const user = await signUp(url);
    const socket = await TestSocket.ready(wsUrlOf(url), { cookie: user.cookie });
    expect((await api(url, 'GET', '/readyz', {})).status).toBe(200);

    // Acknowledged just before the signal: it must be readable after a restart.
    expect((await api(url, 'POST', '/api/logs', { cookie: user.cookie }, entry({ command: 'BEFORE_SIGTERM' }))).status).toBe(201);
    await socket.next('log');

    const signalledAt = Date.now();
    proc.signal('SIGTERM');
    await proc.logLine((l) => l.event === 'shutdown');
    const readyz = await api(url, 'GET', '/readyz', {});
    const unreadyAfterMs = Date.now() - signalledAt;
    expect(readyz.status).toBe(503);
    expect(readyz.body).toMatchObject({ status: 'shutting-down' });
    expect(unreadyAfterMs).toBeLessThan(drainDelayMs);

    const refused = await refusedUpgrade(wsUrlOf(url), { cookie: user.cookie });
    expect(refused).toMatchObject({ status: 503, body: { code: 'SHUTTING_DOWN' } });

    // During the drain delay the open socket still works and ingest still lands (the load balancer has
    // stopped sending new work, in-flight clients finish).
    await socket.roundTrip();
    expect((await api(url, 'POST', '/api/logs', { cookie: user.cookie }, entry({ command: 'DURING_DRAIN' }))).status).toBe(201);
    expect((await socket.next('log')).log.command).toBe('DURING_DRAIN');

    const closed = await socket.closed;
    const closedAfterMs = Date.now() - signalledAt;
    expect(closed).toEqual({ code: 1001, reason: 'Server shutting down' });
    expect(closedAfterMs).toBeGreaterThanOrEqual(drainDelayMs);

    const exit = await proc.exited;
    const exitedAfterMs = Date.now() - signalledAt;
    expect(exit.code).toBe(0);
    expect(exitedAfterMs).toBeLessThan(10_000);
    expect(proc.stderr.filter(Boolean)).toEqual([]);
    const stopped = proc.jsonLines().find((l) => l.event === 'stopped');
    expect(stopped?.durationMs).toBeGreaterThanOrEqual(drainDelayMs);
    // SQLite removes the write-ahead log when the last connection closes cleanly: the database was closed.
    expect(fs.existsSync(path.join(dir, 'livetail.db-wal'))).toBe(false);
    console.info(`[shutdown] unready ${unreadyAfterMs} ms, sockets closed ${closedAfterMs} ms, exit ${exitedAfterMs} ms after SIGTERM (DRAIN_DELAY_MS=${drainDelayMs})`);

    const again = start(dir);
    const url2 = await again.listening();
    const logs = await api(url2, 'GET', '/api/logs', { cookie: user.cookie });
    expect(logs.body.logs.map((l: { command: string }) => l.command)).toEqual(['BEFORE_SIGTERM', 'DURING_DRAIN']);
    again.signal('SIGTERM');
    expect((await again.exited).code).toBe(0);
  });

  it('stores every log acknowledged while SIGTERM arrives', async () => {
    const dir = tempDir();
    const proc = start(dir);
    const url = await proc.listening();
    const user = await signUp(url);
    // Requests in flight when the signal lands: each either got 201 (then it is stored) or failed.
    const sends = Array.from({ length: 30 }, (_, i) =>
      api(url, 'POST', '/api/logs', { cookie: user.cookie }, entry({ command: `INFLIGHT${i}` })).then(
        (res) => ({ i, status: res.status }),
        () => ({ i, status: 0 }),
      ),
    );
    await Promise.race(sends);
    proc.signal('SIGTERM');
    const results = await Promise.all(sends);
    expect((await proc.exited).code).toBe(0);
    const acknowledged = results.filter((r) => r.status === 201).map((r) => `INFLIGHT${r.i}`);
    expect(acknowledged.length).toBeGreaterThan(0);

    const again = start(dir);
    const url2 = await again.listening();
    const stored = (await api(url2, 'GET', '/api/logs', { cookie: user.cookie })).body.logs.map((l: { command: string }) => l.command);
    for (const command of acknowledged) expect(stored).toContain(command);
    console.info(`[shutdown] ${acknowledged.length} of 30 in-flight logs acknowledged, all stored`);
  });

  it('exits at once on a second SIGTERM', async () => {
    const proc = start(tempDir(), { DRAIN_DELAY_MS: '20000', SHUTDOWN_TIMEOUT_MS: '30000' });
    const url = await proc.listening();
    const user = await signUp(url);
    const socket = await TestSocket.ready(wsUrlOf(url), { cookie: user.cookie });
    proc.signal('SIGTERM');
    await proc.logLine((l) => l.event === 'shutdown');
    const secondAt = Date.now();
    proc.signal('SIGTERM');
    const exit = await proc.exited;
    expect(Date.now() - secondAt).toBeLessThan(2000);
    expect(exit.code).toBe(1);
    expect(proc.stderr).toContain('SIGTERM again: exiting at once');
    // The process is gone, so the socket is cut rather than closed with 1001.
    expect((await socket.closed).code).toBe(1006);
  });

  it('gives up after SHUTDOWN_TIMEOUT_MS with exit code 1 when a client never completes the close', async () => {
    const proc = start(tempDir(), { SHUTDOWN_TIMEOUT_MS: '500' });
    const url = await proc.listening();
    const user = await signUp(url);
    const socket = await TestSocket.ready(wsUrlOf(url), { cookie: user.cookie });
    socket.ws.pause(); // never reads the server's close frame, so never answers it
    const signalledAt = Date.now();
    proc.signal('SIGTERM');
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    // The socket close waits up to 2 s for the handshake; the 500 ms bound cuts it short.
    expect(Date.now() - signalledAt).toBeLessThan(2000);
    expect(proc.stderr).toContain('shutdown took longer than 500 ms: exiting');
  });

  it('shuts down the same way on SIGINT (Ctrl-C)', async () => {
    const proc = start(tempDir());
    const url = await proc.listening();
    const user = await signUp(url);
    const socket = await TestSocket.ready(wsUrlOf(url), { cookie: user.cookie });
    proc.signal('SIGINT');
    expect((await socket.closed).code).toBe(1001);
    expect((await proc.exited).code).toBe(0);
  });

  it('gets SIGTERM through `npm start` (the start script execs node)', async () => {
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.start).toMatch(/^exec node /);
    const npm = LivetailProcess.spawn('npm', ['start', '--silent'], processEnv(tempDir()));
    onTestFinished(() => npm.kill());
    const url = await npm.listening();
    const user = await signUp(url);
    const socket = await TestSocket.ready(wsUrlOf(url), { cookie: user.cookie });
    // SIGTERM to npm's own process, as a process manager or container runtime sends it.
    npm.signal('SIGTERM');
    expect(await socket.closed).toEqual({ code: 1001, reason: 'Server shutting down' });
    const exit = await npm.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    await npm.logLine((l) => l.event === 'stopped');
    // Nothing is left listening: the server itself exited, not only npm.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
