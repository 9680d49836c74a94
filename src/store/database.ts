import fs from 'node:fs';
import path from 'node:path';
import { CompiledQuery, type DatabaseConnection, Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient, SqliteDialect, type SqliteDialectConfig, SqliteDriver, sql } from 'kysely';
import type pg from 'pg';
import { StoreUnavailableError } from './log-store.js';
import { once } from '../util/once.js';
import { type CachedSqlite, withStatementCache } from './sqlite-statement-cache.js';
import { type WalCheckpointer, startWalCheckpointer } from './wal-checkpointer.js';

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
  /** The worker that runs the file's WAL checkpoints (none for an in-memory database). */
  readonly checkpointer?: WalCheckpointer;
}

export interface PostgresDatabaseHandle extends DatabaseHandle {
  readonly kind: 'postgres';
}

export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export interface DatabaseOptions {
  /**
   * PostgreSQL: how long a connection attempt, a statement (server-side statement_timeout) or a
   * transaction left idle by a vanished client may take before it fails; the client gives up on a
   * statement 1 s later if the server does not answer at all. STORE_TIMEOUT_MS; default 5000.
   */
  timeoutMs?: number;
}

/**
 * Opens the database named by DATABASE_URL. SQLite runs in WAL mode with synchronous=NORMAL:
 * a committed write survives a crash of the process (what "a restart loses nothing" needs);
 * it may be lost only if the operating system itself crashes before the next checkpoint. Checkpoints
 * run in a worker thread (WalCheckpointer), not in the commit that crosses SQLite's threshold.
 */
export async function openDatabase(config: DatabaseConfig, options: DatabaseOptions = {}): Promise<Database> {
  if (config.kind === 'sqlite') {
    const { default: BetterSqlite3 } = await import('better-sqlite3');
    if (config.path !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(config.path)), { recursive: true });
    const sqlite = new BetterSqlite3(config.path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    const checkpointer = config.path === ':memory:' ? undefined : startWalCheckpointer(sqlite);
    const cached = withStatementCache(sqlite);
    const db = new Kysely<any>({ dialect: new ImmediateSqliteDialect({ database: cached }) });
    const close = async () => {
      await checkpointer?.close();
      await db.destroy();
      // Kysely closes the connection only if it ever used it; closing again is a no-op.
      cached.close();
    };
    return { kind: 'sqlite', db, sqlite: cached, checkpointer, close: once(close) };
  }
  const { default: pgModule } = await import('pg');
  const timeoutMs = options.timeoutMs ?? 5000;
  const pool = new pgModule.Pool({
    connectionString: config.url,
    max: 10,
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    query_timeout: timeoutMs + 1000,
    // A transaction whose client vanished without closing its connection (a dropped network) would keep
    // its row locks, and every later write of those users would wait for them.
    idle_in_transaction_session_timeout: timeoutMs,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener that crashes the process.
  pool.on('error', () => {});
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: failSafeClients(pool) }) });
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
export async function adoptPostgresPool(pool: pg.Pool): Promise<PostgresDatabaseHandle> {
  const borrowed: PostgresPool = { ...failSafeClients(pool), end: async () => {} };
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
export async function connectDatabase(option: unknown, options: DatabaseOptions = {}): Promise<Database> {
  if (typeof option === 'string') return openDatabase(parseDatabaseUrl(option), options);
  if (isPostgresPool(option)) return adoptPostgresPool(option);
  if (isSqliteDatabase(option)) {
    if (option.memory || option.name === '' || option.name === ':memory:') {
      throw new TypeError('createLivetail: an in-memory SQLite database cannot be shared with livetail; give a database file (or its file: URL)');
    }
    return openDatabase({ kind: 'sqlite', path: option.name }, options);
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

function isPostgresPool(value: unknown): value is pg.Pool {
  const v = value as { connect?: unknown; query?: unknown; totalCount?: unknown } | null;
  return typeof v?.connect === 'function' && typeof v.query === 'function' && typeof v.totalCount === 'number';
}

function isSqliteDatabase(value: unknown): value is { name: string; memory: boolean } {
  const v = value as { prepare?: unknown; pragma?: unknown; name?: unknown } | null;
  return typeof v?.prepare === 'function' && typeof v.pragma === 'function' && typeof v.name === 'string';
}

/**
 * The pool as Kysely sees it, made safe for a database that goes away: every query and connection
 * attempt that fails because the server is not there or does not answer fails with
 * StoreUnavailableError (the log store, better-auth and readiness all see the same); a client's
 * connection error never ends the process; and a client on which a query timed out (query_timeout) is
 * closed when it is released instead of going back to the pool (pg gives up waiting for such a query but
 * leaves it on the connection, so every later query of that client would wait behind it).
 */
function failSafeClients(pool: pg.Pool): PostgresPool {
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    // pg-pool listens for a client's 'error' only while it is idle. A connection reset under a running
    // query fails that query, and also emits 'error' on the client, which without a listener would end
    // the process; the client is unusable afterwards and the pool drops it when it is released.
    client.on('error', () => {});
    let timedOut = false;
    const query = (...args: Parameters<pg.PoolClient['query']>) => {
      const result = (client.query as (...a: unknown[]) => unknown)(...args);
      if (!(result instanceof Promise)) return result;
      return result.catch((error: unknown) => {
        if ((error as Error | undefined)?.message === 'Query read timeout') timedOut = true;
        throw unavailableOr(error);
      });
    };
    return { query, release: (destroy) => client.release(destroy || timedOut) } as PostgresPoolClient;
  };
  return {
    connect: async () => {
      const client = await pool.connect().catch((error: unknown) => {
        throw unavailableOr(error);
      });
      let kyselyClient = wrapped.get(client);
      if (!kyselyClient) wrapped.set(client, (kyselyClient = wrap(client)));
      return kyselyClient;
    },
    end: () => pool.end(),
  };
}

/**
 * Server errors (SQLSTATE) that mean the server is going away, out of resources or too slow, not that it
 * refused the statement: connection exceptions (08), shutdown and cannot-connect-now (57P0x), statement
 * timeout (57014), insufficient resources (53), lock timeout (55P03), system errors (58), and the
 * idle-in-transaction timeout (25P03).
 */
const UNAVAILABLE_SQLSTATE = /^(08|57P0|57014|53|55P03|58|25P03)/;
/** What pg and pg-pool throw when there is no usable connection (these carry no SQLSTATE). */
const NO_CONNECTION = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|after calling end on the pool/;

/** `error` as StoreUnavailableError when it says the server is not there or does not answer; else as it is. */
function unavailableOr(error: unknown): unknown {
  const e = error as { code?: unknown; severity?: unknown; message?: unknown } | undefined;
  let unavailable = typeof e?.message === 'string' && NO_CONNECTION.test(e.message);
  if (typeof e?.code === 'string') {
    if (e.severity !== undefined) unavailable = UNAVAILABLE_SQLSTATE.test(e.code); // the server's answer
    else if (/^E[A-Z0-9_]+$/.test(e.code)) unavailable = true; // a socket error: ECONNREFUSED, ECONNRESET, ETIMEDOUT...
  }
  if (!unavailable) return error;
  return new StoreUnavailableError(`The database did not answer: ${String(e?.message ?? error)}`, { cause: error });
}
