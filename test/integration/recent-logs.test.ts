import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/protocol/index.js';
import { api, signUp, type TestUser } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { initialLogsOf, postLogs, storedLogs } from '../helpers/user-logs.js';
import { TestSocket } from '../helpers/ws-client.js';

/**
 * While a user has a socket open, the node keeps the user's newest logs in memory (src/gateway/recent-logs.ts)
 * and answers the next sockets' initial-logs from them: whatever came live meanwhile, a socket must start
 * with exactly what the store holds, as GET /api/logs reads it.
 */
describe('initial-logs while other sockets of the user are open', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ INITIAL_LOGS: '5', MAX_LOGS_PER_USER: '8' });
  });
  afterAll(() => server.close());

  const post = (user: TestUser, commands: string[]) => postLogs(server, user, commands);
  const stored = (user: TestUser) => storedLogs(server, user);
  const initialOf = (user: TestUser, query?: string) => initialLogsOf(server, user, query);

  it('sends a new socket exactly the store\'s newest logs after live logs, batches, a clear and trimming', async () => {
    const user = await signUp(server.url);
    await post(user, ['A0', 'A1', 'A2']);
    const watcher = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    let seen = 0;
    const step = async (commands: string[] | 'clear') => {
      if (commands === 'clear') {
        expect((await api(server.url, 'DELETE', '/api/logs', { cookie: user.cookie })).status).toBe(200);
        await watcher.next('logs-cleared');
      } else {
        await post(user, commands);
        seen += commands.length;
        await watcher.until('log', seen);
      }
      expect((await initialOf(user)).logs).toEqual(await stored(user));
    };
    await step(['B0']);
    await step(['B1', 'B2', 'B3']);
    await step(['C0', 'C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8', 'C9']); // past INITIAL_LOGS and retention
    await step('clear');
    await step(['D0']);
    await step(['E0', 'E1', 'E2', 'E3', 'E4', 'E5']);
    const newest = await stored(user);
    expect(newest.map((l) => l.command)).toEqual(['E1', 'E2', 'E3', 'E4', 'E5']);
    // A resume from one of the newest gets every log after it, not truncated, as from the store.
    const resumed = await initialOf(user, `since=${newest[1]!.id}`);
    expect(resumed.truncated).toBe(false);
    expect(resumed.logs).toEqual(newest.slice(2));
    await watcher.close();
  });

  it('sends every socket of a burst of connects the same logs, each with its own timestamp, while nothing changes', async () => {
    const user = await signUp(server.url);
    await post(user, ['F0', 'F1', 'F2']);
    const watcher = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const newest = await stored(user);
    const before = Date.now();
    const together = await Promise.all(Array.from({ length: 6 }, (_, i) => initialOf(user, i % 2 === 0 ? undefined : 'channels=logs')));
    const oneByOne = [];
    for (let i = 0; i < 4; i++) oneByOne.push(await initialOf(user));
    for (const initial of [...together, ...oneByOne]) {
      expect(initial.logs).toEqual(newest);
      expect(initial).not.toHaveProperty('truncated');
      expect(Date.parse(initial.timestamp)).toBeGreaterThanOrEqual(before - 1);
    }
    // The logs that follow change what the next socket starts with.
    await post(user, ['F3']);
    await watcher.until('log', 1);
    expect((await initialOf(user)).logs).toEqual(await stored(user));
    await watcher.close();
  });

  it('answers resumes with no socket open (a restart\'s storm) as the store does, near the head or far behind', async () => {
    const user = await signUp(server.url);
    const all = await post(user, ['R0', 'R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7']); // INITIAL_LOGS 5: R0–R2 are older than the newest
    const sinces = [all[6]!.id, all[4]!.id, all[1]!.id, all[7]!.id, all[3]!.id];
    const sockets = await Promise.all(sinces.map((since) => TestSocket.open(server.wsUrl, { cookie: user.cookie, query: `since=${since}` })));
    const initials = await Promise.all(sockets.map((socket) => socket.next('initial-logs')));
    for (let i = 0; i < sinces.length; i++) {
      const after = all.slice(all.findIndex((l) => l.id === sinces[i]) + 1);
      expect(initials[i]!.truncated).toBe(false);
      expect(initials[i]!.logs).toEqual(after);
    }
    await Promise.all(sockets.map((socket) => socket.close()));
  });

  it('sends logs committed while sockets join once each, in order, none missed', async () => {
    const user = await signUp(server.url);
    const watcher = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const joining: Array<Promise<TestSocket>> = [];
    const posts: Array<Promise<LogEntry[]>> = [];
    for (let i = 0; i < 6; i++) {
      joining.push(TestSocket.ready(server.wsUrl, { cookie: user.cookie }));
      posts.push(post(user, [`P${i}`]));
    }
    const sockets = await Promise.all(joining);
    await Promise.all(posts);
    await watcher.until('log', 6);
    const all = (await stored(user)).map((l) => l.id);
    for (const socket of sockets) {
      const initial = socket.all('initial-logs')[0]!.logs.map((l) => l.id);
      // What a socket holds is a prefix of its initial-logs' position plus what came live after it.
      await socket.take((m) => m.type === 'log' && m.log.id === all.at(-1), 5000).catch(() => undefined);
      const live = socket.all('log').map((m) => m.log.id);
      const got = [...initial, ...live];
      expect(new Set(got).size).toBe(got.length);
      expect(got.slice(-Math.min(got.length, all.length))).toEqual(all.slice(-Math.min(got.length, all.length)));
      expect(got.at(-1)).toBe(all.at(-1));
      await socket.close();
    }
    await watcher.close();
  });
});
