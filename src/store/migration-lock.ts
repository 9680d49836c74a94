import { sql } from 'kysely';
import type { Database } from './database.js';

/** An arbitrary constant identifying livetail's migration lock among PostgreSQL advisory locks. */
const LOCK_KEY = 7_404_112_233;
/** How often a node waiting for another's migrations asks for the lock again. */
const RETRY_MS = 100;

/**
 * Runs `fn` while holding a PostgreSQL advisory lock, so nodes that start together migrate one after
 * another (better-auth's getMigrations has no lock of its own). On SQLite, one process owns the file.
 * The lock is asked for again and again rather than waited for in one statement: every statement has
 * STORE_TIMEOUT_MS, and another node's migrations may take longer than that.
 */
export async function withMigrationLock<T>(database: Database, fn: () => Promise<T>): Promise<T> {
  if (database.kind !== 'postgres') return fn();
  return database.db.connection().execute(async (conn) => {
    for (;;) {
      const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${LOCK_KEY}) as locked`.execute(conn);
      if (rows[0]?.locked) break;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
    try {
      return await fn();
    } finally {
      await sql`select pg_advisory_unlock(${LOCK_KEY})`.execute(conn);
    }
  });
}
