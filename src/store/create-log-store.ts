import type { Database } from './database.js';
import type { LogStore, LogStoreLimits } from './log-store.js';
import { PostgresLogStore } from './postgres-log-store.js';
import { SqliteLogStore } from './sqlite-log-store.js';

/** The LogStore for the database DATABASE_URL opened: SQLite or PostgreSQL. */
export function createLogStore(database: Database, limits: LogStoreLimits): LogStore {
  return database.kind === 'sqlite' ? new SqliteLogStore(database, limits) : new PostgresLogStore(database.db, limits);
}
