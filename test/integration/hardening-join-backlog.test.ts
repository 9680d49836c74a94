import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/gateway/connection.js';
import { SINCE_THE_START } from '../../src/protocol/constants.js';
import type { ServerMessageOf } from '../../src/protocol/messages.js';
import { collectGarbage } from '../helpers/gc.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { type SdkRecorder, recordedClient, recordingWebSocket } from '../helpers/sdk-client.js';
import { type TestServer, serversPerTest, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

const MiB = 1024 * 1024;
const MAX_BUFFERED_BYTES = 4 * MiB; // the default, deliberately not overridden

/**
 * A log entry of about `bytes` bytes stored, up to ~570 KB within the schema's limits (raw and response
 * 256 Ki characters, error 64 Ki); the sanitizer leaves NOOP lines alone.
 */
function bigLog(command: string, bytes: number) {
  const part = Math.floor(bytes * 0.45);
  return logInput({ command, data: { raw: `A1 NOOP ${'r'.repeat(part)}`, response: `A1 OK ${'s'.repeat(part)}`, error: 'e'.repeat(bytes - 2 * part) } });
}

const serialized = (message: unknown) => Buffer.byteLength(JSON.stringify(message));

describe('join backlog within MAX_BUFFERED_BYTES: sockets that never read', () => {
  const LOGS = 100;
  const LOG_BYTES = 560 * 1024; // near the largest entry the schema allows (~650 KB)
  const JOBS = 50;
  const JOB_BYTES = 400 * 1024;
  const PLAIN_SOCKETS = 8;
  const RESUMING_SOCKETS = 3;
  /**
   * The stated bounds, for the whole process (server and test clients), after a full garbage collection
   * once every socket has been sent its backlog: each socket holds at most MAX_BUFFERED_BYTES unsent,
   * plus a fixed allowance. For what JavaScript holds (V8 heap + external buffers) 32 MiB; for the
   * resident set 96 MiB, the coarser measure (the allocator keeps freed pages of the 4 MiB buffers; 5 to
   * 55 MiB of growth were measured in all). Before the bound the same sockets held their user's whole
   * backlog, about 75 MiB each: RSS grew by 885 MiB.
   */
  const SOCKETS = PLAIN_SOCKETS + RESUMING_SOCKETS;
  const HELD_GROWTH_BOUND = SOCKETS * MAX_BUFFERED_BYTES + 32 * MiB;
  const RSS_GROWTH_BOUND = SOCKETS * MAX_BUFFERED_BYTES + 96 * MiB;

  let server: TestServer;
  let heavy: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [heavy, bob] = await Promise.all([signUp(server.url), signUp(server.url)]);
    const { logs, jobs } = server.node.app;
    for (let i = 0; i < LOGS; i += 10) {
      await logs.log(heavy.userId, Array.from({ length: 10 }, (_, k) => bigLog(`BIG${i + k}`, LOG_BYTES)));
    }
    for (let i = 0; i < JOBS; i++) await jobs.publish({ userId: heavy.userId, jobId: `job-${i}`, status: 'completed', blob: 'j'.repeat(JOB_BYTES) });
  }, 120_000);
  afterAll(() => server.close());

  it(`${PLAIN_SOCKETS} sockets with the newest logs and ${RESUMING_SOCKETS} with ?since=<unknown id> hold at most MAX_BUFFERED_BYTES each; RSS stays bounded; another user's logs arrive within 1 s`, async () => {
    const watcher = await TestSocket.ready(server.wsUrl, { cookie: bob.cookie });
    const arrivedAt = new Map<string, number>();
    watcher.ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      if (message.type === 'log') arrivedAt.set(message.log.command, performance.now());
    });
    // Bob's logs flow all along, one every 20 ms: commit to arrival is what a busy gateway would slow down.
    const committedAt = new Map<string, number>();
    let bobLogs = 0;
    let flowing = true;
    const bobFlow = (async () => {
      while (flowing) {
        const command = `BOB${bobLogs++}`;
        await server.node.app.logs.log(bob.userId, logInput({ command }));
        committedAt.set(command, performance.now());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const held = () => {
      const { heapUsed, external } = process.memoryUsage();
      return heapUsed + external;
    };
    collectGarbage();
    const rssAtStart = process.memoryUsage().rss;
    const heldAtStart = held();
    let rssPeak = rssAtStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 5);

    // Every socket at once, and none reads: paused as soon as it is open, before its backlog comes.
    const open = async (query?: string) => {
      const socket = await TestSocket.open(server.wsUrl, { cookie: heavy.cookie, ...(query ? { query } : {}) });
      socket.ws.pause();
      return socket;
    };
    const sockets = await Promise.all([
      ...Array.from({ length: PLAIN_SOCKETS }, () => open()),
      ...Array.from({ length: RESUMING_SOCKETS }, () => open(`since=${randomUUID()}`)),
    ]);
    const heavyConnections = (): Connection[] => [...server.node.app.hub.connections()].filter((c) => c.userId === heavy.userId);
    await waitFor(() => heavyConnections().length === SOCKETS && heavyConnections().every((c) => c.cursor.phase === 'live'), 'every backlog written', 60_000);
    const buffered = heavyConnections().map((c) => c.ws.bufferedAmount);
    const bobLogsAtJoin = bobLogs;
    await waitFor(() => bobLogs >= bobLogsAtJoin + 5, "bob's logs after the joins", 10_000); // and after the joins
    flowing = false;
    await bobFlow;
    clearInterval(sampler);
    collectGarbage();
    const rssRetained = process.memoryUsage().rss;
    const heldRetained = held();

    await watcher.until('log', bobLogs, 10_000);
    const latencies = [...committedAt].map(([command, at]) => arrivedAt.get(command)! - at);
    const mib = (bytes: number) => (bytes / MiB).toFixed(1);
    console.info(
      `join backlog: ${SOCKETS} non-reading sockets; unsent per socket max ${mib(Math.max(...buffered))} MiB; ` +
        `after GC: heap+external +${mib(heldRetained - heldAtStart)} MiB (bound ${mib(HELD_GROWTH_BOUND)}), RSS +${mib(rssRetained - rssAtStart)} MiB (bound ${mib(RSS_GROWTH_BOUND)}); ` +
        `RSS peak with garbage +${mib(rssPeak - rssAtStart)} MiB (from ${mib(rssAtStart)}); ` +
        `bob's ${latencies.length} logs: max ${Math.max(...latencies).toFixed(1)} ms`,
    );
    // What the server holds for each socket (ws's buffer; the kernel's socket buffers hold the rest).
    for (const bytes of buffered) expect(bytes).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
    expect(heldRetained - heldAtStart).toBeLessThan(HELD_GROWTH_BOUND);
    expect(rssRetained - rssAtStart).toBeLessThan(RSS_GROWTH_BOUND);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    expect(latencies.length).toBeGreaterThan(3);

    // Read now, each got a backlog that fits: the newest logs (and, resuming, truncated: true), the most recent jobs.
    for (const socket of sockets) socket.ws.resume();
    for (const [i, socket] of sockets.entries()) {
      const logs = await socket.next('initial-logs', 30_000);
      const jobs = await socket.next('initial-jobs', 30_000);
      expect(serialized(logs) + serialized(jobs)).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
      expect(serialized(jobs)).toBeLessThanOrEqual(MAX_BUFFERED_BYTES / 2);
      expect(logs.logs.length).toBeGreaterThan(0);
      expect(logs.logs.at(-1)!.command).toBe(`BIG${LOGS - 1}`);
      expect(jobs.jobs[0]!.jobId).toBe(`job-${JOBS - 1}`);
      if (i < PLAIN_SOCKETS) expect('truncated' in logs).toBe(false);
      else expect(logs.truncated).toBe(true);
    }
    await Promise.all([...sockets, watcher].map((s) => s.close()));
  }, 120_000);
});

