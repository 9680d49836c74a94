import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/protocol/index.js';
import { type Credentials, api, entry, service, signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { SINCE_THE_START } from '../../src/protocol/constants.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

/** `prefix0` … `prefix{n-1}`. */
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('resume with ?since=<log id>', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ INITIAL_LOGS: '3', MAX_LOGS_PER_USER: '10' });
  });
  afterAll(() => server.close());

  /** Stores logs named `commands` for the user, in order, and returns them as stored. */
  const store = async (user: TestUser, commands: string[]): Promise<LogEntry[]> => {
    const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, commands.map((command) => entry({ command })));
    expect(res.status).toBe(201);
    return res.body.logs;
  };
  const resume = async (user: TestUser, since: string) => {
    const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query: `since=${encodeURIComponent(since)}` });
    const initial = await socket.next('initial-logs');
    await socket.close();
    return { commands: initial.logs.map((l) => l.command), truncated: initial.truncated, initial };
  };
  it('sends every stored log after the id, oldest first, beyond INITIAL_LOGS, with truncated false', async () => {
    const user = await signUp(server.url);
    const logs = await store(user, names('C', 8));
    const { commands, truncated, initial } = await resume(user, logs[1]!.id);
    expect(commands).toEqual(['C2', 'C3', 'C4', 'C5', 'C6', 'C7']);
    expect(truncated).toBe(false);
    expect(Object.keys(initial)).toEqual(['type', 'logs', 'truncated', 'timestamp']);
  });

  it('sends nothing, not truncated, when the id is the newest log', async () => {
    const user = await signUp(server.url);
    const logs = await store(user, names('C', 3));
    expect(await resume(user, logs[2]!.id)).toMatchObject({ commands: [], truncated: false });
  });

  it('says truncated and sends every stored log when the id was trimmed by MAX_LOGS_PER_USER', async () => {
    const user = await signUp(server.url);
    const [first] = await store(user, ['OLD']);
    await store(user, names('N', 10)); // MAX_LOGS_PER_USER is 10: OLD is trimmed
    expect(await resume(user, first!.id)).toMatchObject({ commands: names('N', 10), truncated: true });
  });

  it('says truncated when the id was cleared, and sends what was stored since', async () => {
    const user = await signUp(server.url);
    const logs = await store(user, names('BEFORE', 3));
    expect((await api(server.url, 'DELETE', '/api/logs', { cookie: user.cookie })).status).toBe(200);
    await store(user, ['AFTER0', 'AFTER1']);
    expect(await resume(user, logs[2]!.id)).toMatchObject({ commands: ['AFTER0', 'AFTER1'], truncated: true });
  });

  it('says truncated for an unknown id', async () => {
    const user = await signUp(server.url);
    await store(user, ['A', 'B']);
    expect(await resume(user, randomUUID())).toMatchObject({ commands: ['A', 'B'], truncated: true });
    expect(await resume(user, 'not-even-a-uuid')).toMatchObject({ commands: ['A', 'B'], truncated: true });
  });

  it('answers since=0 (a client that has seen no log) with every stored log, truncated only when some were trimmed', async () => {
    const user = await signUp(server.url);
    expect(await resume(user, SINCE_THE_START)).toMatchObject({ commands: [], truncated: false });
    await store(user, names('S', 4));
    expect(await resume(user, SINCE_THE_START)).toMatchObject({ commands: names('S', 4), truncated: false });
    // After a clear the logs stored since are all there is: nothing was missed.
    expect((await api(server.url, 'DELETE', '/api/logs', { cookie: user.cookie })).status).toBe(200);
    await store(user, ['AFTER']);
    expect(await resume(user, SINCE_THE_START)).toMatchObject({ commands: ['AFTER'], truncated: false });
    // MAX_LOGS_PER_USER is 10: AFTER and one more are trimmed, which a client that saw none may have missed.
    await store(user, names('T', 11));
    expect(await resume(user, SINCE_THE_START)).toMatchObject({ commands: names('T', 11).slice(1), truncated: true });
  });

  it('says truncated for another user’s log id and never reveals that user’s logs', async () => {
    const [user, other] = await Promise.all([signUp(server.url), signUp(server.url)]);
    await store(user, ['MINE']);
    const [theirs] = await store(other, ['THEIRS0', 'THEIRS1']);
    const { commands, truncated, initial } = await resume(user, theirs!.id);
    expect(commands).toEqual(['MINE']);
    expect(truncated).toBe(true);
    expect(initial.logs.every((l) => l.userId === user.userId)).toBe(true);
  });

  it('refuses an empty or oversized since with 400 at the upgrade', async () => {
    const user = await signUp(server.url);
    for (const since of ['', 'x'.repeat(101)]) {
      const { status, body } = await refusedUpgrade(server.wsUrl, { cookie: user.cookie, query: `since=${since}` });
      expect(status).toBe(400);
      expect(body).toMatchObject({ code: 'INVALID_QUERY', error: 'since must be a log id' });
    }
  });

  it('continues a resumed socket with the live stream', async () => {
    const user = await signUp(server.url);
    const logs = await store(user, ['A', 'B']);
    const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query: `since=${logs[0]!.id}` });
    expect((await socket.next('initial-logs')).logs.map((l) => l.command)).toEqual(['B']);
    await store(user, ['C']);
    expect((await socket.next('log')).log.command).toBe('C');
    await socket.close();
  });
});

