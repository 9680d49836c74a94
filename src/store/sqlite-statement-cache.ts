import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** better-sqlite3 behind a statement cache: what Kysely's driver takes, and what the store's raw reads use. */
export interface CachedSqlite extends SqliteDatabase {
  prepare(sql: string): BetterSqlite3.Statement;
}

/**
 * Kysely's SQLite driver prepares every statement anew, and preparing costs about as much as running a
 * small query: a socket's join runs five statements, a commit a handful. This wraps better-sqlite3 so a
 * statement is prepared once per distinct SQL text and reused (most recently used first out of `max`).
 * better-sqlite3 runs statements synchronously, so a cached statement is never in use twice at once.
 */
export function withStatementCache(db: BetterSqlite3.Database, max = 500): CachedSqlite {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement) {
        statements.delete(sql); // re-insert below: Map order is the recency order
      } else {
        statement = db.prepare(sql);
        if (statements.size >= max) statements.delete(statements.keys().next().value!);
      }
      statements.set(sql, statement);
      return statement;
    },
    close() {
      statements.clear();
      db.close();
    },
  };
}
