import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/protocol/log-entry.js';
import { waitFor } from '../helpers/wait.js';
import {
  type IdempotencyClaim,
  IdempotencyKeyTakenError,
  type LogQuery,
  type LogStore,
  type LogStoreLimits,
  StoreUnavailableError,
  type WriteOp,
} from '../../src/store/log-store.js';

/** A migrated store with the given limits; every call of one file may share one database. */
export type CreateStore = (limits: LogStoreLimits) => Promise<LogStore>;

export interface LogStoreContractOptions {
  /**
   * A store of another node (its own connections) on the same database, for engines that several nodes
   * share. Without it the concurrent-writer cases run through one store only.
   */
  createPeer?: CreateStore;
  /** How many idempotency records of `scope` the table holds, expired ones included (to see the purge). */
  countIdempotencyRecords?: (scope: string) => Promise<number>;
}

const LIMITS: LogStoreLimits = { maxLogsPerUser: 1000, maxJobsPerUser: 50 };

export function testLog(userId: string, command: string): LogEntry {
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    userId,
    emailAccountId: 'acct-1',
    level: 'info',
    command,
    data: { raw: `A1 ${command}`, parsed: { nested: { list: [1, 'two', null] } }, duration: 3, error: null },
  };
}

const logOp = (userId: string, command: string): WriteOp => ({ kind: 'log', log: testLog(userId, command) });
const clearOp = (userId: string): WriteOp => ({ kind: 'clear', userId, timestamp: new Date().toISOString() });
const jobOp = (userId: string, jobId: string, status: string, extra: Record<string, unknown> = {}): WriteOp => ({
  kind: 'job',
  userId,
  data: { userId, jobId, status, ...extra },
});
/** The idempotency records of `scope` in the table, expired ones included. */
export async function countRecords(db: Kysely<any>, scope: string): Promise<number> {
  const row = await db.selectFrom('livetail_idempotency').select((eb) => eb.fn.countAll().as('n')).where('scope', '=', scope).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A fresh key in `scope` (each test its own scope, as each has its own users). */
const claimIn = (scope: string, bodyHash = 'hash-1'): IdempotencyClaim => ({ scope, key: randomUUID(), bodyHash });
const keyOp = (claim: IdempotencyClaim, result = '[]'): WriteOp => ({ kind: 'idempotency', claim, result });

/** The LogStore contract (src/store/log-store.ts), run against every implementation. */
export function logStoreContract(name: string, createStore: CreateStore, options: LogStoreContractOptions = {}): void {
  describe(`LogStore contract: ${name}`, () => {
    const user = () => `user-${randomUUID()}`;
    const commands = async (store: LogStore, userId: string) =>
      (await store.readLogs(userId, { from: 'seq', seq: 0, limit: 100_000 })).logs.map((l) => l.log.command);

    it('assigns each user one stream of contiguous sequence numbers, shared by logs and clears', async () => {
      const store = await createStore(LIMITS);
      const [alice, bob] = [user(), user()];
      const events = await store.commit([logOp(alice, 'A1'), logOp(bob, 'B1'), logOp(alice, 'A2'), clearOp(alice), logOp(alice, 'A3')]);
      expect(events.map((e) => [e.kind, e.userId === alice ? 'alice' : 'bob', 'seq' in e ? e.seq : undefined])).toEqual([
        ['log', 'alice', 1],
        ['log', 'bob', 1],
        ['log', 'alice', 2],
        ['clear', 'alice', 3],
        ['log', 'alice', 4],
      ]);
      const next = await store.commit([logOp(alice, 'A4')]);
      expect(next[0]).toMatchObject({ kind: 'log', seq: 5 });
    });

    it('returns a stored log exactly as it was committed', async () => {
      const store = await createStore(LIMITS);
      const alice = user();
      const log = testLog(alice, 'FETCH');
      await store.commit([{ kind: 'log', log }]);
      const page = await store.readLogs(alice, { from: 'tail', limit: 10 });
      expect(page.logs).toEqual([{ seq: 1, log }]);
      expect(Object.keys(page.logs[0]!.log)).toEqual(Object.keys(log));
    });

    it('commits atomically: when one op fails, no op of the commit is stored and no seq is used', async () => {
      const store = await createStore(LIMITS);
      const [alice, bob] = [user(), user()];
      await store.commit([logOp(alice, 'BEFORE')]);
      const broken = { kind: 'log', log: { ...testLog(bob, 'BROKEN'), id: null } } as unknown as WriteOp;
      const refused = await store.commit([logOp(alice, 'LOST'), clearOp(alice), jobOp(alice, 'j1', 'active'), broken]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Error);
      // Refused for its data, not for the store being away: the writer retries such a group one by one.
      expect(refused).not.toBeInstanceOf(StoreUnavailableError);
      expect(await commands(store, alice)).toEqual(['BEFORE']);
      expect(await commands(store, bob)).toEqual([]);
      expect(await store.latestJobs(alice, 10)).toEqual([]);
      const page = await store.readLogs(alice, { from: 'tail', limit: 10 });
      expect([page.headSeq, page.clearedSeq]).toEqual([1, 0]);
      expect((await store.commit([logOp(alice, 'AFTER')]))[0]).toMatchObject({ seq: 2 });
    });

    it('gives up at once when the signal is aborted before COMMIT: StoreUnavailableError, and nothing is stored', async () => {
      const store = await createStore(LIMITS);
      const alice = user();
      const before = new AbortController();
      before.abort();
      await expect(store.commit([logOp(alice, 'NEVER')], before.signal)).rejects.toBeInstanceOf(StoreUnavailableError);
      const during = new AbortController();
      const commit = store.commit([logOp(alice, 'ABORTED'), jobOp(alice, 'j1', 'active')], during.signal);
      during.abort();
      await expect(commit).rejects.toBeInstanceOf(StoreUnavailableError);
      // The transaction behind it ends by rolling back: the next commit gets the first seq.
      expect((await store.commit([logOp(alice, 'AFTER')]))[0]).toMatchObject({ seq: 1 });
      expect(await commands(store, alice)).toEqual(['AFTER']);
      expect(await store.latestJobs(alice, 10)).toEqual([]);
    });

    it('hands out strictly increasing seqs to concurrent commits of one user', async () => {
      const store = await createStore(LIMITS);
      const peer = options.createPeer ? await options.createPeer(LIMITS) : store;
      const alice = user();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? peer : store).commit([logOp(alice, `C${i}a`), logOp(alice, `C${i}b`)])),
      );
      const seqs = results.flatMap((events) => events.map((e) => ('seq' in e ? e.seq : 0)));
      expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      for (const events of results) expect((events[1] as { seq: number }).seq).toBe((events[0] as { seq: number }).seq + 1);
      const page = await store.readLogs(alice, { from: 'seq', seq: 0, limit: 100 });
      expect(page.logs.map((l) => l.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(page.headSeq).toBe(40);
    });

    it('calls written once a commit\'s writes answered, before it resolves, and never for a refused commit', async () => {
      const store = await createStore(LIMITS);
      const [alice, bob] = [user(), user()];
      for (const ops of [[logOp(alice, 'ONLY-LOGS'), logOp(bob, 'ONLY-LOGS')], [logOp(alice, 'MIXED'), jobOp(alice, 'j1', 'active'), clearOp(bob)]]) {
        let calls = 0;
        const events = await store.commit(ops, undefined, () => calls++);
        expect(events.length).toBe(ops.length);
        expect(calls).toBe(1);
      }
      const broken = { kind: 'log', log: { ...testLog(bob, 'BROKEN'), id: null } } as unknown as WriteOp;
      let refusedCalls = 0;
      await expect(store.commit([logOp(alice, 'LOST'), broken], undefined, () => refusedCalls++)).rejects.toBeInstanceOf(Error);
      expect(refusedCalls).toBe(0);
    });

    it('orders a commit started after another one\'s written after it, for every user they share (up to commitsInFlight at once)', async () => {
      const store = await createStore(LIMITS);
      expect(store.commitsInFlight).toBeGreaterThanOrEqual(1);
      const [alice, bob, carol] = [user(), user(), user()];
      const users = [alice, bob, carol];
      // Commits started the way StreamWriter starts them: the next once the newest one's written was
      // called, while fewer than commitsInFlight are under way. Their seqs must come in start order.
      const total = 12;
      const commits: Array<Promise<Array<{ userId: string; seq?: number }>>> = [];
      let [under, most, newestWritten] = [0, 0, false];
      let failed: (error: unknown) => void = () => {};
      const allStarted = new Promise<void>((resolve, reject) => {
        failed = reject;
        const pump = (): void => {
          while (commits.length < total && (under === 0 || (under < store.commitsInFlight && newestWritten))) {
            const i = commits.length;
            under++;
            most = Math.max(most, under);
            newestWritten = false;
            const ops = [logOp(users[i % 3]!, `S${i}a`), logOp(users[(i + 1) % 3]!, `S${i}b`), logOp(alice, `S${i}c`)];
            const written = () => {
              if (commits.length === i + 1) newestWritten = true;
              pump();
            };
            const commit = store.commit(ops, undefined, written).finally(() => {
              under--;
              pump();
            });
            commit.catch(failed);
            commits.push(commit);
          }
          if (commits.length === total) resolve();
        };
        pump();
      });
      await allStarted;
      const results = await Promise.all(commits);
      if (store.commitsInFlight > 1) expect(most).toBeGreaterThan(1);
      for (const userId of users) {
        const seqs = results.flatMap((events) => events.filter((e) => e.userId === userId).map((e) => e.seq!));
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
        expect(await commands(store, userId)).toEqual(
          results.flatMap((events, i) => events.flatMap((e, k) => (e.userId === userId ? [`S${i}${'abc'[k]}`] : []))),
        );
      }
    });

    it('keeps at most maxLogsPerUser logs, trimming the oldest', async () => {
      const store = await createStore({ ...LIMITS, maxLogsPerUser: 3 });
      const [alice, bob] = [user(), user()];
      await store.commit([logOp(alice, 'L1'), logOp(alice, 'L2'), logOp(bob, 'B1')]);
      await store.commit([logOp(alice, 'L3'), logOp(alice, 'L4'), logOp(alice, 'L5')]);
      expect(await commands(store, alice)).toEqual(['L3', 'L4', 'L5']);
      expect(await commands(store, bob)).toEqual(['B1']);
      const page = await store.readLogs(alice, { from: 'seq', seq: 1, limit: 10 });
      expect(page.logs.map((l) => l.seq)).toEqual([3, 4, 5]);
    });

    it('deletes with a clear every log committed before it, in the same commit too, and keeps the later ones', async () => {
      const store = await createStore(LIMITS);
      const [alice, bob] = [user(), user()];
      await store.commit([logOp(alice, 'OLD1'), logOp(bob, 'BOB')]);
      await store.commit([logOp(alice, 'OLD2'), clearOp(alice), logOp(alice, 'NEW1')]);
      await store.commit([logOp(alice, 'NEW2')]);
      expect(await commands(store, alice)).toEqual(['NEW1', 'NEW2']);
      expect(await commands(store, bob)).toEqual(['BOB']);
      const page = await store.readLogs(alice, { from: 'tail', limit: 10 });
      expect([page.headSeq, page.clearedSeq]).toEqual([5, 3]);
      // A reader behind the clear learns of it from clearedSeq and reads what follows.
      const behind = await store.readLogs(alice, { from: 'seq', seq: 1, limit: 10 });
      expect(behind.clearedSeq).toBeGreaterThan(1);
      expect(behind.logs.map((l) => l.log.command)).toEqual(['NEW1', 'NEW2']);
    });

    it('reads pages that agree with their headSeq, with hasMore and truncated', async () => {
      const store = await createStore(LIMITS);
      const alice = user();
      const events = await store.commit(Array.from({ length: 7 }, (_, i) => logOp(alice, `P${i + 1}`)));
      const ids = events.map((e) => (e.kind === 'log' ? e.log.id : ''));

      const tail = await store.readLogs(alice, { from: 'tail', limit: 3 });
      expect(tail).toMatchObject({ truncated: false, headSeq: 7, clearedSeq: 0, hasMore: true });
      expect(tail.logs.map((l) => l.log.command)).toEqual(['P5', 'P6', 'P7']);

      const afterId = await store.readLogs(alice, { from: 'id', id: ids[1]!, limit: 3 });
      expect(afterId).toMatchObject({ truncated: false, hasMore: true, headSeq: 7 });
      expect(afterId.logs.map((l) => l.log.command)).toEqual(['P3', 'P4', 'P5']);

      const last = await store.readLogs(alice, { from: 'id', id: ids[6]!, limit: 3 });
      expect(last).toMatchObject({ logs: [], truncated: false, hasMore: false, headSeq: 7 });

      const unknown = await store.readLogs(alice, { from: 'id', id: randomUUID(), limit: 10 });
      expect(unknown.truncated).toBe(true);
      expect(unknown.logs).toHaveLength(7);

      // Another user's id is not this user's position.
      const other = await store.readLogs(user(), { from: 'id', id: ids[0]!, limit: 10 });
      expect(other).toMatchObject({ logs: [], truncated: true, headSeq: 0 });
    });

    it('bounds a page by the stored size of its logs (maxBytes), holding at least one log, with hasMore', async () => {
      const store = await createStore(LIMITS);
      const alice = user();
      // Stored size: the bytes of data (as JSON), command and account id. S3 is in two-byte characters.
      const sized = (command: string, raw: string): WriteOp => ({ kind: 'log', log: { ...testLog(alice, command), data: { raw } } });
      const ops = [sized('S1', 'a'.repeat(1000)), sized('S2', 'b'.repeat(1000)), sized('S3', 'é'.repeat(1000)), sized('S4', 'd'.repeat(5000)), sized('S5', 'e'.repeat(1000))];
      const size = ops.map((op) => (op.kind === 'log' ? Buffer.byteLength(JSON.stringify(op.log.data) + op.log.command + op.log.emailAccountId) : 0));
      const ids = (await store.commit(ops)).map((e) => (e.kind === 'log' ? e.log.id : ''));
      const read = async (query: LogQuery) => {
        const page = await store.readLogs(alice, query);
        return { commands: page.logs.map((l) => l.log.command), hasMore: page.hasMore, truncated: page.truncated };
      };
      const [s1, s2, s3, s4, s5] = size as [number, number, number, number, number];

      expect(await read({ from: 'tail', limit: 10, maxBytes: s4 + s5 })).toEqual({ commands: ['S4', 'S5'], hasMore: true, truncated: false });
      expect(await read({ from: 'tail', limit: 10, maxBytes: s4 + s5 - 1 })).toEqual({ commands: ['S5'], hasMore: true, truncated: false });
      expect(await read({ from: 'tail', limit: 10, maxBytes: 1 })).toEqual({ commands: ['S5'], hasMore: true, truncated: false });
      expect(await read({ from: 'tail', limit: 10, maxBytes: 1e9 })).toEqual({ commands: ['S1', 'S2', 'S3', 'S4', 'S5'], hasMore: false, truncated: false });
      expect(await read({ from: 'tail', limit: 2, maxBytes: 1e9 })).toEqual({ commands: ['S4', 'S5'], hasMore: true, truncated: false });
      // Bytes, not characters: S3 holds 1,000 characters in 2,000 bytes.
      expect(await read({ from: 'id', id: ids[0]!, limit: 10, maxBytes: s2 + s3 })).toEqual({ commands: ['S2', 'S3'], hasMore: true, truncated: false });
      expect(await read({ from: 'id', id: ids[0]!, limit: 10, maxBytes: s2 + s3 - 1 })).toEqual({ commands: ['S2'], hasMore: true, truncated: false });
      expect(await read({ from: 'seq', seq: 3, limit: 10, maxBytes: s4 + s5 })).toEqual({ commands: ['S4', 'S5'], hasMore: false, truncated: false });
      expect(await read({ from: 'seq', seq: 3, limit: 10, maxBytes: 1 })).toEqual({ commands: ['S4'], hasMore: true, truncated: false });
      expect(await read({ from: 'seq', seq: 5, limit: 10, maxBytes: 1 })).toEqual({ commands: [], hasMore: false, truncated: false });
      expect(await read({ from: 'id', id: randomUUID(), limit: 10, maxBytes: s1 })).toEqual({ commands: ['S1'], hasMore: true, truncated: true });
      // keep: 'newest' holds the newest logs after the position; hasMore: some after it were left out.
      expect(await read({ from: 'id', id: ids[0]!, limit: 10, maxBytes: s4 + s5, keep: 'newest' })).toEqual({ commands: ['S4', 'S5'], hasMore: true, truncated: false });
      expect(await read({ from: 'id', id: ids[1]!, limit: 10, maxBytes: s3 + s4 + s5, keep: 'newest' })).toEqual({ commands: ['S3', 'S4', 'S5'], hasMore: false, truncated: false });
      expect(await read({ from: 'id', id: ids[0]!, limit: 2, maxBytes: 1e9, keep: 'newest' })).toEqual({ commands: ['S4', 'S5'], hasMore: true, truncated: false });
      expect(await read({ from: 'seq', seq: 3, limit: 10, keep: 'newest' })).toEqual({ commands: ['S4', 'S5'], hasMore: false, truncated: false });
      expect(await read({ from: 'seq', seq: 2, limit: 1, keep: 'newest' })).toEqual({ commands: ['S5'], hasMore: true, truncated: false });
      expect(await read({ from: 'id', id: randomUUID(), limit: 10, maxBytes: s5, keep: 'newest' })).toEqual({ commands: ['S5'], hasMore: true, truncated: true });
      // A limit of 0 only asks whether there are logs.
      expect(await read({ from: 'tail', limit: 0, maxBytes: 1e9 })).toEqual({ commands: [], hasMore: true, truncated: false });
      expect(await store.readLogs(user(), { from: 'tail', limit: 10, maxBytes: 1 })).toMatchObject({ logs: [], hasMore: false, headSeq: 0 });
    });

    it('bounds latestJobs by the stored size of the events (maxBytes), holding at least one', async () => {
      const store = await createStore(LIMITS);
      const alice = user();
      await store.commit([jobOp(alice, 'j1', 'done', { blob: 'x'.repeat(1000) }), jobOp(alice, 'j2', 'done', { blob: 'é'.repeat(1000) }), jobOp(alice, 'j3', 'active')]);
      const bytes = (jobId: string, extra: Record<string, unknown> = {}) => Buffer.byteLength(JSON.stringify({ userId: alice, jobId, status: jobId === 'j3' ? 'active' : 'done', ...extra }));
      const [j3, j2] = [bytes('j3'), bytes('j2', { blob: 'é'.repeat(1000) })];
      const jobs = async (maxBytes: number, limit = 10) => (await store.latestJobs(alice, limit, maxBytes)).map((j) => j.jobId);
      expect(await jobs(j3 + j2)).toEqual(['j3', 'j2']);
      expect(await jobs(j3 + j2 - 1)).toEqual(['j3']);
      expect(await jobs(1)).toEqual(['j3']);
      expect(await jobs(1e9)).toEqual(['j3', 'j2', 'j1']);
      expect(await jobs(1e9, 2)).toEqual(['j3', 'j2']);
      expect(await store.latestJobs(user(), 10, 1)).toEqual([]);
    });

    it('never shows a page whose logs run past its headSeq while commits run', async () => {
      const store = await createStore(LIMITS);
      const peer = options.createPeer ? await options.createPeer(LIMITS) : store;
      const alice = user();
      let writing = true;
      const writer = (async () => {
        for (let i = 0; i < 40; i++) await peer.commit([logOp(alice, `W${i}`), logOp(alice, `W${i}b`)]);
        writing = false;
      })();
      let reads = 0;
      while (writing && reads < 500) {
        const page = await store.readLogs(alice, { from: 'seq', seq: 0, limit: 1000 });
        const last = page.logs.at(-1)?.seq ?? 0;
        expect(last).toBe(page.headSeq);
        expect(page.logs.map((l) => l.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
        reads++;
      }
      await writer;
      expect(reads).toBeGreaterThan(0);
    });

    it('keeps the latest event of at most maxJobsPerUser jobs, most recently updated first', async () => {
      const store = await createStore({ ...LIMITS, maxJobsPerUser: 3 });
      const [alice, bob] = [user(), user()];
      await store.commit([jobOp(alice, 'j1', 'waiting'), jobOp(alice, 'j2', 'waiting'), jobOp(bob, 'b1', 'waiting')]);
      await store.commit([jobOp(alice, 'j1', 'active'), jobOp(alice, 'j3', 'waiting')]);
      await store.commit([jobOp(alice, 'j1', 'progress', { progress: 50 })]);
      expect(await store.latestJobs(alice, 10)).toEqual([
        { userId: alice, jobId: 'j1', status: 'progress', progress: 50 },
        { userId: alice, jobId: 'j3', status: 'waiting' },
        { userId: alice, jobId: 'j2', status: 'waiting' },
      ]);
      await store.commit([jobOp(alice, 'j4', 'waiting')]);
      expect((await store.latestJobs(alice, 10)).map((j) => j.jobId)).toEqual(['j4', 'j1', 'j3']);
      expect((await store.latestJobs(alice, 2)).map((j) => j.jobId)).toEqual(['j4', 'j1']);
      expect((await store.latestJobs(bob, 10)).map((j) => j.jobId)).toEqual(['b1']);
      // Job events do not use log sequence numbers.
      expect((await store.readLogs(alice, { from: 'tail', limit: 1 })).headSeq).toBe(0);
    });

    it('commits the other ops of a commit whose user id is not well-formed UTF-16 (a lone surrogate)', async () => {
      // The driver encodes such an id its own way: the head row read back must still be found.
      const store = await createStore(LIMITS);
      const alice = user();
      const odd = `svc-\ud800-${randomUUID()}`;
      const events = await store.commit([logOp(alice, 'A1'), logOp(odd, 'O1'), jobOp(odd, 'j1', 'active'), logOp(odd, 'O2'), clearOp(odd), logOp(alice, 'A2')]);
      expect(events.map((e) => [e.kind, 'seq' in e ? e.seq : undefined])).toEqual([
        ['log', 1],
        ['log', 1],
        ['job', undefined],
        ['log', 2],
        ['clear', 3],
        ['log', 2],
      ]);
      expect(await commands(store, alice)).toEqual(['A1', 'A2']);
      expect((await store.commit([logOp(odd, 'O3')]))[0]).toMatchObject({ seq: 4 });
    });

    describe('idempotency keys', () => {
      const scope = () => `scope-${randomUUID()}`;

      it('records a key with the ops of its commit, and refuses it again, storing nothing of that commit', async () => {
        const store = await createStore(LIMITS);
        const alice = user();
        const claim = claimIn(scope());
        expect(await store.findIdempotency(claim)).toBeUndefined();
        const events = await store.commit([logOp(alice, 'FIRST'), keyOp(claim, '["first"]'), jobOp(alice, 'j1', 'active')]);
        // One event per stream op: the key is no event of the stream.
        expect(events.map((e) => e.kind)).toEqual(['log', 'job']);
        expect(await store.findIdempotency(claim)).toEqual({ bodyHash: 'hash-1', result: '["first"]' });

        const again = await store.commit([logOp(alice, 'AGAIN'), jobOp(alice, 'j1', 'done'), keyOp({ ...claim, bodyHash: 'hash-2' }, '["again"]')]).catch((e: unknown) => e);
        expect(again).toBeInstanceOf(IdempotencyKeyTakenError);
        expect(again).toMatchObject({ key: { scope: claim.scope, key: claim.key }, record: { bodyHash: 'hash-1', result: '["first"]' } });
        expect(await commands(store, alice)).toEqual(['FIRST']);
        expect(await store.latestJobs(alice, 10)).toEqual([{ userId: alice, jobId: 'j1', status: 'active' }]);
        expect(await store.findIdempotency(claim)).toEqual({ bodyHash: 'hash-1', result: '["first"]' });
        // No seq was used by the refused commit.
        expect((await store.commit([logOp(alice, 'NEXT')]))[0]).toMatchObject({ seq: 2 });
      });

      it('records no key of a commit that fails or gives up, so the key stays free', async () => {
        const store = await createStore(LIMITS);
        const alice = user();
        const claim = claimIn(scope());
        const broken = { kind: 'log', log: { ...testLog(alice, 'BROKEN'), id: null } } as unknown as WriteOp;
        await expect(store.commit([keyOp(claim), broken])).rejects.toBeInstanceOf(Error);
        const gaveUp = new AbortController();
        gaveUp.abort();
        await expect(store.commit([logOp(alice, 'NEVER'), keyOp(claim)], gaveUp.signal)).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(await store.findIdempotency(claim)).toBeUndefined();
        await store.commit([logOp(alice, 'STORED'), keyOp(claim, '["stored"]')]);
        expect(await store.findIdempotency(claim)).toEqual({ bodyHash: 'hash-1', result: '["stored"]' });
        expect(await commands(store, alice)).toEqual(['STORED']);
      });

      it('keeps one key of different scopes apart', async () => {
        const store = await createStore(LIMITS);
        const [alice, bob] = [user(), user()];
        const key = randomUUID();
        const [a, b] = [scope(), scope()];
        await store.commit([logOp(alice, 'A'), keyOp({ scope: a, key, bodyHash: 'same' }, '["a"]')]);
        await store.commit([logOp(bob, 'B'), keyOp({ scope: b, key, bodyHash: 'same' }, '["b"]')]);
        expect(await store.findIdempotency({ scope: a, key })).toEqual({ bodyHash: 'same', result: '["a"]' });
        expect(await store.findIdempotency({ scope: b, key })).toEqual({ bodyHash: 'same', result: '["b"]' });
        expect(await store.findIdempotency({ scope: scope(), key })).toBeUndefined();
      });

      it('records a key with no other op (a request whose entries the level dropped)', async () => {
        const store = await createStore(LIMITS);
        const claim = claimIn(scope());
        expect(await store.commit([keyOp(claim)])).toEqual([]);
        expect(await store.findIdempotency(claim)).toEqual({ bodyHash: 'hash-1', result: '[]' });
      });

      it('refuses two ops claiming one key in one commit, storing nothing', async () => {
        const store = await createStore(LIMITS);
        const alice = user();
        const claim = claimIn(scope());
        await expect(store.commit([logOp(alice, 'ONE'), keyOp(claim), logOp(alice, 'TWO'), keyOp(claim)])).rejects.toBeInstanceOf(Error);
        expect(await store.findIdempotency(claim)).toBeUndefined();
        expect(await commands(store, alice)).toEqual([]);
      });

      it('stores once when commits claim one key at once: every other one gets the first one\'s record', async () => {
        const store = await createStore(LIMITS);
        const peer = options.createPeer ? await options.createPeer(LIMITS) : store;
        const claim = claimIn(scope());
        // Each commit writes another user's stream, so only the key orders them (no head lock is shared).
        const users = Array.from({ length: 10 }, () => user());
        const results = await Promise.allSettled(users.map((u, i) => (i % 2 ? peer : store).commit([logOp(u, 'RACE'), keyOp(claim, JSON.stringify([i]))])));
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'fulfilled') continue;
          expect(r.reason).toBeInstanceOf(IdempotencyKeyTakenError);
          expect((r.reason as IdempotencyKeyTakenError).record.result).toBe(JSON.stringify(won));
        }
        const stored = await Promise.all(users.map((u) => commands(store, u)));
        expect(stored.map((c) => c.length)).toEqual(users.map((_, i) => (i === won[0] ? 1 : 0)));
      });

      it('forgets a key once idempotencyWindowMs has passed: the next claim records it anew', async () => {
        const store = await createStore({ ...LIMITS, idempotencyWindowMs: 100 });
        const alice = user();
        const claim = claimIn(scope());
        await store.commit([logOp(alice, 'FIRST'), keyOp(claim, '["first"]')]);
        await waitFor(async () => (await store.findIdempotency(claim)) === undefined, 'the key to expire');
        await store.commit([logOp(alice, 'SECOND'), keyOp({ ...claim, bodyHash: 'hash-2' }, '["second"]')]);
        expect(await commands(store, alice)).toEqual(['FIRST', 'SECOND']);
        // Within the window of a store that keeps keys longer, the new record is the one found.
        expect(await (await createStore(LIMITS)).findIdempotency(claim)).toEqual({ bodyHash: 'hash-2', result: '["second"]' });
      });

      it.runIf(options.countIdempotencyRecords)('purges expired records as later commits record keys', async () => {
        const count = options.countIdempotencyRecords!;
        const store = await createStore({ ...LIMITS, idempotencyWindowMs: 100 });
        const [old, later] = [scope(), scope()];
        await store.commit(Array.from({ length: 5 }, () => keyOp(claimIn(old))));
        expect(await count(old)).toBe(5);
        const last = claimIn(old);
        await store.commit([keyOp(last)]);
        await waitFor(async () => (await store.findIdempotency(last)) === undefined, 'the keys to expire');
        // Each commit that records keys purges at least a hundred expired ones, the oldest first.
        for (let i = 0; i < 10 && (await count(old)) > 0; i++) await store.commit([keyOp(claimIn(later))]);
        expect(await count(old)).toBe(0);
        expect(await count(later)).toBeGreaterThan(0);
      });
    });

    it('answers ping and migrates again without harm', async () => {
      const store = await createStore(LIMITS);
      await store.ping();
      await store.migrate();
    });
  });
}
