import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, service, signIn, signOut, signUp, type TestUser } from '../helpers/http.js';
import { type SdkRecorder, recordedClient } from '../helpers/sdk-client.js';
import { OwnRedis, serviceAvailable } from '../helpers/services.js';
import { TestSocket } from '../helpers/ws-client.js';
import { Cluster } from './cluster.js';

const available = (await serviceAvailable('postgres')) && (await serviceAvailable('redis'));

describe.skipIf(!available)('three nodes sharing PostgreSQL and Redis, clients behind a round-robin proxy', () => {
  let redis: OwnRedis;
  let cluster: Cluster;
  const clients: SdkRecorder[] = [];

  beforeAll(async () => {
    // A redis-server of our own: one test kills it.
    redis = await OwnRedis.start();
    cluster = await Cluster.start(redis.url);
  });
  afterAll(async () => {
    for (const client of clients) await client.client.close();
    await cluster?.stop();
    await redis?.stop();
  });

  /** SDK clients connected through the proxy; consecutive connects land on consecutive nodes. */
  const connectClients = async (user: TestUser, count: number) => {
    const mine = Array.from({ length: count }, () => recordedClient({ url: cluster.proxyWsUrl, headers: { cookie: user.cookie } }));
    clients.push(...mine);
    for (const client of mine) await client.until(() => client.all('initial-logs').length > 0, 'initial-logs', 15_000);
    return mine;
  };

  /** Posts `count` logs for `user` to node 0 in small batches, calling `during` after the batch at `at`. */
  const produce = async (user: TestUser, count: number, at: number, during: () => Promise<void>) => {
    const commands: string[] = [];
    for (let sent = 0; sent < count; sent += 5) {
      const batch = Array.from({ length: 5 }, (_, i) => `S${sent + i}`);
      const res = await api(cluster.node(0).url, 'POST', '/api/logs', service, batch.map((command) => entry({ userId: user.userId, command })));
      expect(res.status).toBe(201);
      commands.push(...batch);
      if (sent === at) await during();
    }
    return commands;
  };

  const everyLogOnce = async (mine: SdkRecorder[], expected: string[]) => {
    for (const client of mine) {
      await client.until(() => client.logs.length >= expected.length, `${expected.length} logs (has ${client.logs.length})`, 20_000);
      expect(client.commands()).toEqual(expected);
    }
  };

  it('fans out across nodes: a log from node 1 reaches nodes 2 and 3, a clear on node 3 reaches all', async () => {
    const user = await signUp(cluster.node(0).url);
    const sockets = await Promise.all([0, 1, 2].map((i) => TestSocket.ready(cluster.node(i).wsUrl, { cookie: user.cookie })));
    const res = await api(cluster.node(0).url, 'POST', '/api/logs', { cookie: user.cookie }, entry({ command: 'FROM-NODE-1' }));
    expect(res.status).toBe(201);
    for (const socket of sockets) expect((await socket.next('log')).log).toEqual(res.body.logs[0]);

    sockets[2]!.send({ type: 'clear-logs' });
    await Promise.all(sockets.map((socket) => socket.next('logs-cleared')));
    const fresh = await TestSocket.open(cluster.node(1).wsUrl, { cookie: user.cookie });
    expect((await fresh.next('initial-logs')).logs).toEqual([]);
    for (const socket of [...sockets, fresh]) await socket.close();
  });

  it("closes a session's sockets on node 2 with 4401 when it signs out on node 1, and only that session's", async () => {
    const user = await signUp(cluster.node(0).url);
    const other = await signIn(cluster.node(0).url, user);
    const leaving = await TestSocket.ready(cluster.node(1).wsUrl, { cookie: user.cookie });
    const staying = await TestSocket.ready(cluster.node(1).wsUrl, { cookie: other });
    expect((await signOut(cluster.node(0).url, user.cookie)).status).toBe(200);
    expect((await leaving.closed).code).toBe(4401);
    await staying.roundTrip();
    await staying.close();
  });

  it('loses nothing when a node is killed with -9 while clients stream: they reconnect through the proxy and resume', async () => {
    const user = await signUp(cluster.node(0).url);
    const mine = await connectClients(user, 6); // two per node
    const expected = await produce(user, 300, 100, async () => {
      await cluster.killNode(2);
    });
    await everyLogOnce(mine, expected);
    const reconnected = mine.filter((c) => c.states.some((s) => s.state === 'reconnecting'));
    expect(reconnected.length).toBe(2);
    for (const client of mine) expect(client.client.state).toBe('open');
    await cluster.startNode(2);
  });

  it('loses nothing when Redis is killed and restarted mid-stream', async () => {
    const user = await signUp(cluster.node(0).url);
    const mine = await connectClients(user, 3);
    const expected = await produce(user, 300, 100, async () => {
      await redis.kill();
      // Commits go on while the bus is down: these logs can only come back through the store.
      for (let i = 0; i < 5; i++) {
        const batch = Array.from({ length: 5 }, (_, j) => entry({ userId: user.userId, command: `DOWN${i * 5 + j}` }));
        expect((await api(cluster.node(0).url, 'POST', '/api/logs', service, batch)).status).toBe(201);
      }
      // Job events carry no seq: after the resync the nodes send the stored job state again.
      const job = { userId: user.userId, jobId: 'during-outage', status: 'completed' };
      expect((await api(cluster.node(0).url, 'POST', '/api/jobs/events', service, job)).status).toBe(201);
      await redis.restart();
    });
    const all = [...expected.slice(0, 105), ...Array.from({ length: 25 }, (_, i) => `DOWN${i}`), ...expected.slice(105)];
    await everyLogOnce(mine, all);
    // The sockets stayed open: the nodes caught them up after the bus came back.
    for (const client of mine) expect(client.states.some((s) => s.state === 'reconnecting')).toBe(false);
    for (const client of mine) {
      await client.until(() => client.all('initial-jobs').some((jobs) => jobs.some((j) => j.jobId === 'during-outage')), 'the job state again', 10_000);
    }
  });
});
