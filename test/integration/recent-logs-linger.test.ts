import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/protocol/index.js';
import { api, entry, signUp, type TestUser } from '../helpers/http.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, serversPerTest } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

/**
 * A user's newest logs outlive the user's last socket on the node for RECENT_LOGS_LINGER_MS (with its bus
 * subscription, src/gateway/idle-users.ts): a reconnect then starts from memory, and must start exactly as
 * from the store, with what came while no socket was open. `livetail_join_backlogs_total` says where each
 * join's initial-logs came from.
 */
describe("a user's newest logs after its last socket closed", () => {
  const start = serversPerTest();

  const post = async (server: TestServer, user: TestUser, commands: string[]): Promise<LogEntry[]> => {
    const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, commands.map((command) => entry({ command })));
    expect(res.status).toBe(201);
    return res.body.logs;
  };
  const stored = async (server: TestServer, user: TestUser): Promise<LogEntry[]> => (await api(server.url, 'GET', '/api/logs', { cookie: user.cookie })).body.logs;
  const joins = async (server: TestServer) => ({
    memory: await counterValue(server.node.app.metrics.joinBacklogs, { from: 'memory' }),
    store: await counterValue(server.node.app.metrics.joinBacklogs, { from: 'store' }),
  });
  const initialOf = async (server: TestServer, user: TestUser, query?: string) => {
    const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query });
    const initial = await socket.next('initial-logs');
    await socket.close();
    return initial;
  };

  it('answers a reconnect from memory with every log that came while no socket was open, once and in order', async () => {
    const server = await start({ INITIAL_LOGS: '5', MAX_LOGS_PER_USER: '8' });
    const user = await signUp(server.url);
    const before = await post(server, user, ['A0', 'A1']);
    expect((await initialOf(server, user)).logs).toEqual(before); // the first join reads the store
    await waitFor(() => server.node.app.hub.idleUserCount() === 1, 'the user to be kept idle');
    expect(server.node.app.hub.socketCount(user.userId)).toBe(0);

    const meanwhile = await post(server, user, ['B0', 'B1', 'B2']);
    const counted = await joins(server);
    const resumed = await initialOf(server, user, `since=${before[1]!.id}`);
    expect(resumed.truncated).toBe(false);
    expect(resumed.logs).toEqual(meanwhile);
    expect((await initialOf(server, user)).logs).toEqual(await stored(server, user));
    expect(await joins(server)).toEqual({ memory: counted.memory + 2, store: counted.store });
  });

  it('reads the store again once the linger is over, and at once with RECENT_LOGS_LINGER_MS=0', async () => {
    for (const linger of ['300', '0']) {
      const server = await start({ INITIAL_LOGS: '5', RECENT_LOGS_LINGER_MS: linger });
      const user = await signUp(server.url);
      await post(server, user, ['A0']);
      await initialOf(server, user);
      if (linger !== '0') await waitFor(() => server.node.app.hub.idleUserCount() === 1, 'the user to be kept idle');
      await waitFor(() => server.node.app.hub.idleUserCount() === 0, 'the linger to end', 5000);
      await post(server, user, ['B0']);
      const counted = await joins(server);
      expect((await initialOf(server, user)).logs).toEqual(await stored(server, user));
      expect(await joins(server)).toEqual({ memory: counted.memory, store: counted.store + 1 });
    }
  });
});
