import type { JobEventData, LogEntry } from '../protocol/log-entry.js';
import type { SqliteDatabaseHandle } from './database.js';
import { KyselyLogStore, LOG_SIZE, type SnapshotReads, fitting } from './kysely-log-store.js';
import type { IdempotencyKey, IdempotencyRecord, LogStoreLimits, StoredLog } from './log-store.js';
import type { CachedSqlite } from './sqlite-statement-cache.js';

/**
 * LogStore on SQLite (better-sqlite3 through Kysely). One connection runs one transaction at a time,
 * so commit order is sequence order without row locks.
 *
 * Reads (a socket's initial-logs and initial-jobs, catch-up, GET /api/logs) skip Kysely's query building
 * and run cached prepared statements on the same connection: building and compiling the queries cost
 * several times what SQLite spends answering them (about 130 vs 20 µs for a join's reads). They first
 * take Kysely's connection, so they never run inside a transaction of the store or of better-auth that
 * is still open on it, and never see its uncommitted rows.
 */
export class SqliteLogStore extends KyselyLogStore {
  protected readonly dialect = 'sqlite';
  protected readonly lockHeadRows = false;
  private readonly sqlite: CachedSqlite;
  private readonly reads: SnapshotReads;

  constructor(database: Pick<SqliteDatabaseHandle, 'db' | 'sqlite'>, limits: LogStoreLimits) {
    super(database.db, limits);
    this.sqlite = database.sqlite;
    const statement = (sql: string) => () => this.sqlite.prepare(sql);
    const head = statement('select head_seq, cleared_seq from livetail_stream where user_id = ?');
    const seqOf = statement('select seq from livetail_log where user_id = ? and id = ?');
    // Rows as arrays, without the user id the caller knows: better-sqlite3 builds row objects far more
    // slowly than JavaScript does (about half of a 100-log read).
    const newest = statement(`select ${LOG_COLUMNS} from livetail_log where user_id = ? and seq > ? order by seq desc limit ?`);
    const after = statement(`select ${LOG_COLUMNS} from livetail_log where user_id = ? and seq > ? order by seq asc limit ?`);
    const newestSizes = statement(`select seq, ${LOG_SIZE} from livetail_log where user_id = ? and seq > ? order by seq desc limit ?`);
    const afterSizes = statement(`select seq, ${LOG_SIZE} from livetail_log where user_id = ? and seq > ? order by seq asc limit ?`);
    const logs = (userId: string, rows: unknown[]) => (rows as LogColumns[]).map((row) => fromColumns(userId, row));
    this.reads = {
      head: (userId) => head().get(userId) as { head_seq: number; cleared_seq: number } | undefined,
      newest: (userId, afterSeq, limit) => logs(userId, newest().raw(true).all(userId, afterSeq, limit)),
      seqOf: (userId, id) => (seqOf().get(userId, id) as { seq: number } | undefined)?.seq,
      after: (userId, seq, limit) => logs(userId, after().raw(true).all(userId, seq, limit)),
      // Stepped lazily: SQLite reads the rows' values to measure them, and stops when the reader does.
      sizes: (userId, afterSeq, limit, from) =>
        (from === 'newest' ? newestSizes() : afterSizes()).raw(true).iterate(userId, afterSeq, limit) as Iterable<[number, number]>,
    };
  }

  /**
   * Busy (another process holds the lock past busy_timeout), I/O errors, a full disk, a file that cannot
   * be opened or written, or a connection that is closed: the store cannot take writes now.
   */
  isUnavailable(error: unknown): boolean {
    const e = error as { code?: unknown; message?: unknown } | undefined;
    if (typeof e?.code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|NOMEM|PROTOCOL)/.test(e.code)) return true;
    return typeof e?.message === 'string' && /database connection is not open|driver has already been destroyed/.test(e.message);
  }

  /** One read transaction (a WAL snapshot) while holding Kysely's connection. */
  protected snapshot<T>(fn: (reads: SnapshotReads) => Promise<T>): Promise<T> {
    return this.db.connection().execute(async () => {
      this.sqlite.prepare('begin').run();
      try {
        return await fn(this.reads);
      } finally {
        this.sqlite.prepare('commit').run();
      }
    });
  }

  /** A cached statement, as for the reads: a publisher's every batch asks. */
  override findIdempotency(key: IdempotencyKey): Promise<IdempotencyRecord | undefined> {
    return this.db.connection().execute(async () => {
      const row = this.sqlite
        .prepare('select body_hash, result from livetail_idempotency where scope = ? and "key" = ? and created_at >= ?')
        .get(key.scope, key.key, Date.now() - this.idempotencyWindowMs) as { body_hash: string; result: string } | undefined;
      return row && { bodyHash: row.body_hash, result: row.result };
    });
  }

  override latestJobs(userId: string, limit: number, maxBytes?: number): Promise<JobEventData[]> {
    return this.db.connection().execute(async () => {
      if (maxBytes !== undefined) {
        const sizes = this.sqlite.prepare('select job_seq, octet_length(data) from livetail_job where user_id = ? order by job_seq desc limit ?');
        limit = fitting(sizes.raw(true).iterate(userId, limit + 1) as Iterable<[number, number]>, limit, maxBytes).count;
      }
      const rows = this.sqlite.prepare('select data from livetail_job where user_id = ? order by job_seq desc limit ?').all(userId, limit);
      return (rows as Array<{ data: string }>).map((r) => JSON.parse(r.data) as JobEventData);
    });
  }
}

const LOG_COLUMNS = 'seq, id, ts, level, email_account_id, command, data';
type LogColumns = [seq: number, id: string, ts: string, level: LogEntry['level'], emailAccountId: string, command: string, data: string];

/** A stored log from its columns, with the same key order as the live `log` message. */
function fromColumns(userId: string, [seq, id, ts, level, emailAccountId, command, data]: LogColumns): StoredLog {
  return { seq, log: { id, timestamp: ts, userId, emailAccountId, level, command, data: JSON.parse(data) as LogEntry['data'] } };
}
