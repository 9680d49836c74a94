import { describe, expect, it } from 'vitest';
import { signUp } from '../helpers/http.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, serversPerTest } from '../helpers/server.js';
import { initialLogsOf, postLogs, storedLogs } from '../helpers/user-logs.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A user's newest logs outlive the user's last socket on the node for RECENT_LOGS_LINGER_MS (with its bus
 * subscription, src/gateway/idle-users.ts): a reconnect then starts from memory, and must start exactly as
 * from the store, with what came while no socket was open. `livetail_join_backlogs_total` says where each
 * join's initial-logs came from.
 */
describe("a user's newest logs after its last socket closed", () => {
  const start = serversPerTest();

  const joins = async (server: TestServer) => ({
    memory: await counterValue(server.node.app.metrics.joinBacklogs, { from: 'memory' }),
    store: await counterValue(server.node.app.metrics.joinBacklogs, { from: 'store' }),
  });

  it('answers a reconnect from memory with every log that came while no socket was open, once and in order', async () => {
    const server = await start({ INITIAL_LOGS: '5', MAX_LOGS_PER_USER: '8' });
    const user = await signUp(server.url);
    const before = await postLogs(server, user, ['A0', 'A1']);
    expect((await initialLogsOf(server, user)).logs).toEqual(before); // the first join reads the store
    await waitFor(() => server.node.app.hub.idleUserCount() === 1, 'the user to be kept idle');
    expect(server.node.app.hub.socketCount(user.userId)).toBe(0);

    const meanwhile = await postLogs(server, user, ['B0', 'B1', 'B2']);
    const counted = await joins(server);
    const resumed = await initialLogsOf(server, user, `since=${before[1]!.id}`);
    expect(resumed.truncated).toBe(false);
    expect(resumed.logs).toEqual(meanwhile);
    expect((await initialLogsOf(server, user)).logs).toEqual(await storedLogs(server, user));
    expect(await joins(server)).toEqual({ memory: counted.memory + 2, store: counted.store });
  });

  it('reads the store again once the linger is over, and at once with RECENT_LOGS_LINGER_MS=0', async () => {
    for (const linger of ['300', '0']) {
      const server = await start({ INITIAL_LOGS: '5', RECENT_LOGS_LINGER_MS: linger });
      const user = await signUp(server.url);
      await postLogs(server, user, ['A0']);
      await initialLogsOf(server, user);
      if (linger !== '0') await waitFor(() => server.node.app.hub.idleUserCount() === 1, 'the user to be kept idle');
      await waitFor(() => server.node.app.hub.idleUserCount() === 0, 'the linger to end', 5000);
      await postLogs(server, user, ['B0']);
      const counted = await joins(server);
      expect((await initialLogsOf(server, user)).logs).toEqual(await storedLogs(server, user));
      expect(await joins(server)).toEqual({ memory: counted.memory, store: counted.store + 1 });
    }
  });
});
