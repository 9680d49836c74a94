import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Bus, BusMessage } from '../../src/bus/bus.js';
import { HTTP_ERRORS, StoreWriteError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import {
  type CommitOutcome,
  CommitInDoubtError,
  type CommittedEvent,
  type IdempotencyClaim,
  IdempotencyKeyTakenError,
  type IdempotencyRecord,
  type LogStore,
  StoreUnavailableError,
  type WriteOp,
} from '../../src/store/log-store.js';
import { StreamWriter } from '../../src/stream/stream-writer.js';
import { testLog } from '../contract/log-store.contract.js';
import { counterValue } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';

type Commit = (ops: WriteOp[], signal: AbortSignal) => Promise<CommittedEvent[]>;

/** A LogStore whose commit the test scripts; it records every commit it was asked for. */
function fakeStore(commit: Commit) {
  const calls: WriteOp[][] = [];
  const store = {
    kind: 'sqlite',
    commit: (ops: WriteOp[], signal?: AbortSignal) => {
      calls.push(ops);
      return commit(ops, signal!);
    },
  } as unknown as LogStore;
  return { store, calls };
}

/** What a store that took the ops would return: consecutive seqs per user, from 1 (a key yields no event). */
function committed(ops: WriteOp[]): CommittedEvent[] {
  const seqs = new Map<string, number>();
  return ops.filter((op) => op.kind !== 'idempotency').map((op) => {
    if (op.kind !== 'log') throw new Error('logs only');
    const seq = (seqs.get(op.log.userId) ?? 0) + 1;
    seqs.set(op.log.userId, seq);
    return { kind: 'log', userId: op.log.userId, seq, log: op.log };
  });
}

/** A commit that never answers until the writer gives up (the signal), like a store that stopped answering. */
const hangs: Commit = (_ops, signal) =>
  new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new StoreUnavailableError('gave up')), { once: true }));

function writerOn(store: LogStore, options = { timeoutMs: 5000, maxPendingOps: 10_000 }) {
  const published: BusMessage[] = [];
  const bus = { publish: (message: BusMessage) => published.push(message) } as unknown as Bus;
  const metrics = createMetrics('test');
  const writer = new StreamWriter(store, bus, metrics, pino({ level: 'silent' }), options);
  return { writer, published, metrics };
}

const logOps = (userId: string, command: string, n = 1): WriteOp[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'log', log: testLog(userId, `${command}.${i}`) }));

/** The StoreWriteError code a rejected submission got, or 'committed'. */
const answerOf = (submission: Promise<unknown>) =>
  submission.then(
    () => 'committed',
    (error) => (error instanceof StoreWriteError ? error.code : error),
  );

