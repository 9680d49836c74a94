import { openDatabase } from '../../src/store/database.js';
import type { LogStore, WriteOp } from '../../src/store/log-store.js';
import { PostgresLogStore } from '../../src/store/postgres-log-store.js';
import { SqliteLogStore } from '../../src/store/sqlite-log-store.js';
import { createUuidV7 } from '../../src/logs/uuid-v7.js';

/** Entries per transaction while filling: large, so the fill itself is quick. */
const FILL_COMMIT = 5000;

/**
 * Fills a livetail database to its retention limit (`perUser` logs for each user) through livetail's own
 * store, so that W5 measures ingest in the steady state of a server that has run for a while: every
 * commit also trims each user's oldest logs. The running server reads stream heads from the database
 * in every commit, so writing beside it from this process is safe.
 */
export async function fillToRetention(databaseUrl: string, userIds: readonly string[], perUser: number): Promise<number> {
  const database = await openDatabase(databaseUrl.startsWith('file:') ? { kind: 'sqlite', path: databaseUrl.slice('file:'.length) } : { kind: 'postgres', url: databaseUrl });
  try {
    const limits = { maxLogsPerUser: perUser, maxJobsPerUser: 50 };
    const store: LogStore = database.kind === 'sqlite' ? new SqliteLogStore(database, limits) : new PostgresLogStore(database.db, limits);
    const timestamp = new Date().toISOString();
    const newId = createUuidV7();
    // The shape and size of the benchmark's own entries (bench/lib/poster.ts), so the rows compare.
    const data = { raw: 'A141 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)', parsed: { sequence: '1:*', items: 5 }, response: 'A141 OK UID FETCH completed (0.004 secs)', duration: 12, error: null };
    let written = 0;
    let ops: WriteOp[] = [];
    for (let n = 0; n < perUser; n++) {
      for (const userId of userIds) {
        ops.push({ kind: 'log', log: { id: newId(), timestamp, userId, emailAccountId: 'acct-0001', level: 'info', command: 'UID FETCH', data } });
        if (ops.length === FILL_COMMIT) {
          written += (await store.commit(ops)).length;
          ops = [];
        }
      }
    }
    if (ops.length > 0) written += (await store.commit(ops)).length;
    return written;
  } finally {
    await database.close();
  }
}
