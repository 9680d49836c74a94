import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisTemplate, dropRedis, openRedis, quitRedis } from '../../src/redis/redis-connection.js';
import { OwnRedis, serviceAvailable } from '../helpers/services.js';
import { within } from '../helpers/wait.js';

// A redis-server of the test's own: each test stops it, with a client between two reconnect attempts.
const available = await serviceAvailable('redis');

describe.skipIf(!available)('closing a Redis connection whose Redis went away (own redis-server)', () => {
  let redis: OwnRedis;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await OwnRedis.start();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await redis.restart().catch(() => {}); // each test kills it
  });
  afterAll(() => redis?.stop());

  /**
   * Kills Redis and resolves once `client` noticed: in the continuation of its 'reconnecting' event,
   * before its retry timer can fire, so the client has no socket and waits to try again.
   */
  const loseRedis = async (client: Redis) => {
    // Not events.once: it rejects on the 'error' (ECONNRESET) that may come first.
    const reconnecting = new Promise((resolve) => client.once('reconnecting', resolve));
    await redis.kill();
    await reconnecting;
    expect(client.status).toBe('reconnecting');
  };

  // ioredis' disconnect() there only clears the retry timer: no 'end', ever, and the queued command never settles.
  it.each([
    ['dropRedis', (client: Redis) => dropRedis(client)],
    ['quitRedis', (client: Redis) => void quitRedis(client)],
  ])('%s ends a client between two reconnect attempts, failing the command waiting on it', async (_name, close) => {
    const client = await openRedis(redis.url, 'bullmq');
    clients.push(client);
    await loseRedis(client);
    const waiting = client.get('some-key');
    const ended = new Promise((resolve) => client.once('end', resolve));
    close(client);
    await expect(within(waiting, 2000, 'the waiting GET to settle')).rejects.toThrow('Connection is closed.');
    await within(ended, 2000, "the client's 'end'");
    expect(client.status).toBe('end');
  });

  it("lets a QueueEvents whose connection is between two reconnect attempts close, once the template's duplicates are dropped", async () => {
    const { template, duplicates } = createRedisTemplate(redis.url, 'bullmq-events');
    const events = new QueueEvents('emails', { connection: template, autorun: false });
    events.on('error', () => {}); // ECONNRESET when Redis dies under the blocking read
    expect(duplicates).toHaveLength(1); // BullMQ's blocking connection, made from the template
    clients.push(template, ...duplicates);
    await events.waitUntilReady();
    const running = events.run().catch(() => {});
    await loseRedis(duplicates[0]!);
    for (const client of [...duplicates, template]) dropRedis(client);
    // Without the drop, close() waits for an 'end' that ioredis never emits.
    await within(events.close(), 2000, 'QueueEvents.close()');
    await within(running, 2000, 'the QueueEvents loop to stop');
  });
});
