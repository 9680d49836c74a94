import { sql } from 'kysely';
import type { Database } from './database.js';

/** An arbitrary constant identifying livetail's migration lock among PostgreSQL advisory locks. */
const LOCK_KEY = 7_404_112_233;

/**
 * Runs `fn` while holding a PostgreSQL advisory lock, so nodes that start together migrate one after
 * another (better-auth's getMigrations has no lock of its own). On SQLite, one process owns the file.
 */
export async function withMigrationLock<T>(database: Database, fn: () => Promise<T>): Promise<T> {
  if (database.kind !== 'postgres') return fn();
  return database.db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${LOCK_KEY})`.execute(conn);
    try {
      return await fn();
    } finally {
      await sql`select pg_advisory_unlock(${LOCK_KEY})`.execute(conn);
    }
  });
}