describe('resume while a producer is running', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ INITIAL_LOGS: '0', MAX_LOGS_PER_USER: '100000' });
  });
  afterAll(() => server.close());

  it('loses and doubles nothing across repeated reconnects with since = the last log received', async () => {
    const user = await signUp(server.url);
    // The first socket joins before anything is stored (INITIAL_LOGS is 0); the others resume.
    let socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    let sent = 0;
    let stop = false;
    // In-process producer: small batches back to back until the reader has reconnected enough times.
    const producer = (async () => {
      while (!stop && sent < 50_000) {
        const batch = Array.from({ length: 5 }, (_, i) => logInput({ command: `N${sent + i}` }));
        sent += batch.length;
        await server.node.app.logs.log(user.userId, batch);
      }
    })();

    const seen: string[] = [];
    let lastId: string | undefined;
    const collect = (socket: TestSocket) => {
      const initial = socket.all('initial-logs')[0]!;
      const logs = [...initial.logs, ...socket.all('log').map((m) => m.log)];
      seen.push(...logs.map((l) => l.command));
      lastId = logs.at(-1)?.id ?? lastId;
    };
    for (let round = 0; round < 10; round++) {
      // Leave after a few live logs; whatever arrives up to the close counts too.
      await socket.until('log', 10);
      await socket.close();
      collect(socket);
      socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query: `since=${lastId}` });
      expect((await socket.next('initial-logs')).truncated).toBe(false);
    }
    await socket.close();
    collect(socket);
    stop = true;
    await producer;

    const last = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query: `since=${lastId}` });
    const initial = await last.next('initial-logs');
    expect(initial.truncated).toBe(false);
    await last.roundTrip();
    await last.close();
    collect(last);

    expect(sent).toBeGreaterThan(100);
    expect(seen.length).toBe(sent);
    expect(seen).toEqual(Array.from({ length: sent }, (_, i) => `N${i}`));
  });
});

describe('GET /api/logs?since=<id>&limit=N', () => {
  let server: TestServer;
  let user: TestUser;
  let logs: LogEntry[];

  beforeAll(async () => {
    server = await startTestServer({ INITIAL_LOGS: '2', MAX_LOGS_PER_USER: '10' });
    user = await signUp(server.url);
    const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, ['A', 'B', 'C', 'D', 'E'].map((command) => entry({ command })));
    logs = res.body.logs;
  });
  afterAll(() => server.close());

  const get = (query: string, auth: Credentials = { cookie: user.cookie }) => api(server.url, 'GET', `/api/logs?${query}`, auth);
  const commands = (body: { logs: LogEntry[] }) => body.logs.map((l) => l.command);

  it('answers every log after the id, oldest first, with truncated false and hasMore false', async () => {
    const res = await get(`since=${logs[1]!.id}`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['logs', 'truncated', 'hasMore']);
    expect(commands(res.body)).toEqual(['C', 'D', 'E']);
    expect(res.body).toMatchObject({ truncated: false, hasMore: false });
  });

  it('pages with limit and hasMore until the end', async () => {
    const pages: string[][] = [];
    let since = logs[0]!.id;
    for (let i = 0; i < 5; i++) {
      const res = await get(`since=${since}&limit=2`);
      pages.push(commands(res.body));
      if (!res.body.hasMore) break;
      since = res.body.logs.at(-1).id;
    }
    expect(pages).toEqual([['B', 'C'], ['D', 'E']]);
  });

  it('says truncated for an unknown id and for another user’s id', async () => {
    const other = await signUp(server.url);
    const theirs = await api(server.url, 'POST', '/api/logs', { cookie: other.cookie }, entry({ command: 'THEIRS' }));
    for (const since of [randomUUID(), theirs.body.logs[0].id]) {
      const res = await get(`since=${since}`);
      expect(res.body.truncated).toBe(true);
      expect(commands(res.body)).toEqual(['A', 'B', 'C', 'D', 'E']);
    }
  });

  it('reads another user with the service token and ?userId=', async () => {
    const res = await get(`since=${logs[3]!.id}&userId=${user.userId}`, service);
    expect(res.body).toMatchObject({ truncated: false, hasMore: false });
    expect(commands(res.body)).toEqual(['E']);
  });

  it('has no truncated field without since', async () => {
    const res = await get('limit=5');
    expect(Object.keys(res.body)).toEqual(['logs', 'hasMore']);
  });

  it('answers an empty since or a limit over MAX_LOGS_PER_USER with 400', async () => {
    for (const query of ['since=', `since=${logs[0]!.id}&limit=11`, `since=${logs[0]!.id}&limit=0`]) {
      const res = await get(query);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('INVALID_QUERY');
    }
  });
});
