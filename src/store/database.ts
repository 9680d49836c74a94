import fs from 'node:fs';
import path from 'node:path';
import { CompiledQuery, type DatabaseConnection, Kysely, PostgresDialect, type PostgresPool, SqliteDialect, type SqliteDialectConfig, SqliteDriver, sql } from 'kysely';
import { once } from '../util/once.js';
import { type CachedSqlite, withStatementCache } from './sqlite-statement-cache.js';

/** The SQL database livetail keeps its tables in, through Kysely. */
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
    const db = new Kysely<any>({ dialect: new ImmediateSqliteDialect({ database: cached }) });
    return { kind: 'sqlite', db, sqlite: cached, close: once(() => db.destroy()) };
  }
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: config.url, max: 10, connectionTimeoutMillis: 5000 });
  // An idle client that loses its server emits 'error' on the pool; without a listener that crashes the process.
  pool.on('error', () => {});
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  await sql`select 1`.execute(db).catch(async (error: unknown) => {
    await db.destroy();
    throw error; // fail fast (and let the caller retry) when the server does not answer
  });
  return { kind: 'postgres', db, close: once(() => db.destroy()) };
}

/**
 * Runs livetail's queries on a pool the app owns: livetail never ends it (the app closes it after
 * `lt.close()`), and never touches what else lives in that database.
 */
export async function adoptPostgresPool(pool: PostgresPool): Promise<PostgresDatabaseHandle> {
  const borrowed: PostgresPool = { connect: () => pool.connect(), end: async () => {} };
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: borrowed }) });
  return { kind: 'postgres', db, close: once(() => db.destroy()) };
}

/**
 * SQLite through Kysely with write transactions that take the write lock when they begin
 * (`BEGIN IMMEDIATE`). A deferred transaction that read first and writes second fails at once with
 * SQLITE_BUSY (no busy timeout helps) when another connection to the file wrote in between — the app's
 * better-auth does, on its own connection. Taking the lock first makes such a writer wait its turn.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly driverConfig: SqliteDialectConfig) {
    super(driverConfig);
  }

  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.driverConfig);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * The database `createLivetail({ database })` was given: a URL livetail opens (and closes), the app's
 * pg.Pool (borrowed, never ended), or the app's better-sqlite3 Database, next to which livetail opens
 * a connection of its own to the same file (WAL lets the two read and write side by side).
 */
export async function connectDatabase(option: unknown): Promise<Database> {
  if (typeof option === 'string') return openDatabase(parseDatabaseUrl(option));
  if (isPostgresPool(option)) return adoptPostgresPool(option);
  if (isSqliteDatabase(option)) {
    if (option.memory || option.name === '' || option.name === ':memory:') {
      throw new TypeError('createLivetail: an in-memory SQLite database cannot be shared with livetail; give a database file (or its file: URL)');
    }
    return openDatabase({ kind: 'sqlite', path: option.name });
  }
  throw new TypeError('createLivetail: `database` must be a pg.Pool, a better-sqlite3 Database, or a postgres:// or file: URL');
}

/** `file:<path>` → SQLite, `postgres://…` / `postgresql://…` → PostgreSQL. */
export function parseDatabaseUrl(url: string): DatabaseConfig {
  if (url.startsWith('file:')) {
    const path = url.slice('file:'.length);
    if (path === '') throw new TypeError('createLivetail: the database URL file: has no path (expected file:./data/livetail.db)');
    return { kind: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  throw new TypeError(`createLivetail: unsupported database URL scheme (expected file:<path> or postgres://user@host/db)`);
}

function isPostgresPool(value: unknown): value is PostgresPool {
  const v = value as { connect?: unknown; query?: unknown; totalCount?: unknown } | null;
  return typeof v?.connect === 'function' && typeof v.query === 'function' && typeof v.totalCount === 'number';
}

function isSqliteDatabase(value: unknown): value is { name: string; memory: boolean } {
  const v = value as { prepare?: unknown; pragma?: unknown; name?: unknown } | null;
  return typeof v?.prepare === 'function' && typeof v.pragma === 'function' && typeof v.name === 'string';
}
