import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { type SqliteDatabaseHandle, openDatabase } from '../../src/store/database.js';
import { migrateLogStore } from '../../src/store/migrations.js';
import { SqliteLogStore } from '../../src/store/sqlite-log-store.js';
import { testLog } from './log-store.contract.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-migrations-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('SQLite log store migrations', () => {
  it('moves a database made by the first release to a WITHOUT ROWID log table, keeping every log and its seq', async () => {
    const database = (await openDatabase({ kind: 'sqlite', path: path.join(dir, 'old.db') })) as SqliteDatabaseHandle;
    try {
      const tableSql = async () =>
        (await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'livetail_log'`.execute(database.db)).rows[0]!.sql;
      await migrateLogStore(database.db, 'sqlite', '0001_streams_logs_jobs');
      expect(await tableSql()).not.toMatch(/without rowid/i);

      const store = new SqliteLogStore(database, { maxLogsPerUser: 100, maxJobsPerUser: 10 });
      const userId = 'user-from-the-first-release';
      const logs = ['A1', 'A2', 'A3'].map((command) => testLog(userId, command));
      await store.commit([{ kind: 'log', log: logs[0]! }, { kind: 'clear', userId, timestamp: new Date().toISOString() }]);
      await store.commit(logs.slice(1).map((log) => ({ kind: 'log' as const, log })));
      const before = await store.readLogs(userId, { from: 'seq', seq: 0, limit: 100 });

      await store.migrate();
      expect(await tableSql()).toMatch(/without rowid/i);
      const indexes = await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'livetail_log'`.execute(database.db);
      expect(indexes.rows.map((r) => r.name)).toContain('livetail_log_id');
      expect(await store.readLogs(userId, { from: 'seq', seq: 0, limit: 100 })).toEqual(before);
      expect(before.logs.map((l) => [l.seq, l.log.command])).toEqual([[3, 'A2'], [4, 'A3']]);
      // `since` still finds a log by id, and the stream goes on where it was.
      expect((await store.readLogs(userId, { from: 'id', id: logs[1]!.id, limit: 100 })).logs.map((l) => l.log.command)).toEqual(['A3']);
      expect((await store.commit([{ kind: 'log', log: testLog(userId, 'A4') }]))[0]).toMatchObject({ seq: 5 });
    } finally {
      await database.close();
    }
  });
});
