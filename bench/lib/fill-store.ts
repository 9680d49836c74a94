import { createLogStore } from '../../src/store/create-log-store.js';
import { openDatabase } from '../../src/store/database.js';
import type { WriteOp } from '../../src/store/log-store.js';
import { createUuidV7 } from '../../src/logs/uuid-v7.js';
import { benchLog } from './poster.js';

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
    const store = createLogStore(database, { maxLogsPerUser: perUser, maxJobsPerUser: 50 });
    const timestamp = new Date().toISOString();
    const newId = createUuidV7();
    let written = 0;
    let ops: WriteOp[] = [];
    for (let n = 0; n < perUser; n++) {
      for (const userId of userIds) {
        // The benchmark's own entries (without a send time), so the rows compare with the ones W5 posts.
        ops.push({ kind: 'log', log: { id: newId(), timestamp, ...benchLog(userId) } });
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
