import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, BusListener, BusMessage } from '../../src/bus/bus.js';

export interface BusContractOptions {
  /** Buses made by separate `createBus()` calls reach each other (false for the in-process bus). */
  crossNode: boolean;
}

/** Records what a bus hands its listener, so tests can await messages instead of sleeping. */
export class RecordingListener implements BusListener {
  readonly messages: BusMessage[] = [];
  resyncs = 0;
  private waiters: Array<() => void> = [];

  onMessage(message: BusMessage): void {
    this.messages.push(message);
    this.wake();
  }

  onResync(): void {
    this.resyncs++;
    this.wake();
  }

  /** Resolves once `predicate` holds over what was received; rejects after `timeoutMs`. */
  until(predicate: (l: RecordingListener) => boolean, timeoutMs = 5000, what = 'a condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; got ${this.messages.length} messages, ${this.resyncs} resyncs`));
      }, timeoutMs);
      this.waiters.push(check);
      check();
    });
  }

  of(userId: string): BusMessage[] {
    return this.messages.filter((m) => m.userId === userId);
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

export function logMessage(userId: string, seq: number): BusMessage {
  return {
    type: 'log',
    userId,
    seq,
    at: Date.now(),
    log: {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      userId,
      emailAccountId: 'acct-1',
      level: 'info',
      command: `CMD${seq}`,
      data: { raw: `A${seq} NOOP`, duration: seq },
    },
  };
}

/**
 * The Bus contract (src/bus/bus.ts), run against every implementation: `createBus()` makes the bus of a
 * new node; with `crossNode` the buses of one test share their backbone.
 */
export function busContract(name: string, createBus: () => Promise<Bus>, options: BusContractOptions): void {
  describe(`Bus contract: ${name}`, () => {
    const buses: Bus[] = [];
    afterEach(async () => {
      for (const bus of buses.splice(0)) await bus.close();
    });

    const node = async () => {
      const bus = await createBus();
      buses.push(bus);
      const listener = new RecordingListener();
      bus.attach(listener);
      return { bus, listener };
    };
    const user = () => `user-${randomUUID()}`;

    it('delivers a published message to the publishing node itself (one delivery path)', async () => {
      const { bus, listener } = await node();
      const alice = user();
      await bus.subscribe(alice);
      const message = logMessage(alice, 1);
      bus.publish(message);
      await listener.until((l) => l.of(alice).length === 1, 5000, 'the log');
      expect(listener.of(alice)).toEqual([message]);
    });

    it("keeps one node's messages for a user in publish order", async () => {
      const { bus, listener } = await node();
      const alice = user();
      await bus.subscribe(alice);
      const sent: BusMessage[] = [];
      for (let seq = 1; seq <= 300; seq++) {
        const message: BusMessage =
          seq % 50 === 0
            ? { type: 'logs-cleared', userId: alice, seq, timestamp: new Date().toISOString() }
            : seq % 7 === 0
              ? { type: 'job-event', userId: alice, data: { userId: alice, jobId: `job-${seq}`, status: 'active' } }
              : logMessage(alice, seq);
        sent.push(message);
        bus.publish(message);
      }
      await listener.until((l) => l.of(alice).length === sent.length, 10_000, 'every message');
      expect(listener.of(alice)).toEqual(sent);
    });

    it('delivers only the users the node subscribed to', async () => {
      const { bus, listener } = await node();
      const [alice, bob] = [user(), user()];
      await bus.subscribe(alice);
      bus.publish(logMessage(bob, 1));
      bus.publish(logMessage(alice, 1));
      await listener.until((l) => l.of(alice).length === 1, 5000, "alice's log");
      // One publisher's messages arrive in order across users too, so bob's would have come first.
      expect(listener.of(bob)).toEqual([]);
    });

    it('stops delivering a user after unsubscribe, and resumes after a new subscribe', async () => {
      const { bus, listener } = await node();
      const [alice, marker] = [user(), user()];
      await Promise.all([bus.subscribe(alice), bus.subscribe(marker)]);
      bus.publish(logMessage(alice, 1));
      await listener.until((l) => l.of(alice).length === 1, 5000, 'the first log');
      await bus.unsubscribe(alice);
      bus.publish(logMessage(alice, 2));
      bus.publish(logMessage(marker, 1));
      await listener.until((l) => l.of(marker).length === 1, 5000, 'the marker');
      expect(listener.of(alice).map((m) => (m as { seq: number }).seq)).toEqual([1]);
      await bus.subscribe(alice);
      bus.publish(logMessage(alice, 3));
      await listener.until((l) => l.of(alice).length === 2, 5000, 'the log after subscribing again');
      expect(listener.of(alice).map((m) => (m as { seq: number }).seq)).toEqual([1, 3]);
    });

    it('carries session-ended, logs-cleared and job-event messages unchanged', async () => {
      const { bus, listener } = await node();
      const alice = user();
      await bus.subscribe(alice);
      const messages: BusMessage[] = [
        { type: 'session-ended', userId: alice, sessionId: 'session-1' },
        { type: 'logs-cleared', userId: alice, seq: 4, timestamp: '2024-01-01T00:00:00.000Z' },
        { type: 'job-event', userId: alice, data: { userId: alice, jobId: 'j1', status: 'progress', progress: { pct: 50 }, name: 'sync' } },
      ];
      for (const message of messages) bus.publish(message);
      await listener.until((l) => l.of(alice).length === 3, 5000, 'three messages');
      expect(listener.of(alice)).toEqual(messages);
    });

    it('never throws from publish, even after close, and closes idempotently', async () => {
      const { bus } = await node();
      await bus.close();
      expect(() => bus.publish(logMessage(user(), 1))).not.toThrow();
      await bus.close();
    });

    it('answers ping while open; a bus across nodes has one (readiness asks it), the in-process one need not', async () => {
      const { bus } = await node();
      if (options.crossNode) expect(bus.ping).toBeTypeOf('function');
      if (bus.ping) await expect(bus.ping()).resolves.toBeUndefined();
    });

    it('broadcast: a control message reaches every bus, subscribed to its user or not, including the sender', async () => {
      const { bus, listener } = await node();
      const end: BusMessage = { type: 'session-ended', userId: user(), sessionId: 'session-x' };
      await bus.broadcast(end as Extract<BusMessage, { type: 'session-ended' }>);
      await bus.barrier();
      expect(listener.messages).toContainEqual(end);
    });

    if (options.crossNode) {
      it('delivers what one node publishes to every node subscribed to the user, in publish order', async () => {
        const [a, b, c] = [await node(), await node(), await node()];
        const [alice, bob] = [user(), user()];
        await Promise.all([a.bus.subscribe(alice), b.bus.subscribe(alice), c.bus.subscribe(bob)]);
        const sent = Array.from({ length: 100 }, (_, i) => logMessage(alice, i + 1));
        for (const message of sent) c.bus.publish(message);
        c.bus.publish(logMessage(bob, 1));
        await Promise.all([
          a.listener.until((l) => l.of(alice).length === sent.length, 10_000, 'node a'),
          b.listener.until((l) => l.of(alice).length === sent.length, 10_000, 'node b'),
          c.listener.until((l) => l.of(bob).length === 1, 10_000, "node c's own user"),
        ]);
        expect(a.listener.of(alice)).toEqual(sent);
        expect(b.listener.of(alice)).toEqual(sent);
        expect(c.listener.of(alice)).toEqual([]);
        expect(a.listener.of(bob)).toEqual([]);
      });

      it('barrier: once a broadcast on one node resolved, a barrier on another resolves only after that node heard it', async () => {
        const [a, b] = [await node(), await node()];
        for (let i = 0; i < 20; i++) {
          const end = { type: 'session-ended' as const, sessionId: `session-${i}` };
          await a.bus.broadcast(end);
          await b.bus.barrier();
          expect(b.listener.messages, `end ${i} was heard before the barrier resolved`).toContainEqual(end);
        }
      });
    }
  });
}
