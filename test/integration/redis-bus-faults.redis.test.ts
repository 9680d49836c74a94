import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus } from '../../src/bus/redis-bus.js';
import { RecordingListener, logMessage } from '../contract/bus.contract.js';
import { OwnRedis, serviceAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

// Needs the redis-server binary, not the shared Redis; the same availability rule applies.
const available = await serviceAvailable('redis');

describe.skipIf(!available)('RedisBus across a Redis fault (own redis-server)', () => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await OwnRedis.start();
  });
  afterAll(() => redis?.stop());

  it('subscribes again after Redis restarts, then reports a resync, and delivers again', async () => {
    const bus = await RedisBus.open({ url: redis.url, prefix: 'fault:', logger: pino({ level: 'silent' }) });
    const listener = new RecordingListener();
    bus.attach(listener);
    try {
      await bus.subscribe('alice');
      bus.publish(logMessage('alice', 1));
      await listener.until((l) => l.messages.length === 1, 5000, 'the first log');
      expect(listener.resyncs).toBe(0);

      await redis.kill();
      await redis.restart(); // empty: the subscription is gone on the server side
      await listener.until((l) => l.resyncs === 1, 10_000, 'a resync after the reconnect');

      // The resync is reported only once the subscription is back: what is published now arrives.
      bus.publish(logMessage('alice', 2));
      await listener.until((l) => l.messages.length === 2, 5000, 'the log after the restart');
      expect(listener.messages.map((m) => (m as { seq: number }).seq)).toEqual([1, 2]);
    } finally {
      await bus.close();
    }
  });

  it('logs and counts a publish that cannot reach Redis, without throwing into the caller', async () => {
    const errors: unknown[] = [];
    const bus = await RedisBus.open({ url: redis.url, prefix: 'fault:', logger: pino({ level: 'silent' }), onPublishError: (e) => errors.push(e) });
    try {
      await redis.kill();
      expect(() => bus.publish(logMessage('alice', 1))).not.toThrow();
      await waitFor(() => errors.length > 0, 'the publish error', 10_000, 100);
      expect(errors).toHaveLength(1);
      await expect(bus.ping()).rejects.toThrow();
    } finally {
      await redis.restart();
      await bus.close();
    }
  });
});