describe('join backlog within MAX_BUFFERED_BYTES: what a resuming client gets', () => {
  const BUDGET = 256 * 1024;
  const LOG_BYTES = 32 * 1024;
  const startOwn = serversPerTest();
  const sdks: SdkRecorder[] = [];
  afterEach(async () => {
    for (const sdk of sdks.splice(0)) await sdk.client.close();
  });
  /** A node of its own (this budget, INITIAL_LOGS 0) and a recorded SDK client of a new user, joined. */
  const sdkOnOwnNode = async () => {
    const node = await startOwn({ MAX_BUFFERED_BYTES: String(BUDGET), INITIAL_LOGS: '0' });
    const user = await signUp(node.url);
    const recording = recordingWebSocket();
    const sdk = recordedClient({ url: node.wsUrl, headers: { cookie: user.cookie }, WebSocket: recording.WebSocket });
    sdks.push(sdk);
    await sdk.until(() => sdk.all('initial-logs').length === 1, 'the first (empty) initial-logs');
    return { node, user, sdk, ...recording };
  };
  let server: TestServer;
  let user: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ MAX_BUFFERED_BYTES: String(BUDGET) });
    user = await signUp(server.url);
  });
  afterAll(() => server.close());

  const resume = async (since: string): Promise<ServerMessageOf<'initial-logs'>> => {
    const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query: `since=${since}&channels=logs` });
    const initial = await socket.next('initial-logs');
    await socket.close();
    return initial;
  };

  it('after more than fits: the newest logs that fit, truncated; from the newest of them on: the rest, not truncated (no retry loop)', async () => {
    const stored = await server.node.app.logs.log(user.userId, Array.from({ length: 20 }, (_, i) => bigLog(`R${i}`, LOG_BYTES)));
    const first = await resume(stored[0]!.id);
    expect(first.truncated).toBe(true);
    expect(serialized(first)).toBeLessThanOrEqual(BUDGET);
    const fits = first.logs.length;
    expect(fits).toBeGreaterThan(3);
    expect(fits).toBeLessThan(19);
    expect(first.logs.map((l) => l.command)).toEqual(stored.slice(-fits).map((l) => l.command));

    // A client that kept the oldest of that page (or any id in it) resumes exactly.
    const again = await resume(first.logs[0]!.id);
    expect(again).toMatchObject({ truncated: false });
    expect(again.logs.map((l) => l.command)).toEqual(stored.slice(-fits + 1).map((l) => l.command));
    expect(await resume(stored.at(-1)!.id)).toMatchObject({ logs: [], truncated: false });
  });

  it('since=0 (a client that has seen no log): every stored log when they fit; the newest that fit, truncated, when not', async () => {
    const other = await signUp(server.url);
    await server.node.app.logs.log(other.userId, Array.from({ length: 3 }, (_, i) => bigLog(`Z${i}`, LOG_BYTES)));
    const socket = async () => {
      const opened = await TestSocket.open(server.wsUrl, { cookie: other.cookie, query: `since=${SINCE_THE_START}&channels=logs` });
      const initial = await opened.next('initial-logs');
      await opened.close();
      return initial;
    };
    expect(await socket()).toMatchObject({ truncated: false, logs: [{ command: 'Z0' }, { command: 'Z1' }, { command: 'Z2' }] });
    await server.node.app.logs.log(other.userId, Array.from({ length: 20 }, (_, i) => bigLog(`Z${i + 3}`, LOG_BYTES)));
    const cut = await socket();
    expect(cut.truncated).toBe(true);
    expect(cut.logs.at(-1)!.command).toBe('Z22');
    expect(serialized(cut)).toBeLessThanOrEqual(BUDGET);
  });

  it('without since: the newest INITIAL_LOGS that fit, no truncated field', async () => {
    const other = await signUp(server.url);
    await server.node.app.logs.log(other.userId, Array.from({ length: 30 }, (_, i) => bigLog(`N${i}`, LOG_BYTES)));
    const socket = await TestSocket.open(server.wsUrl, { cookie: other.cookie });
    const initial = await socket.next('initial-logs');
    expect('truncated' in initial).toBe(false);
    expect(serialized(initial) + serialized(await socket.next('initial-jobs'))).toBeLessThanOrEqual(BUDGET);
    expect(initial.logs.at(-1)!.command).toBe('N29');
    expect(initial.logs.length).toBeLessThan(30);
    await socket.close();
  });

  it('the SDK that joined with no log and was away while more than one backlog was stored gets a reset, not a silent cut', async () => {
    const { node, user: sdkUser, sdk, sockets, gate } = await sdkOnOwnNode();
    gate.open = false; // away until the logs are stored
    for (const conn of node.node.app.hub.connections()) conn.ws.terminate();
    await sdk.nth('reconnecting', 2);
    await node.node.app.logs.log(sdkUser.userId, Array.from({ length: 20 }, (_, i) => bigLog(`A${i}`, LOG_BYTES)));
    gate.open = true;
    await sdk.until(() => sdk.all('reset').length === 1 && sdk.logs.at(-1)?.command === 'A19', 'the reset and the newest logs', 10_000);
    expect(sdk.all('initial-logs').at(-1)!.truncated).toBe(true);
    expect(sdk.logs.length).toBeLessThan(20);
    expect(sockets.length).toBeGreaterThanOrEqual(3);
  });

  it('the SDK, cut while it could not read, resumes with since and gets a reset and the newest logs, then goes on live: it does not loop', async () => {
    const { node, user: sdkUser, sdk, sockets, closeCodes } = await sdkOnOwnNode();
    const [conn] = node.node.app.hub.connections();
    sockets[0]!.pause();
    let sent = 0;
    for (let i = 0; i < 1000 && !conn!.closed; i++) await node.node.app.logs.log(sdkUser.userId, bigLog(`S${sent++}`, LOG_BYTES));
    expect(conn!.closeCode).toBe(1013);
    // It does not read for longer than the close grace: the server cuts it, and what it had not read is
    // more than one backlog can carry.
    await waitFor(() => node.node.app.hub.socketCount(sdkUser.userId) === 0, 'the cut', 5000);
    for (let i = 0; i < 20; i++) await node.node.app.logs.log(sdkUser.userId, bigLog(`S${sent++}`, LOG_BYTES));
    sockets[0]!.resume();
    await sdk.until(() => sdk.all('reset').length === 1 && sdk.client.state === 'open', 'the reset after the resume', 10_000);
    await node.node.app.logs.log(sdkUser.userId, logInput({ command: 'LIVE' }));
    await sdk.until(() => sdk.logs.at(-1)?.command === 'LIVE', 'the live log after the reset', 10_000);
    // One reconnect only: the resume fitted, so the client stayed.
    expect(closeCodes.length).toBe(1);
    expect(sockets).toHaveLength(2);
    expect(sdk.all('initial-logs')[1]!.truncated).toBe(true);
    expect(sdk.all('initial-logs')[1]!.logs.at(-1)!.command).toBe(`S${sent - 1}`);
  });
});
