import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobEventData } from '../../src/protocol/log-entry.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { TEST_REDIS_URL, type TestDatabase, createTestDatabase, deleteRedisKeys, randomRedisPrefix, serviceAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

// Several nodes need one database: PostgreSQL, and Redis for the bus and BullMQ.
const available = (await serviceAvailable('redis')) && (await serviceAvailable('postgres'));
const connection = { host: new URL(TEST_REDIS_URL).hostname, port: Number(new URL(TEST_REDIS_URL).port || 6379) };

type Step = Pick<JobEventData, 'status'> & Record<string, unknown>;

describe.skipIf(!available)('BullMQ job events (BULLMQ_QUEUES) across three nodes', () => {
  const bullmqPrefix = `bull-test-${randomBytes(4).toString('hex')}`;
  const queueName = 'emails';
  let database: TestDatabase;
  let nodes: TestServer[];
  let queue: Queue;
  let worker: Worker;
  let alice: TestUser;

  const env = () => ({
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: randomPrefix,
    BULLMQ_QUEUES: `${queueName},other`,
    BULLMQ_PREFIX: bullmqPrefix,
  });
  const randomPrefix = randomRedisPrefix();

  beforeAll(async () => {
    database = await createTestDatabase();
    nodes = [];
    for (let i = 0; i < 3; i++) nodes.push(await startTestServer(env()));
    alice = await signUp(nodes[0]!.url);
    queue = new Queue(queueName, { connection, prefix: bullmqPrefix });
    // A real worker: reports progress, completes with a result, or fails, as the job's data says.
    worker = new Worker(
      queueName,
      async (job) => {
        if (job.data.fail) throw new Error(job.data.fail);
        await job.updateProgress(50);
        await job.updateProgress({ pct: 100, step: 'sent' });
        return { delivered: job.data.to };
      },
      { connection, prefix: bullmqPrefix },
    );
  });
  afterAll(async () => {
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    for (const node of nodes ?? []) await node.close();
    await database?.drop();
    await deleteRedisKeys(randomPrefix);
    await deleteRedisKeys(`${bullmqPrefix}:`);
  });

  /** The job events a socket received for one job, without the fields that vary. */
  const stepsOf = (socket: TestSocket, jobId: string): Step[] =>
    socket
      .all('job-event')
      .filter((m) => m.data.jobId === jobId)
      .map(({ data }) => {
        const { timestamp, userId, jobId: _id, queue: q, ...rest } = data as JobEventData & { timestamp: string; queue: string };
        expect(userId).toBe(alice.userId);
        expect(q).toBe(queueName);
        expect(new Date(timestamp).toISOString()).toBe(timestamp);
        return rest as Step;
      });
  const waitForJobEvent = (socket: TestSocket, jobId: string, status: string, queueOf = queueName) =>
    socket.take(
      (m) => m.type === 'job-event' && m.data.jobId === jobId && m.data.status === status && m.data.queue === queueOf,
      15_000,
      `${status} of ${jobId}`,
    );

  it('sends each socket on every node each event of a job exactly once, in BullMQ order, and keeps job state', async () => {
    const sockets = await Promise.all(nodes.map((node) => TestSocket.ready(node.wsUrl, { cookie: alice.cookie, query: 'channels=jobs' })));
    // Jobs removed as soon as they finish: the owner must come from what was learned at their first event.
    await worker.pause();
    const ok = await queue.add('welcome', { userId: alice.userId, to: 'a@example.com' }, { removeOnComplete: true });
    const bad = await queue.add('welcome', { userId: alice.userId, fail: 'mailbox full' }, { removeOnFail: true });
    const anonymous = await queue.add('cleanup', { to: 'nobody' });
    await Promise.all([waitForJobEvent(sockets[0]!, ok.id!, 'waiting'), waitForJobEvent(sockets[0]!, bad.id!, 'waiting')]);
    worker.resume();
    const later = await queue.add('later', { userId: alice.userId }, { delay: 60_000 });
    await waitForJobEvent(sockets[0]!, later.id!, 'delayed');
    await later.remove();
    // Handled after the others by the same leader from the same stream: when it arrives, so has all before it.
    const last = await queue.add('marker', { userId: alice.userId, to: 'm@example.com' });
    await Promise.all(sockets.map((socket) => waitForJobEvent(socket, last.id!, 'completed')));
    await Promise.all(sockets.map((socket) => socket.roundTrip()));

    for (const socket of sockets) {
      expect(stepsOf(socket, ok.id!)).toEqual([
        { name: 'welcome', status: 'waiting', attemptsMade: 0 },
        { name: 'welcome', status: 'active', attemptsMade: 0 },
        { name: 'welcome', status: 'progress', progress: 50, attemptsMade: 0 },
        { name: 'welcome', status: 'progress', progress: { pct: 100, step: 'sent' }, attemptsMade: 0 },
        // The job was removed on completion: owner and name were remembered from its first event.
        { name: 'welcome', status: 'completed', result: { delivered: 'a@example.com' }, attemptsMade: 1 },
      ]);
      expect(stepsOf(socket, bad.id!)).toEqual([
        { name: 'welcome', status: 'waiting', attemptsMade: 0 },
        { name: 'welcome', status: 'active', attemptsMade: 0 },
        { name: 'welcome', status: 'failed', failedReason: 'mailbox full', attemptsMade: 1 },
      ]);
      expect(stepsOf(socket, later.id!)).toEqual([
        { name: 'later', status: 'delayed', delay: expect.any(Number), attemptsMade: 0 },
        { name: 'later', status: 'removed', attemptsMade: 0 },
      ]);
      expect(socket.all('job-event').filter((m) => m.data.jobId === anonymous.id)).toEqual([]);
    }

    // The job state behind initial-jobs followed the events, on every node.
    const fresh = await TestSocket.open(nodes[2]!.wsUrl, { cookie: alice.cookie, query: 'channels=jobs' });
    const jobs = (await fresh.next('initial-jobs')).jobs;
    // Most recently updated first: the marker finished last; the others' order depends on the worker.
    expect(jobs[0]).toMatchObject({ jobId: last.id, status: 'completed' });
    expect(new Map(jobs.map((j) => [j.jobId, j.status]))).toEqual(
      new Map([
        [last.id, 'completed'],
        [later.id, 'removed'],
        [bad.id, 'failed'],
        [ok.id, 'completed'],
      ]),
    );
    for (const socket of [...sockets, fresh]) await socket.close();

    // Exactly one node read the queues, and it counted the job without a userId.
    const ignored = await Promise.all(nodes.map((node) => node.node.app.metrics.jobEventsIgnored.get()));
    const counts = ignored.map((m) => m.values.find((v) => v.labels.reason === 'no-user-id')?.value ?? 0);
    expect(counts.filter((n) => n > 0)).toHaveLength(1);
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4); // waiting, active, progress…, completed
  });

  it('reports a job whose worker lost its lock as stalled, then its second run, in BullMQ order', async () => {
    const socket = await TestSocket.ready(nodes[1]!.wsUrl, { cookie: alice.cookie, query: 'channels=jobs' });
    // A worker that hangs in its first run and never renews its lock, as one whose process froze: BullMQ's
    // stalled check (two passes of stalledInterval) finds the lock gone and moves the job back to wait.
    let runs = 0;
    const hanging = new Worker(
      'other',
      async () => {
        if (++runs === 1) await new Promise(() => {});
        return 'second run';
      },
      { connection, prefix: bullmqPrefix, concurrency: 2, lockDuration: 300, stalledInterval: 300, skipLockRenewal: true },
    );
    const other = new Queue('other', { connection, prefix: bullmqPrefix });
    try {
      const job = await other.add('sync', { userId: alice.userId });
      await waitForJobEvent(socket, job.id!, 'completed', 'other');
      const events = socket.all('job-event').filter((m) => m.data.jobId === job.id && m.data.queue === 'other');
      expect(events.map((m) => m.data.status)).toEqual(['waiting', 'active', 'waiting', 'stalled', 'active', 'completed']);
      expect(events.at(-1)!.data).toMatchObject({ name: 'sync', userId: alice.userId, result: 'second run' });
    } finally {
      await hanging.close(true);
      await other.obliterate({ force: true }).catch(() => {});
      await other.close();
      await socket.close();
    }
  });

  it('resumes from the last recorded event when the leader stops: nothing emitted meanwhile is lost or repeated', async () => {
    const leaderIndex = await leader(nodes);
    const survivors = nodes.filter((_, i) => i !== leaderIndex);
    const sockets = await Promise.all(survivors.map((node) => TestSocket.ready(node.wsUrl, { cookie: alice.cookie, query: 'channels=jobs' })));
    await worker.pause();
    const job = await queue.add('digest', { userId: alice.userId, to: 'd@example.com' }, { removeOnComplete: true });
    await Promise.all(sockets.map((socket) => waitForJobEvent(socket, job.id!, 'waiting')));

    // The leader goes away; the job runs to completion (and is removed) before another node takes over.
    await nodes[leaderIndex]!.close();
    worker.resume();
    await Promise.all(sockets.map((socket) => waitForJobEvent(socket, job.id!, 'completed')));
    await Promise.all(sockets.map((socket) => socket.roundTrip()));
    for (const socket of sockets) {
      expect(stepsOf(socket, job.id!).map((s) => s.status)).toEqual(['waiting', 'active', 'progress', 'progress', 'completed']);
    }
    for (const socket of sockets) await socket.close();
    nodes = survivors;
  });
});

