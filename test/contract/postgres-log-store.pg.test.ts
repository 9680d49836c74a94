import { randomUUID } from 'node:crypto';
import { type Transaction, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { type CommittedEvent, type LogStoreLimits, StoreUnavailableError, type WriteOp } from '../../src/store/log-store.js';
import { PostgresLogStore } from '../../src/store/postgres-log-store.js';
import { fileDatabase } from '../helpers/pg-file-database.js';
import { openDatabase } from '../../src/store/database.js';
import { TEST_DATABASE_URL, createTestDatabase, serviceAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { TcpProxy } from '../multinode/tcp-proxy.js';
import { countRecords, logStoreContract, testLog } from './log-store.contract.js';

const available = await serviceAvailable('postgres');
const database = fileDatabase();

/** A store on its own pool, as a separate node would have, on this file's fresh database. */
async function nodeStore(limits: LogStoreLimits): Promise<PostgresLogStore> {
  const store = new PostgresLogStore((await database.openPool()).db, limits);
  await store.migrate();
  return store;
}

const LIMITS = { maxLogsPerUser: 100, maxJobsPerUser: 10 };

describe.skipIf(!available)('PostgreSQL', () => {
  logStoreContract('PostgresLogStore', nodeStore, {
    createPeer: nodeStore,
    countIdempotencyRecords: async (scope) => countRecords((await database.openPool()).db, scope),
  });

  /** This file's store on a database of its own reached through a TCP proxy the test can cut. */
  async function proxiedStore() {
    const target = new URL(TEST_DATABASE_URL);
    const proxy = await TcpProxy.start([{ host: target.hostname, port: Number(target.port || 5432) }]);
    const own = await createTestDatabase();
    const url = new URL(own.url);
    url.host = `127.0.0.1:${proxy.port}`;
    const database = await openDatabase({ kind: 'postgres', url: url.toString() }, { timeoutMs: 2000 });
    const store = new PostgresLogStore(database.db, LIMITS);
    await store.migrate();
    const close = async () => {
      await database.close();
      await proxy.close();
      await own.drop();
    };
    return { proxy, own, database, store, close };
  }

  it('reports a server that refuses connections, and a closed pool, as StoreUnavailableError', async () => {
    const { proxy, database, store, close } = await proxiedStore();
    const log = () => [{ kind: 'log' as const, log: testLog(`user-${randomUUID()}`, 'X') }];
    try {
      proxy.cut();
      await expect(store.commit(log())).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.readLogs('someone', { from: 'tail', limit: 10 })).rejects.toBeInstanceOf(StoreUnavailableError);
      await database.close();
      await expect(store.commit(log())).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await close();
    }
  });

  it('fails a statement whose connection is reset, not the process, and serves again once the server is back', async () => {
    const { proxy, own, database, store, close } = await proxiedStore();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const userId = `user-${randomUUID()}`;
      const running = sql`select pg_sleep(5)`.execute(database.db);
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await waitFor(
        async () => (await admin.query(`select 1 from pg_stat_activity where datname = $1 and query like 'select pg_sleep%'`, [own.name])).rowCount! > 0,
        'the statement to run on the server',
      );
      await admin.end();
      proxy.cut();
      await expect(running).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.readLogs(userId, { from: 'tail', limit: 10 })).rejects.toBeInstanceOf(StoreUnavailableError);
      proxy.restore();
      expect((await store.commit([{ kind: 'log', log: testLog(userId, 'BACK') }]))[0]).toMatchObject({ seq: 1 });
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await close();
    }
  });

  it('looks up what became of a transaction by the id it had before COMMIT (pg_xact_status)', async () => {
    const store = await nodeStore(LIMITS);
    const { db } = await database.openPool();
    const idOf = async (end: 'commit' | 'rollback') => {
      const trx = await db.startTransaction().execute();
      const id = await store.transactionId(trx);
      await sql`select 1`.execute(trx);
      await (end === 'commit' ? trx.commit() : trx.rollback()).execute();
      return id;
    };
    expect(await store.status(await idOf('commit'))).toBe('committed');
    expect(await store.status(await idOf('rollback'))).toBe('aborted');
    const open = await db.startTransaction().execute();
    const id = await store.transactionId(open);
    expect(await store.status(id)).toBe('unknown'); // in progress: not decided yet
    await open.rollback().execute();
  });

  it('knows the transaction id of a commit of only logs from its one call, as pg_current_xact_id gives it', async () => {
    const store = await nodeStore(LIMITS);
    const { db } = await database.openPool();
    const userId = `user-${randomUUID()}`;
    // The protected step commit takes for such a commit, here on a transaction the test ends itself.
    const appendLogs = (store as unknown as { appendLogs(trx: Transaction<any>, ops: WriteOp[]): Promise<CommittedEvent[]> }).appendLogs.bind(store);
    const trx = await db.startTransaction().execute();
    const events = await appendLogs(trx, [{ kind: 'log', log: testLog(userId, 'A') }, { kind: 'log', log: testLog(userId, 'B') }]);
    const id = await store.transactionId(trx);
    const { rows } = await sql<{ id: string }>`select pg_current_xact_id()::text as id`.execute(trx);
    expect(id).toBe(rows[0]!.id);
    expect(await store.status(id)).toBe('unknown'); // in progress
    await trx.commit().execute();
    expect(await store.status(id)).toBe('committed');
    expect(events.map((e) => e.kind === 'log' && e.seq)).toEqual([1, 2]);
  });
});
