import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, signUp, type TestUser } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

/**
 * Issue 12, "secrets that are stored and broadcast": one secret per form, sent through every producer
 * path (POST /api/logs, POST /api/jobs/events, app.jobs.publish); none may show in what is stored, what
 * the POST and GET routes answer, or what a socket receives, live or on a fresh connect.
 */
const S = {
  loginAfterUtf8: 'SxLoginAfterUtf8Literal-0001',
  literal8: 'SxBinaryLiteral8Content-0002',
  plainInResponse: 'SxPlainContinuationResponse-0003',
  plainInRaw: 'SxPlainContinuationRaw-0004',
  xoauth2: 'ya29.SxDecodedXoauth2Token-0005',
  pass: 'SxParsedPass-0006',
  pwd: 'SxParsedPwd-0007',
  passphrase: 'SxParsedPassphrase-0008',
  apiKey: 'SxParsedApiKey-0009',
  apiKeySnake: 'SxParsedApiKeySnake-0010',
  privateKey: 'SxParsedPrivateKey-0011',
  credentials: 'SxParsedCredentials-0012',
  cookie: 'SxParsedCookie-0013',
  sessionId: 'SxParsedSessionId-0014',
  pin: 'SxParsedPin-0015',
  loginInParsed: 'SxLoginLineInParsed-0016',
  jobPassword: 'SxJobPassword-0017',
  jobApiToken: 'SxJobApiToken-0018',
  jobLogin: 'SxJobLoginLine-0019',
  published: 'SxPublishedCredential-0020',
};

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const plain = (password: string) => base64(`\0bob@example.com\0${password}`);
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
/** Every string that must not be readable: the secrets, their JSON-escaped forms, the base64 that carried some. */
const FORBIDDEN = [...Object.values(S), plain(S.plainInResponse), plain(S.plainInRaw)];

const LOGS = [
  entry({
    command: 'LOGIN',
    data: { raw: `A1 LOGIN {6}\r\n李雷 {${bytes(S.loginAfterUtf8)}}\r\n${S.loginAfterUtf8}`, parsed: { args: ['李雷', S.loginAfterUtf8] }, response: 'A1 OK LOGIN completed' },
  }),
  entry({
    command: 'FETCH',
    data: { raw: 'A2 UID FETCH 7 (BINARY[1])', response: `* 1 FETCH (UID 7 BINARY[1] ~{${bytes(S.literal8)}}\r\n${S.literal8} FLAGS (\\Seen))\r\nA2 OK FETCH completed` },
  }),
  entry({ command: 'AUTHENTICATE', data: { raw: 'A3 AUTHENTICATE PLAIN', response: `+ \r\n${plain(S.plainInResponse)}\r\nA3 OK Success` } }),
  entry({ command: 'AUTHENTICATE', data: { raw: `A4 AUTHENTICATE PLAIN\r\n${plain(S.plainInRaw)}`, response: 'A4 OK Success' } }),
  entry({
    command: 'AUTHENTICATE',
    level: 'error',
    data: { raw: 'A5 AUTHENTICATE XOAUTH2', error: `rejected: user=bob@example.com\x01auth=Bearer ${S.xoauth2}\x01\x01`, response: 'A5 NO' },
  }),
  entry({
    command: 'NOOP',
    data: {
      raw: 'A6 NOOP',
      parsed: {
        pass: S.pass,
        pwd: S.pwd,
        passphrase: S.passphrase,
        apiKey: S.apiKey,
        api_key: S.apiKeySnake,
        privateKey: S.privateKey,
        credentials: { user: 'bob', value: S.credentials },
        cookie: S.cookie,
        sessionId: S.sessionId,
        pin: S.pin,
        sent: [`A7 LOGIN bob ${S.loginInParsed}`],
      },
    },
  }),
];

describe('secrets never reach the store, the API or a socket (issue 12)', () => {
  let server: TestServer;
  let user: TestUser;
  let live: TestSocket;
  const answers: unknown[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    user = await signUp(server.url);
    live = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    await live.next('initial-jobs');

    const logs = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, LOGS);
    expect(logs.status).toBe(201);
    const job = await api(server.url, 'POST', '/api/jobs/events', { cookie: user.cookie }, {
      jobId: 'sync-1',
      status: 'failed',
      password: S.jobPassword,
      apiToken: S.jobApiToken,
      error: `A8 LOGIN bob ${S.jobLogin}`,
    });
    expect(job.status).toBe(201);
    const published = await server.node.app.jobs.publish({ userId: user.userId, jobId: 'sync-2', status: 'active', detail: { credentials: { token: S.published } } });
    answers.push(logs.body, job.body, published);
    await live.until('log', LOGS.length);
    await live.until('job-event', 2);
  });
  afterAll(async () => {
    await live?.close();
    await server?.close();
  });

  function expectClean(what: string, value: unknown): void {
    const text = JSON.stringify(value);
    for (const secret of FORBIDDEN) {
      expect(text, `${what} shows ${secret}`).not.toContain(secret);
      expect(text, `${what} shows ${secret}`).not.toContain(JSON.stringify(secret).slice(1, -1));
    }
  }

  it('stores none: the log and job rows as the database holds them', async () => {
    const db = server.node.app.database.db;
    const logRows = await db.selectFrom('livetail_log').selectAll().where('user_id', '=', user.userId).execute();
    const jobRows = await db.selectFrom('livetail_job').selectAll().where('user_id', '=', user.userId).execute();
    expect(logRows).toHaveLength(LOGS.length);
    expect(jobRows.map((r) => r.job_id).sort()).toEqual(['sync-1', 'sync-2']);
    expectClean('the stored rows', [logRows, jobRows]);
  });

  it('answers none: the POST answers, GET /api/logs and GET /api/jobs', async () => {
    expectClean('the POST answers', answers);
    const logs = await api(server.url, 'GET', '/api/logs', { cookie: user.cookie });
    const jobs = await api(server.url, 'GET', '/api/jobs', { cookie: user.cookie });
    expect(logs.body.logs).toHaveLength(LOGS.length);
    expect(jobs.body.jobs).toHaveLength(2);
    expectClean('GET /api/logs', logs.body);
    expectClean('GET /api/jobs', jobs.body);
  });

  it('sends none: live log and job-event messages', () => {
    expectClean('live messages', live.messages);
    // What is not secret arrives as sent: the UTF-8 user, the job's identity.
    expect(live.all('log')[0]!.log.data.raw).toBe(`A1 LOGIN {6}\r\n李雷 ****`);
    expect(live.all('job-event').map((m) => [m.data.userId, m.data.jobId, m.data.status])).toEqual([
      [user.userId, 'sync-1', 'failed'],
      [user.userId, 'sync-2', 'active'],
    ]);
  });

  it('sends none on a fresh connect: initial-logs and initial-jobs', async () => {
    const fresh = await TestSocket.open(server.wsUrl, { cookie: user.cookie });
    const initialLogs = await fresh.next('initial-logs');
    const initialJobs = await fresh.next('initial-jobs');
    expect(initialLogs.logs).toHaveLength(LOGS.length);
    expect(initialJobs.jobs).toHaveLength(2);
    expectClean('initial-logs and initial-jobs', [initialLogs, initialJobs]);
    await fresh.close();
  });
});
