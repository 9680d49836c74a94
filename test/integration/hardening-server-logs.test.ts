import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, service, signIn, signOut, signUp } from '../helpers/http.js';
import { INGEST_TOKEN, SECRET, type TestServer, TEST_ORIGIN, startTestServer } from '../helpers/server.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

/** Strings that only a log entry's content carries: none may reach the server's own log. */
const MARKERS = {
  command: 'MARKERCOMMAND',
  account: 'marker-account-7f3a',
  raw: 'A1 LOGIN bob hunter2hunter2 MARKERRAW',
  parsed: 'MARKERPARSEDVALUE',
  response: 'MARKERRESPONSE',
  error: 'MARKERERRORTEXT',
  job: 'MARKERJOBFIELD',
  frame: 'MARKERFRAMECONTENT',
};
const PASSWORD = 'MarkerPassword-correct-horse';
const WRONG_TOKEN = 'wrong-token-MARKER-0123456789abcdef';
const WRONG_PASSWORD = 'wrong password MARKER';

describe('the server’s own log (captured at LOG_LEVEL=trace through a full scripted session)', () => {
  let server: TestServer;
  const credentials = { INGEST_TOKEN, BETTER_AUTH_SECRET: SECRET, 'a wrong bearer token': WRONG_TOKEN, 'the password': PASSWORD, 'a wrong password': WRONG_PASSWORD };
  /** Every session cookie's value, as sent, URL-decoded, and its token without the signature. */
  const cookieValues: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ LOG_LEVEL: 'trace', MAX_MESSAGE_BYTES: '1024' });

    // Sign-up, a second sign-in, a session check: every cookie is a secret to look for.
    const user = await signUp(server.url, { password: PASSWORD });
    const second = await signIn(server.url, { email: user.email, password: PASSWORD });
    await api(server.url, 'POST', '/api/auth/sign-in/email', {}, { email: user.email, password: WRONG_PASSWORD }, { origin: TEST_ORIGIN });
    for (const cookie of [user.cookie, second]) {
      const value = cookie.slice(cookie.indexOf('=') + 1);
      cookieValues.push(value, decodeURIComponent(value), decodeURIComponent(value).split('.')[0]!);
    }
    await api(server.url, 'GET', '/api/auth/get-session', { cookie: user.cookie });

    // Sockets: good and bad frames, a frame too big, a refused upgrade with the cookie.
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const other = await TestSocket.ready(server.wsUrl, { cookie: second });
    socket.send({ type: 'ping', note: MARKERS.frame });
    socket.send(`{"type":"${MARKERS.frame}"}`);
    socket.send(`not json ${MARKERS.frame}`);
    socket.send({ type: 'subscribe', channel: MARKERS.frame });
    await socket.roundTrip();
    const big = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    big.send(JSON.stringify({ type: 'ping', pad: MARKERS.frame.repeat(200) }));
    await big.closed;
    await refusedUpgrade(server.wsUrl, { cookie: user.cookie, origin: 'http://evil.example' });

    // Ingest: with the session, with the service token, with a wrong token; valid, invalid and too big.
    const log = entry({
      emailAccountId: MARKERS.account,
      command: MARKERS.command,
      data: { raw: MARKERS.raw, parsed: { value: MARKERS.parsed }, response: MARKERS.response, error: MARKERS.error },
    });
    await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, log);
    await api(server.url, 'POST', '/api/logs', service, { ...log, userId: user.userId });
    await api(server.url, 'POST', '/api/logs', { token: WRONG_TOKEN }, log);
    await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, { ...log, level: 'loud' });
    await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, `{"command":"${MARKERS.command}",`);
    await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, { ...log, data: { raw: MARKERS.raw.repeat(60_000) } });
    await api(server.url, 'POST', '/api/jobs/events', { cookie: user.cookie }, { jobId: 'j1', status: 'active', detail: MARKERS.job });
    await api(server.url, 'POST', '/api/jobs/events', { cookie: user.cookie }, { status: MARKERS.job });
    await socket.next('log');
    await socket.next('job-event');
    await api(server.url, 'GET', `/api/logs?since=${MARKERS.command}`, { cookie: user.cookie });
    socket.send({ type: 'clear-logs' });
    await socket.next('logs-cleared');

    // Sign-out closes the first session's socket (4401); then the node shuts down with the other open.
    await signOut(server.url, user.cookie);
    await socket.closed;
    await other.roundTrip();
    await server.close();
  });
  afterAll(() => server.close());

  it('captured the session: requests, socket events and better-auth’s own lines are there', () => {
    const events = server.logLines.map((line) => JSON.parse(line) as { event?: string; code?: number; req?: { path?: string } });
    expect(events.some((e) => e.event === 'ws-connect')).toBe(true);
    expect(events.some((e) => e.event === 'ws-close' && e.code === 4401)).toBe(true);
    expect(events.some((e) => e.event === 'ws-close' && e.code === 1009)).toBe(true);
    expect(events.some((e) => e.req?.path === '/api/logs')).toBe(true);
    expect(events.some((e) => e.req?.path === '/api/auth/sign-in/email')).toBe(true);
    expect(server.logLines.length).toBeGreaterThan(20);
  });

  it('never contains a session token or cookie, INGEST_TOKEN, a bearer token, the auth secret or a password', () => {
    const log = server.logLines.join('\n');
    for (const [what, secret] of Object.entries(credentials)) expect(log.includes(secret), `the log contains ${what}`).toBe(false);
    expect(cookieValues).toHaveLength(6);
    for (const value of cookieValues) expect(log.includes(value), `the log contains a session cookie (${value.slice(0, 6)}…)`).toBe(false);
    expect(log).not.toMatch(/session_token=/);
    expect(log).not.toMatch(/Bearer /i);
  });

  it('never contains any part of a log entry, job event or client frame (sanitized or not)', () => {
    const log = server.logLines.join('\n');
    for (const [field, marker] of Object.entries(MARKERS)) expect(log.includes(marker), `the log contains the ${field} of an entry`).toBe(false);
  });
});
