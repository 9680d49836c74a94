import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, signUp } from '../helpers/http.js';
import { serversPerTest } from '../helpers/server.js';
import { OwnRedis, serviceAvailable } from '../helpers/services.js';
import { waitFor, within } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

// A redis-server of the test's own: one test stops it, the other uses a database of its own.
const available = await serviceAvailable('redis');

describe.skipIf(!available)("the BullMQ bridge's Redis connection (own redis-server)", () => {
  const start = serversPerTest();
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await OwnRedis.start();
  });
  afterAll(() => redis?.stop());

  const readyz = async (url: string) => (await api(url, 'GET', '/readyz', {})) as { status: number; body: { checks?: string[]; down?: string[] } };

  it('is the `bullmq` readiness check: /readyz names it down while Redis is, and ready again once Redis is back', async () => {
    const server = await start({ REDIS_URL: redis.url, BULLMQ_QUEUES: 'emails' });
    expect(await readyz(server.url)).toMatchObject({ status: 200, body: { checks: ['store', 'bus', 'bullmq'] } });

    await redis.kill();
    try {
      let down: string[] | undefined;
      await waitFor(async () => (down = (await readyz(server.url)).body.down)?.includes('bullmq') ?? false, '/readyz to report bullmq down', 10_000, 100);
      expect(down).toEqual(['bus', 'bullmq']);
    } finally {
      await redis.restart();
    }
    await waitFor(async () => (await readyz(server.url)).status === 200, '/readyz to be ready again', 15_000, 100);
    expect((await readyz(server.url)).body.checks).toEqual(['store', 'bus', 'bullmq']);
    // The bridge's QueueEvents connection may still be waiting for its next reconnect attempt: close anyway.
    await within(server.close(), 5000, 'close() after Redis came back');
  });

  it('closes at once while Redis is down: nothing waits for it to come back', async () => {
    const server = await start({ REDIS_URL: redis.url, BULLMQ_QUEUES: 'emails' });
    expect(await readyz(server.url)).toMatchObject({ status: 200, body: { checks: ['store', 'bus', 'bullmq'] } });
    await redis.kill();
    try {
      await waitFor(async () => (await readyz(server.url)).body.down?.includes('bullmq') ?? false, '/readyz to report bullmq down', 10_000, 100);
      // Handing the lease back and the QueueEvents' close would each wait on Redis: 20 reconnects, or forever.
      await within(server.close(), 5000, 'close() with Redis down');
      expect(server.logLines.some((line) => JSON.parse(line).event === 'stopped')).toBe(true);
    } finally {
      await redis.restart();
    }
  });

  it('has no `bullmq` check when no queue is read', async () => {
    const server = await start({ REDIS_URL: redis.url });
    expect(await readyz(server.url)).toMatchObject({ status: 200, body: { checks: ['store', 'bus'] } });
  });

  it("reads the queues in the database REDIS_URL's query names (?db=5): the URL's options are kept", async () => {
    const url = new URL(redis.url);
    url.searchParams.set('db', '5');
    const server = await start({ REDIS_URL: url.toString(), BULLMQ_QUEUES: 'reports' });
    const user = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie, query: 'channels=jobs' });
    const queue = new Queue('reports', { connection: { host: url.hostname, port: Number(url.port), db: 5 } });
    try {
      const job = await queue.add('monthly', { userId: user.userId });
      await socket.take((m) => m.type === 'job-event' && m.data.jobId === job.id, 15_000, 'the waiting event of a job in database 5');
      expect(socket.all('job-event').map((m) => m.data)).toMatchObject([{ jobId: job.id, status: 'waiting', queue: 'reports', name: 'monthly', userId: user.userId }]);
    } finally {
      await socket.close();
      await queue.close();
    }
  });
});