describe('StreamWriter', () => {
  describe('group commit isolation', () => {
    it('fails only the submission the store refuses, and commits the ones grouped with it', async () => {
      const culprit = new Error('invalid byte sequence for encoding "UTF8": 0x00');
      const { store, calls } = fakeStore(async (ops) => {
        if (ops.some((op) => op.kind === 'log' && op.log.userId === 'bad')) throw culprit;
        return committed(ops);
      });
      const { writer, published, metrics } = writerOn(store);
      const good = Array.from({ length: 40 }, (_, i) => writer.submit(logOps(`user-${i % 4}`, `G${i}`, 3)));
      const bad = writer.submit([...logOps('user-0', 'B'), ...logOps('bad', 'B')]);
      const more = Array.from({ length: 9 }, (_, i) => writer.submit(logOps('user-1', `H${i}`)));

      await expect(bad).rejects.toBe(culprit);
      const answers = await Promise.all([...good, ...more]);
      expect(answers.map((events) => events.length)).toEqual([...good.map(() => 3), ...more.map(() => 1)]);
      // One grouped transaction, refused, then halves of it down to the culprit: a few transactions, not 50.
      expect(calls[0]).toHaveLength(40 * 3 + 2 + 9);
      expect(calls.length).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(50)));
      expect(calls.slice(1).filter((ops) => ops.some((op) => op.kind === 'log' && op.log.userId === 'bad')).length).toBeLessThanOrEqual(Math.ceil(Math.log2(50)));
      // Everything but the culprit is published, in the order it was submitted.
      const commands = (ops: WriteOp[]) => ops.map((op) => (op.kind === 'log' ? op.log.command : ''));
      expect(published.map((m) => m.type === 'log' && m.log.command)).toEqual(
        [...Array.from({ length: 40 }, (_, i) => `G${i}`).flatMap((g) => [0, 1, 2].map((k) => `${g}.${k}`)), ...Array.from({ length: 9 }, (_, i) => `H${i}.0`)],
      );
      expect(commands(calls[0]!)).toContain('B.0');
      expect(await counterValue(metrics.storeWriteIsolations)).toBe(1);
    });

    it('fails the whole group fast with 503 when the store is unreachable, without retrying each', async () => {
      const { store, calls } = fakeStore(async () => {
        throw new StoreUnavailableError('connect ECONNREFUSED 127.0.0.1:5432');
      });
      const { writer, published, metrics } = writerOn(store);
      const submissions = Array.from({ length: 20 }, (_, i) => writer.submit(logOps('user-1', `U${i}`, 2)));
      const errors = await Promise.all(submissions.map((s) => s.catch((error: unknown) => error)));
      for (const error of errors) {
        expect(error).toBeInstanceOf(StoreWriteError);
        expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
        expect(HTTP_ERRORS.STORE_UNAVAILABLE.status).toBe(503);
      }
      expect(calls).toHaveLength(1);
      expect(published).toEqual([]);
      expect(await counterValue(metrics.storeWritesRefused, { reason: 'unavailable' })).toBe(40);
      expect(await counterValue(metrics.storeWriteIsolations)).toBe(0);
    });

    it('stops committing in parts when the store goes away in the middle, answering the rest 503', async () => {
      let commits = 0;
      const { store, calls } = fakeStore(async (ops) => {
        commits++;
        if (commits === 1) throw new TypeError('a bad entry');
        if (commits === 2) return committed(ops);
        throw new StoreUnavailableError('Connection terminated unexpectedly');
      });
      const { writer } = writerOn(store);
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => answerOf(writer.submit(logOps('user-1', `S${i}`)))));
      // The group, its first half (committed), then the first quarter of the second half (the store is gone): no more tries.
      expect(answers).toEqual([...Array(4).fill('committed'), ...Array(4).fill('STORE_UNAVAILABLE')]);
      expect(calls.map((ops) => ops.length)).toEqual([8, 4, 4]);
    });
  });

  describe('idempotency keys', () => {
    const claim = (key: string): IdempotencyClaim => ({ scope: 'service', key, bodyHash: `hash-of-${key}` });
    const keyed = (key: string, command: string): WriteOp[] => [...logOps('user-1', command), { kind: 'idempotency', claim: claim(key), result: `["${command}"]` }];
    /** A store that records keys as the real ones do: a key recorded before is taken; one twice in a commit is refused. */
    const keyStore = (recorded = new Map<string, IdempotencyRecord>()) =>
      fakeStore(async (ops) => {
        const claims = ops.flatMap((op) => (op.kind === 'idempotency' ? [op] : []));
        if (new Set(claims.map((op) => op.claim.key)).size < claims.length) throw new Error('one key claimed twice in one commit');
        const taken = claims.find((op) => recorded.has(op.claim.key));
        if (taken) throw new IdempotencyKeyTakenError(taken.claim, recorded.get(taken.claim.key)!);
        for (const op of claims) recorded.set(op.claim.key, { bodyHash: op.claim.bodyHash, result: op.result });
        return committed(ops);
      });

    it('answers only the submission whose key is taken, and commits the rest of its group again at once', async () => {
      const { store, calls } = keyStore(new Map([['k-old', { bodyHash: 'hash-of-k-old', result: '["FIRST"]' }]]));
      const { writer, published, metrics } = writerOn(store);
      const before = Array.from({ length: 20 }, (_, i) => writer.submit(keyed(`k-${i}`, `B${i}`)));
      const repeat = writer.submit(keyed('k-old', 'AGAIN'));
      const after = Array.from({ length: 20 }, (_, i) => writer.submit(logOps('user-2', `A${i}`)));

      const error = await repeat.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IdempotencyKeyTakenError);
      expect(error).toMatchObject({ record: { result: '["FIRST"]' } });
      expect((await Promise.all([...before, ...after])).map((events) => events.length)).toEqual(Array(40).fill(1));
      // The group, then the group without the repeat: no halving, no write counted as failed.
      expect(calls.map((ops) => ops.length)).toEqual([20 * 2 + 2 + 20, 20 * 2 + 20]);
      expect(published.map((m) => m.type === 'log' && m.log.command)).not.toContain('AGAIN.0');
      expect(published).toHaveLength(40);
      expect(await counterValue(metrics.storeWriteIsolations)).toBe(0);
      expect(await counterValue(metrics.storeWriteErrors)).toBe(0);
      expect((await metrics.storePendingOps.get()).values[0]!.value).toBe(0);
    });

    it('never puts two submissions claiming one key in one transaction: the first is stored, the second gets its record', async () => {
      const { store, calls } = keyStore();
      const { writer, published } = writerOn(store);
      const first = writer.submit(keyed('k-1', 'FIRST'));
      const other = writer.submit(keyed('k-2', 'OTHER'));
      const second = writer.submit(keyed('k-1', 'SECOND'));
      const last = writer.submit(logOps('user-1', 'LAST'));

      expect(await first).toHaveLength(1);
      await expect(second).rejects.toMatchObject({ name: 'IdempotencyKeyTakenError', record: { result: '["FIRST"]' } });
      expect(await other).toHaveLength(1);
      expect(await last).toHaveLength(1);
      const keysOf = (ops: WriteOp[]) => ops.flatMap((op) => (op.kind === 'idempotency' ? [op.claim.key] : []));
      expect(calls.map(keysOf)).toEqual([['k-1', 'k-2'], ['k-1'], []]);
      expect(published.map((m) => m.type === 'log' && m.log.command)).toEqual(['FIRST.0', 'OTHER.0', 'LAST.0']);
    });
  });

  describe('bounds', () => {
    it('answers 503 at once when MAX_PENDING_WRITES are waiting, and never holds more', async () => {
      const { store } = fakeStore(hangs);
      const { writer, metrics } = writerOn(store, { timeoutMs: 300, maxPendingOps: 100 });
      const taken = Array.from({ length: 10 }, (_, i) => writer.submit(logOps('user-1', `T${i}`, 10)));
      const started = Date.now();
      const refused = writer.submit(logOps('user-1', 'over'));
      await expect(refused).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('MAX_PENDING_WRITES=100') });
      expect(Date.now() - started).toBeLessThan(50);
      expect((await metrics.storePendingOps.get()).values[0]!.value).toBe(100);
      expect(await counterValue(metrics.storeWritesRefused, { reason: 'queue-full' })).toBe(1);
      for (const answer of await Promise.all(taken.map(answerOf))) expect(answer).toBe('STORE_UNAVAILABLE');
      expect((await metrics.storePendingOps.get()).values[0]!.value).toBe(0);
    });

    it('takes a submission larger than MAX_PENDING_WRITES when nothing else waits', async () => {
      const { store } = fakeStore(async (ops) => committed(ops));
      const { writer } = writerOn(store, { timeoutMs: 1000, maxPendingOps: 5 });
      expect(await writer.submit(logOps('user-1', 'big', 20))).toHaveLength(20);
    });

    it('answers every submission within STORE_TIMEOUT_MS when the store stops answering: the running transaction and the queued ones', async () => {
      const { store, calls } = fakeStore(hangs);
      const { writer, metrics } = writerOn(store, { timeoutMs: 200, maxPendingOps: 10_000 });
      const started = Date.now();
      const first = answerOf(writer.submit(logOps('user-1', 'first')));
      await waitFor(() => calls.length === 1, 'the first transaction');
      const queued = Array.from({ length: 5 }, (_, i) => answerOf(writer.submit(logOps('user-1', `Q${i}`))));
      expect(await first).toBe('STORE_UNAVAILABLE');
      const firstAnswered = Date.now() - started;
      expect(await Promise.all(queued)).toEqual(queued.map(() => 'STORE_UNAVAILABLE'));
      const allAnswered = Date.now() - started;
      expect(firstAnswered).toBeGreaterThanOrEqual(190);
      expect(allAnswered).toBeLessThan(200 + 200 + 150); // each within 200 ms of its own submission
      expect(await counterValue(metrics.storeWritesRefused, { reason: 'timeout' })).toBe(6);
    });
  });

  describe('a commit whose answer was lost', () => {
    const inDoubt = (outcome: () => Promise<CommitOutcome>): Commit => async (ops) => {
      throw new CommitInDoubtError('Connection terminated unexpectedly', committed(ops), outcome);
    };

    it('answers 201 when the store tells in time that it committed, and publishes it', async () => {
      let asked = 0;
      const { store } = fakeStore(inDoubt(async () => (++asked < 3 ? 'unknown' : 'committed')));
      const { writer, published, metrics } = writerOn(store, { timeoutMs: 2000, maxPendingOps: 100 });
      const events = await writer.submit(logOps('user-1', 'D', 2));
      expect(events.map((e) => e.kind === 'log' && e.seq)).toEqual([1, 2]);
      expect(published.map((m) => m.type === 'log' && m.seq)).toEqual([1, 2]);
      expect(await counterValue(metrics.storeCommitsInDoubt, { outcome: 'committed' })).toBe(1);
    });

    it('answers a true 503 STORE_UNAVAILABLE when the store tells in time that it rolled back', async () => {
      const { store } = fakeStore(inDoubt(async () => 'aborted'));
      const { writer, published } = writerOn(store, { timeoutMs: 2000, maxPendingOps: 100 });
      await expect(writer.submit(logOps('user-1', 'D'))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(published).toEqual([]);
    });

    it('answers STORE_COMMIT_IN_DOUBT with the first log id at the deadline, and publishes the logs once the store says they committed', async () => {
      let storeBack = false;
      const { store } = fakeStore(inDoubt(async () => (storeBack ? 'committed' : 'unknown')));
      const { writer, published, metrics } = writerOn(store, { timeoutMs: 150, maxPendingOps: 100 });
      const ops = logOps('user-1', 'D', 2);
      const started = Date.now();
      const error = await writer.submit(ops).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(150 + 100);
      expect(error).toBeInstanceOf(StoreWriteError);
      expect(error).toMatchObject({ code: 'STORE_COMMIT_IN_DOUBT', details: [{ path: [0], id: ops[0]!.kind === 'log' && ops[0]!.log.id }] });
      expect(HTTP_ERRORS.STORE_COMMIT_IN_DOUBT.status).toBe(503);
      expect('retryAfterSeconds' in HTTP_ERRORS.STORE_COMMIT_IN_DOUBT).toBe(false); // a blind retry might store it twice
      expect((await metrics.storePendingOps.get()).values[0]!.value).toBe(0);
      expect(published).toEqual([]);
      storeBack = true;
      await waitFor(() => published.length === 2, 'the logs published once the outcome is known');
      expect(await counterValue(metrics.storeCommitsInDoubt, { outcome: 'committed' })).toBe(1);
    });
  });

  describe('a second transaction in flight (a store with commitsInFlight 2)', () => {
    /** A commit the test answers by hand: `written()` as the store calls it, then `resolve` or `reject`. */
    interface Held {
      ops: WriteOp[];
      written(): void;
      resolve(events: CommittedEvent[]): void;
      reject(error: unknown): void;
    }
    /** A store that holds each commit until the test answers it, and wakes `next` for each new one. */
    function heldStore(commitsInFlight: number) {
      const held: Held[] = [];
      let underWay = 0;
      let most = 0;
      let arrived: () => void = () => {};
      const store = {
        name: 'fake',
        commitsInFlight,
        commit: (ops: WriteOp[], _signal?: AbortSignal, written?: () => void) =>
          new Promise<CommittedEvent[]>((resolve, reject) => {
            underWay++;
            most = Math.max(most, underWay);
            const done = <T>(fn: (value: T) => void) => (value: T) => {
              underWay--;
              fn(value);
            };
            held.push({ ops, written: () => written?.(), resolve: done(resolve), reject: done(reject) });
            arrived();
          }),
      } as unknown as LogStore;
      /** Resolves once the store holds its `n`th commit. */
      const commitNumber = (n: number) =>
        new Promise<Held>((resolve) => {
          const check = () => {
            if (held.length >= n) resolve(held[n - 1]!);
            else arrived = check;
          };
          check();
        });
      return { store, held, commitNumber, most: () => most };
    }
    /** Some turns of the event loop: enough for the writer to start a transaction it is free to start. */
    const turns = async (n = 5) => {
      for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    };
    const commandsOf = (published: BusMessage[]) => published.map((m) => (m.type === 'log' ? m.log.command : m.type));

    it('starts the next transaction only once the one under way has written, and publishes in start order', async () => {
      const { store, held, commitNumber, most } = heldStore(2);
      const { writer, published } = writerOn(store);
      const first = writer.submit(logOps('user-1', 'A'));
      const one = await commitNumber(1);
      const second = writer.submit(logOps('user-1', 'B'));
      await turns();
      expect(held).toHaveLength(1); // not before the first one's writes answered
      one.written();
      const two = await commitNumber(2);
      expect(two.ops.map((op) => op.kind === 'log' && op.log.command)).toEqual(['B.0']);
      const third = writer.submit(logOps('user-1', 'C'));
      two.written();
      await turns();
      expect(held).toHaveLength(2); // two under way at most
      // The second answers first: nothing of it is published or answered before the first.
      two.resolve(committed(two.ops).map((e) => ({ ...e, seq: 2 })));
      let secondAnswered = false;
      void second.then(() => (secondAnswered = true));
      await turns();
      expect(published).toEqual([]);
      expect(secondAnswered).toBe(false);
      one.resolve(committed(one.ops));
      expect((await first).map((e) => e.kind === 'log' && e.seq)).toEqual([1]);
      expect((await second).map((e) => e.kind === 'log' && e.seq)).toEqual([2]);
      expect(commandsOf(published)).toEqual(['A.0', 'B.0']);
      const three = await commitNumber(3);
      three.resolve(committed(three.ops));
      await third;
      expect(commandsOf(published)).toEqual(['A.0', 'B.0', 'C.0']);
      expect(most()).toBe(2);
    });

    it('isolates a group refused after its writes only once the transaction beside it is answered, with nothing else in flight', async () => {
      const { store, held, commitNumber, most } = heldStore(2);
      const { writer, published } = writerOn(store);
      const culprit = new Error('refused at COMMIT');
      const group = [writer.submit(logOps('user-1', 'G1')), writer.submit(logOps('bad', 'X')), writer.submit(logOps('user-1', 'G2'))].map(answerOf);
      const one = await commitNumber(1);
      expect(one.ops).toHaveLength(3);
      one.written();
      const beside = writer.submit(logOps('user-2', 'B'));
      const two = await commitNumber(2);
      one.reject(culprit);
      const later = writer.submit(logOps('user-3', 'L'));
      await turns();
      expect(held).toHaveLength(2); // no retry of the group, and nothing new, while the second is under way
      two.written();
      await turns();
      expect(held).toHaveLength(2);
      two.resolve(committed(two.ops));
      await beside;
      // Now the group's halves, one at a time, as with one transaction at a time.
      const answerHeld = async () => {
        for (let n = 3; ; n++) {
          const next = await commitNumber(n);
          if (next.ops.some((op) => op.kind === 'log' && op.log.userId === 'bad')) next.reject(culprit);
          else next.resolve(committed(next.ops));
          if (next.ops.some((op) => op.kind === 'log' && op.log.userId === 'user-3')) return;
        }
      };
      await answerHeld();
      expect(await Promise.all(group)).toEqual(['committed', culprit, 'committed']);
      await later;
      expect(commandsOf(published)).toEqual(['B.0', 'G1.0', 'G2.0', 'L.0']);
      // Two under way only while the first transaction and the one beside it ran.
      expect(most()).toBe(2);
    });

    it('keeps one transaction at a time on a store with commitsInFlight 1, whatever written says', async () => {
      const { store, held, commitNumber, most } = heldStore(1);
      const { writer, published } = writerOn(store);
      const first = writer.submit(logOps('user-1', 'A'));
      const one = await commitNumber(1);
      const second = writer.submit(logOps('user-1', 'B'));
      one.written();
      await turns();
      expect(held).toHaveLength(1);
      one.resolve(committed(one.ops));
      await first;
      const two = await commitNumber(2);
      two.written();
      two.resolve(committed(two.ops));
      await second;
      expect(commandsOf(published)).toEqual(['A.0', 'B.0']);
      expect(most()).toBe(1);
    });
  });
});
