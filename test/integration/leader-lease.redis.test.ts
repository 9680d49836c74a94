import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaderLease } from '../../src/jobs/bullmq-leader.js';
import { TEST_REDIS_URL, serviceAvailable } from '../helpers/services.js';

const available = await serviceAvailable('redis');

describe.skipIf(!available)('LeaderLease (the BullMQ reader election)', () => {
  const clients: Redis[] = [];
  const leases: LeaderLease[] = [];
  afterEach(async () => {
    for (const lease of leases.splice(0)) await lease.stop();
    for (const client of clients.splice(0)) client.disconnect();
  });

  const key = () => `livetail-test:${randomBytes(6).toString('hex')}:leader`;
  /** Wakes `until` on every leadership change, so tests await changes instead of sleeping. */
  let waiters: Array<() => void> = [];
  const candidate = (leaseKey: string, ttlMs: number) => {
    const redis = new Redis(TEST_REDIS_URL);
    clients.push(redis);
    const changes: boolean[] = [];
    const onChange = (leader: boolean) => {
      changes.push(leader);
      for (const waiter of [...waiters]) waiter();
    };
    const lease = new LeaderLease(redis, { key: leaseKey, ttlMs, nodeId: `n${leases.length}`, logger: pino({ level: 'silent' }), onChange });
    leases.push(lease);
    return { lease, redis, changes };
  };
  const until = (condition: () => boolean, what: string, timeoutMs = 5000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        waiters = waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      waiters.push(check);
      check();
    });

  it('elects exactly one of several candidates and hands over at once when it stops', async () => {
    const leaseKey = key();
    const nodes = [candidate(leaseKey, 6000), candidate(leaseKey, 6000), candidate(leaseKey, 6000)];
    for (const node of nodes) await node.lease.start();
    expect(nodes.filter((n) => n.lease.isLeader)).toHaveLength(1);
    const first = nodes.find((n) => n.lease.isLeader)!;
    const started = Date.now();
    await first.lease.stop();
    expect(first.changes).toEqual([true, false]);
    await until(() => nodes.some((n) => n !== first && n.lease.isLeader), 'a new leader');
    expect(Date.now() - started).toBeLessThan(5000); // the next tick (2 s), not the 6 s ttl
    expect(nodes.filter((n) => n.lease.isLeader)).toHaveLength(1);
  });

  it('replaces a leader that stops renewing (crashed) once its lease runs out, and fences the old one', async () => {
    const leaseKey = key();
    const a = candidate(leaseKey, 400);
    const b = candidate(leaseKey, 400);
    await a.lease.start();
    await b.lease.start();
    expect([a.lease.isLeader, b.lease.isLeader]).toEqual([true, false]);
    // A "crash": its connection is gone, so it renews nothing and releases nothing.
    a.redis.disconnect();
    await until(() => b.lease.isLeader, 'b to take over', 3000);
    await until(() => !a.lease.isLeader, 'a to notice', 3000);
    // Only the holder's fenced writes go through.
    expect(await b.lease.setIfLeader(`${leaseKey}:position`, '5-0')).toBe(true);
    const stale = new LeaderLease(b.redis, { key: leaseKey, ttlMs: 400, nodeId: 'stale', logger: pino({ level: 'silent' }), onChange: () => {} });
    expect(await stale.setIfLeader(`${leaseKey}:position`, '1-0')).toBe(false);
    expect(await b.redis.get(`${leaseKey}:position`)).toBe('5-0');
    await b.redis.del(`${leaseKey}:position`);
  });
});
