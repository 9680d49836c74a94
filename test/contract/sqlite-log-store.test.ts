import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type SqliteDatabaseHandle, openDatabase } from '../../src/store/database.js';
import { StoreUnavailableError, type WriteOp } from '../../src/store/log-store.js';
import { SqliteLogStore } from '../../src/store/sqlite-log-store.js';
import { countRecords, logStoreContract, testLog } from './log-store.contract.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-store-'));
let database: Promise<SqliteDatabaseHandle> | undefined;
afterAll(async () => {
  await (await database)?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function sqlite(): Promise<SqliteDatabaseHandle> {
  database ??= openDatabase({ kind: 'sqlite', path: path.join(dir, 'store.db') }).then((opened) => {
    if (opened.kind !== 'sqlite') throw new Error('expected SQLite');
    return opened;
  });
  return database;
}

/** A store on the shared SQLite handle, migrated, with `maxLogsPerUser` of retention. */
async function migratedStore(maxLogsPerUser = 100): Promise<{ opened: SqliteDatabaseHandle; store: SqliteLogStore }> {
  const opened = await sqlite();
  const store = new SqliteLogStore(opened, { maxLogsPerUser, maxJobsPerUser: 10 });
  await store.migrate();
  return { opened, store };
}

logStoreContract(
  'SqliteLogStore',
  async (limits) => {
    const store = new SqliteLogStore(await sqlite(), limits);
    await store.migrate();
    return store;
  },
  { countIdempotencyRecords: async (scope) => countRecords((await sqlite()).db, scope) },
);

describe('SqliteLogStore reads beside transactions on the shared connection', () => {
  it('waits for a transaction still open on the connection and never sees its rows', async () => {
    const { opened, store } = await migratedStore();
    const userId = `user-${Date.now()}`;
    const log = testLog(userId, 'GHOST');
    let reads: Promise<unknown[]> | undefined;
    // Another writer on the same connection (better-auth, or a commit between two of its statements)
    // has written rows and not committed them yet when the reads are asked for.
    await expect(
      opened.db.transaction().execute(async (trx) => {
        await trx.insertInto('livetail_stream').values({ user_id: userId, head_seq: 1 }).execute();
        await trx
          .insertInto('livetail_log')
          .values({ user_id: userId, seq: 1, id: log.id, ts: log.timestamp, level: 'info', email_account_id: 'a', command: 'GHOST', data: '{}' })
          .execute();
        await trx.insertInto('livetail_job').values({ user_id: userId, job_id: 'j1', job_seq: 1, data: '{"jobId":"j1"}' }).execute();
        reads = Promise.all([store.readLogs(userId, { from: 'tail', limit: 10 }), store.latestJobs(userId, 10)]);
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const [page, jobs] = (await reads!) as [Awaited<ReturnType<SqliteLogStore['readLogs']>>, unknown[]];
    expect(page).toMatchObject({ logs: [], headSeq: 0 });
    expect(jobs).toEqual([]);
  });
});

// A commit of logs only takes SqliteLogStore's prepared statements; the contract's atomicity case mixes kinds.
describe('SqliteLogStore commits of logs only', () => {
  it('are atomic: a refused log stores none of its commit and uses no seq, and a commit waits for a transaction open on the connection', async () => {
    const { opened, store } = await migratedStore(3);
    const [alice, bob] = [`alice-${Date.now()}`, `bob-${Date.now()}`];
    await store.commit([{ kind: 'log', log: testLog(alice, 'BEFORE') }]);
    const broken = { kind: 'log', log: { ...testLog(bob, 'BROKEN'), id: null } } as unknown as WriteOp;
    const refused = await store.commit([{ kind: 'log', log: testLog(alice, 'LOST') }, { kind: 'log', log: testLog(bob, 'LOST') }, broken]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Error);
    expect(refused).not.toBeInstanceOf(StoreUnavailableError);
    const commands = async (userId: string) => (await store.readLogs(userId, { from: 'tail', limit: 10 })).logs.map((l) => l.log.command);
    expect(await commands(alice)).toEqual(['BEFORE']);
    expect(await commands(bob)).toEqual([]);

    // Another transaction holds the connection: the commit waits for it, then writes after it.
    let committed: Promise<unknown> | undefined;
    await opened.db.transaction().execute(async () => {
      committed = store.commit([1, 2, 3, 4].map((n) => ({ kind: 'log' as const, log: testLog(alice, `A${n}`) })));
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(await Promise.race([committed, 'waiting'])).toBe('waiting');
    });
    expect(await committed).toMatchObject([{ seq: 2 }, { seq: 3 }, { seq: 4 }, { seq: 5 }]);
    // Retention: the newest maxLogsPerUser, the head past them.
    expect(await commands(alice)).toEqual(['A2', 'A3', 'A4']);
    expect((await store.readLogs(alice, { from: 'tail', limit: 10 })).headSeq).toBe(5);
  });
});

describe('SqliteLogStore commits of logs only, in a transaction of their own', () => {
  it('given up at the deadline while waiting for the connection: StoreUnavailableError, nothing stored, no seq used, the connection usable', async () => {
    const { opened, store } = await migratedStore();
    const userId = `late-${Date.now()}`;
    await store.commit([{ kind: 'log', log: testLog(userId, 'FIRST') }]);
    const deadline = new AbortController();
    let late: Promise<unknown> | undefined;
    await opened.db.transaction().execute(async () => {
      late = store.commit([{ kind: 'log', log: testLog(userId, 'LATE') }], deadline.signal).catch((error: unknown) => error);
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      deadline.abort();
      expect(await late).toBeInstanceOf(StoreUnavailableError);
    });
    expect(await store.commit([{ kind: 'log', log: testLog(userId, 'NEXT') }])).toMatchObject([{ seq: 2 }]);
    expect((await store.readLogs(userId, { from: 'tail', limit: 10 })).logs.map((l) => l.log.command)).toEqual(['FIRST', 'NEXT']);
  });
});

describe('SqliteLogStore failures', () => {
  it('reports a closed database as StoreUnavailableError', async () => {
    const closed = (await openDatabase({ kind: 'sqlite', path: path.join(dir, 'closed.db') })) as SqliteDatabaseHandle;
    const store = new SqliteLogStore(closed, { maxLogsPerUser: 100, maxJobsPerUser: 10 });
    await store.migrate();
    await closed.close();
    await expect(store.commit([{ kind: 'log', log: testLog('user-1', 'X') }])).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
