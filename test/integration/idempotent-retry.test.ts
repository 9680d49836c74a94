import { afterEach, describe, expect, it } from 'vitest';
import { type Publisher, type PublisherEvents, createPublisher } from '../../src/publisher/index.js';
import { api, service, signUp, type TestUser } from '../helpers/http.js';
import { counterValue } from '../helpers/metrics.js';
import { INGEST_TOKEN, TEST_STORE, type TestServer, serversPerTest } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { TcpProxy } from '../multinode/tcp-proxy.js';

/**
 * The retry a lost answer causes: the server commits a batch, the connection is cut before its answer
 * reaches the publisher, the publisher sends the batch again under the same Idempotency-Key, and the
 * store holds each entry once. A TCP proxy between them holds the answers, then cuts the connection.
 */
describe('A publisher retry after an answer lost on the way back', () => {
  const start = serversPerTest();
  let proxy: TcpProxy | undefined;
  const publishers: Publisher[] = [];
  afterEach(async () => {
    for (const p of publishers.splice(0)) await p.close();
    await proxy?.close();
    proxy = undefined;
  });

  const backend = (server: TestServer) => ({ host: '127.0.0.1', port: server.node.port });
  const log = (user: TestUser, command: string) => ({ userId: user.userId, emailAccountId: 'acct-1', level: 'info' as const, command, data: { raw: `A1 ${command}` } });
  const stored = async (server: TestServer, user: TestUser) =>
    (await api(server.url, 'GET', `/api/logs?userId=${user.userId}&limit=1000`, service)).body.logs as Array<{ id: string; command: string }>;
  const replays = (server: TestServer) => counterValue(server.node.app.metrics.idempotentRepeats, { route: 'logs', answer: 'replayed' });

  /**
   * Publishes a batch through the proxy with answers held, waits until `committer` has stored it, then
   * cuts the connection (after `beforeCut`) and lets the publisher's retry through.
   */
  async function publishAcrossACut(committer: TestServer, user: TestUser, beforeCut: () => void = () => {}) {
    // flush() sends the batch; a linger this long never splits it (with 1 ms, a busy machine could take
    // more than 1 ms between two publish() calls and send the first entries alone, whose held answer then
    // keeps the rest from being sent: "2 of 4 stored").
    const publisher = createPublisher({ url: `http://127.0.0.1:${proxy!.port}`, token: INGEST_TOKEN, flushIntervalMs: 60_000, retry: { baseMs: 10, capMs: 50 } });
    publishers.push(publisher);
    const sent: Array<PublisherEvents['sent']> = [];
    const retries: Array<PublisherEvents['retry']> = [];
    publisher.on('sent', (s) => sent.push(s));
    publisher.on('retry', (r) => retries.push(r));
    const commands = ['LOGIN', 'SELECT', 'FETCH', 'LOGOUT'];
    proxy!.holdAnswers();
    for (const command of commands) publisher.publish(log(user, command));
    const flushed = publisher.flush();
    // Committed: the store has the batch while its answer waits in the proxy.
    // Seen now and then on a busy machine: no commit within 5 s. The wait is longer, and its failure says what was stored.
    let stored = -1;
    const committed = async () => (stored = (await committer.node.app.store.readLogs(user.userId, { from: 'tail', limit: 10 })).logs.length) === commands.length;
    await waitFor(committed, 'the batch to commit', 15_000).catch((error: Error) => {
      throw new Error(`${error.message} (${stored} of ${commands.length} stored; publisher retries: ${retries.length})`);
    });
    expect(sent).toEqual([]);
    beforeCut();
    proxy!.cut();
    proxy!.restore();
    await flushed;
    return { commands, sent, retries };
  }

  it('stores each entry once: the retry gets the first answer', async () => {
    const server = await start();
    proxy = await TcpProxy.start([backend(server)]);
    const user = await signUp(server.url);
    const { commands, sent, retries } = await publishAcrossACut(server, user);

    expect(retries).toHaveLength(1);
    expect(retries[0]!.status).toBeUndefined(); // a network error, not an answer
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ count: commands.length, attempts: 2, status: 201 });
    const logs = await stored(server, user);
    expect(logs.map((l) => l.command)).toEqual(commands);
    // The answer the publisher finally read is the first attempt's: the stored entries' ids.
    expect((JSON.parse(sent[0]!.body) as { logs: Array<{ id: string }> }).logs.map((l) => l.id)).toEqual(logs.map((l) => l.id));
    expect(await replays(server)).toBe(1);
  });

  // Two nodes on one PostgreSQL database: the key lives in the store, not in the node that took the batch.
  it.runIf(TEST_STORE === 'postgres')('stores each entry once when the retry lands on another node', async () => {
    const [first, second] = [await start(), await start()];
    proxy = await TcpProxy.start([backend(first)]);
    const user = await signUp(first.url);
    // The retry's new connection can only reach the second node.
    const { commands, sent } = await publishAcrossACut(first, user, () => proxy!.setBackends([backend(second)]));

    expect(sent[0]).toMatchObject({ count: commands.length, attempts: 2, status: 201 });
    const logs = await stored(second, user);
    expect(logs.map((l) => l.command)).toEqual(commands);
    expect((JSON.parse(sent[0]!.body) as { logs: Array<{ id: string }> }).logs.map((l) => l.id)).toEqual(logs.map((l) => l.id));
    expect([await replays(first), await replays(second)]).toEqual([0, 1]);
  });
});