/** The index of the node that reads the queues (waits for the election to settle). */
async function leader(nodes: TestServer[]): Promise<number> {
  let index = -1;
  const leads = (node: TestServer) => node.logLines.some((l) => l.includes('"event":"leader-elected"')) && !node.logLines.some((l) => l.includes('"event":"leader-lost"'));
  await waitFor(() => (index = nodes.findIndex(leads)) >= 0, 'a leader', 5000, 50);
  return index;
}

describe.skipIf(!available)('BullMQ job events across a restart of the only reading node', () => {
  const bullmqPrefix = `bull-test-${randomBytes(4).toString('hex')}`;
  const redisPrefix = randomRedisPrefix();
  let database: TestDatabase;
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
    await database?.drop();
    await deleteRedisKeys(redisPrefix);
    await deleteRedisKeys(`${bullmqPrefix}:`);
  });

  it('resumes after the last recorded event: what BullMQ emitted while no node read the queue still arrives', async () => {
    database = await createTestDatabase();
    const common = { DATABASE_URL: database.url, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: redisPrefix, BULLMQ_PREFIX: bullmqPrefix };
    const plain = await startTestServer(common); // holds the socket, reads no queue
    servers.push(plain);
    let reader = await startTestServer({ ...common, BULLMQ_QUEUES: 'reports' });
    const user = await signUp(plain.url);
    const socket = await TestSocket.ready(plain.wsUrl, { cookie: user.cookie, query: 'channels=jobs' });
    const queue = new Queue('reports', { connection, prefix: bullmqPrefix });
    const worker = new Worker(
      'reports',
      async (job) => {
        await job.updateProgress(10);
        return 'done';
      },
      { connection, prefix: bullmqPrefix, autorun: false },
    );
    try {
      const job = await queue.add('monthly', { userId: user.userId }, { removeOnComplete: true });
      await socket.take((m) => m.type === 'job-event' && m.data.status === 'waiting', 15_000, 'waiting');
      await reader.close();

      // Nobody reads the queue while the job runs and is removed.
      const finished = new Promise((resolve) => worker.once('completed', resolve));
      void worker.run();
      await finished;
      expect(await queue.getJob(job.id!)).toBeUndefined();

      reader = await startTestServer({ ...common, BULLMQ_QUEUES: 'reports' }, reader.dir);
      servers.push(reader);
      await socket.take((m) => m.type === 'job-event' && m.data.status === 'completed', 15_000, 'completed after the restart');
      await socket.roundTrip();
      expect(socket.all('job-event').map((m) => [m.data.jobId, m.data.status, m.data.name, m.data.userId])).toEqual(
        ['waiting', 'active', 'progress', 'completed'].map((status) => [job.id, status, 'monthly', user.userId]),
      );
    } finally {
      await socket.close();
      await worker.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    }
  });
});
