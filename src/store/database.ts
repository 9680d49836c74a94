import fs from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { once } from '../util/once.js';
import { type CachedSqlite, withStatementCache } from './sqlite-statement-cache.js';

/** The SQL database livetail and better-auth share: one Kysely instance per process. */
export type Database = SqliteDatabaseHandle | PostgresDatabaseHandle;

interface DatabaseHandle {
  readonly db: Kysely<any>;
  /** Closes the connection or pool. Idempotent. */
  close(): Promise<void>;
}

export interface SqliteDatabaseHandle extends DatabaseHandle {
  readonly kind: 'sqlite';
  /**
   * The connection under Kysely, with its statement cache: SqliteLogStore's hot reads run prepared
   * statements on it directly, while they hold Kysely's connection.
   */
  readonly sqlite: CachedSqlite;
}

export interface PostgresDatabaseHandle extends DatabaseHandle {
  readonly kind: 'postgres';
}

export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/**
 * Opens the database named by DATABASE_URL. SQLite runs in WAL mode with synchronous=NORMAL:
 * a committed write survives a crash of the process (what "a restart loses nothing" needs);
 * it may be lost only if the operating system itself crashes before the next checkpoint.
 */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  if (config.kind === 'sqlite') {
    const { default: BetterSqlite3 } = await import('better-sqlite3');
    if (config.path !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(config.path)), { recursive: true });
    const sqlite = new BetterSqlite3(config.path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    const cached = withStatementCache(sqlite);
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: cached }) });
    return { kind: 'sqlite', db, sqlite: cached, close: once(() => db.destroy()) };
  }
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: config.url, max: 10, connectionTimeoutMillis: 5000 });
  // An idle client that loses its server emits 'error' on the pool; without a listener that crashes the process.
  pool.on('error', () => {});
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  await sql`select 1`.execute(db); // fail fast (and let main retry) when the server does not answer
  return { kind: 'postgres', db, close: once(() => db.destroy()) };
}
