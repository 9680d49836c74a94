import type { JobEventData, LogEntry } from '../protocol/log-entry.js';
import { type EngineTransaction, type EngineTransactions, commitEngineTransaction } from './commit-transaction.js';
import type { SqliteDatabaseHandle } from './database.js';
import { KyselyLogStore, LOG_SIZE, type LogOp, type SnapshotReads, fitting, numberLogs } from './kysely-log-store.js';
import type { CommittedEvent, IdempotencyKey, IdempotencyRecord, LogStoreLimits, StoredLog } from './log-store.js';
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
 *
 * A commit of logs only (every POST /api/logs without an Idempotency-Key, grouped or not) writes them
 * with cached prepared statements too, in a transaction of its own on Kysely's connection (held, like
 * the reads: BEGIN IMMEDIATE, COMMIT, ROLLBACK as prepared statements) with commitTransaction's rollback,
 * deadline and in-doubt handling. Building and compiling its five Kysely statements cost about 400 µs
 * of CPU per commit, and Kysely's transaction builder about 10 µs more, against about 40 µs for
 * SQLite's own work (one log). Any other commit (clears, job events, idempotency keys) takes
 * KyselyLogStore's general path.
 */
export class SqliteLogStore extends KyselyLogStore {
  protected readonly dialect = 'sqlite';
  protected readonly lockHeadRows = false;
  private readonly sqlite: CachedSqlite;
  private readonly reads: SnapshotReads;
  private readonly writes: LogWrites;
  private readonly transactions: EngineTransactions = { start: () => this.begin() };

  constructor(database: Pick<SqliteDatabaseHandle, 'db' | 'sqlite'>, limits: LogStoreLimits) {
    super(database.db, limits);
    this.sqlite = database.sqlite;
    // Prepared on first use (the tables exist only after migrate()), then held: a statement stays valid
    // for the connection's life, and the cache's recency bookkeeping on every call is then skipped.
    const statement = (sql: string) => {
      let prepared: ReturnType<CachedSqlite['prepare']> | undefined;
      return () => (prepared ??= this.sqlite.prepare(sql));
    };
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
    // The head row created if missing and moved past the commit's logs in one statement: the row's page
    // is written by the commit anyway, and one statement costs a third of three (create, read, write back).
    const advanceHead = statement(
      'insert into livetail_stream (user_id, head_seq) values (?, ?) on conflict (user_id) do update set head_seq = head_seq + excluded.head_seq returning head_seq',
    );
    const insertLog = statement('insert into livetail_log (user_id, seq, id, ts, level, email_account_id, command, data) values (?, ?, ?, ?, ?, ?, ?, ?)');
    const trim = statement('delete from livetail_log where user_id = ? and seq <= ?');
    this.writes = {
      advanceHead: (userId, count) => Number((advanceHead().get(userId, count) as { head_seq: number }).head_seq),
      insert: (userId, seq, log) => {
        insertLog().run(userId, seq, log.id, log.timestamp, log.level, log.emailAccountId, log.command, JSON.stringify(log.data));
      },
      trim: (userId, cutoff) => trim().run(userId, cutoff),
    };
  }

  protected override commitLogs(ops: LogOp[], signal?: AbortSignal, written?: () => void): Promise<CommittedEvent[]> {
    return commitEngineTransaction(this.transactions, this, signal, async () => this.writeLogs(ops), written);
  }

  /**
   * A write transaction (BEGIN IMMEDIATE, as the dialect's) on Kysely's connection, held until it ends:
   * nothing else (the store's reads, better-auth on a shared handle) runs on the connection meanwhile.
   */
  private begin(): Promise<EngineTransaction> {
    return new Promise((opened, failed) => {
      this.db
        .connection()
        .execute(
          () =>
            new Promise<void>((release) => {
              this.sqlite.prepare('begin immediate').run(); // a throw rejects: the connection is released
              let open = true;
              const end = (statement: string) => {
                if (!open) return;
                open = false;
                try {
                  this.sqlite.prepare(statement).run();
                } catch (error) {
                  if (statement === 'commit') open = true; // still open: rollback ends it
                  throw error;
                } finally {
                  if (!open) release();
                }
              };
              opened({ commit: async () => end('commit'), rollback: async () => end('rollback') });
            }),
        )
        .catch(failed);
    });
  }

  /**
   * The logs of a commit as KyselyLogStore.commit writes them, with the same result: each user's head
   * row (created if missing) advanced by its logs in the commit, in user order; the rows with the seqs
   * after the old head, in the commit's order; then the retention cut (a user's seqs are contiguous
   * after its last clear, so the cut is arithmetic). Runs inside the transaction.
   */
  private writeLogs(ops: LogOp[]): CommittedEvent[] {
    const { userIds, ordinals, counts } = numberLogs(ops);
    // Each user's head before this commit (heads advanced in user order, as every writer locks them).
    const before = new Map<string, number>();
    for (const userId of [...counts.keys()].sort()) {
      const count = counts.get(userId)!;
      before.set(userId, this.writes.advanceHead(userId, count) - count);
    }
    const events = ops.map((op, i): CommittedEvent => {
      const seq = before.get(userIds[i]!)! + ordinals[i]!;
      this.writes.insert(userIds[i]!, seq, op.log);
      return { kind: 'log', userId: op.log.userId, seq, log: op.log };
    });
    // After the inserts: a commit of more than MAX_LOGS_PER_USER logs of one user cuts some of its own.
    for (const [userId, head] of before) {
      const cutoff = head + counts.get(userId)! - this.limits.maxLogsPerUser;
      if (cutoff > 0) this.writes.trim(userId, cutoff);
    }
    return events;
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

/** The statements of a logs-only commit (see SqliteLogStore.commitLogs). */
interface LogWrites {
  /** Moves the user's head `count` seqs on (its head row created first if missing) and returns the new head. */
  advanceHead(userId: string, count: number): number;
  insert(userId: string, seq: number, log: LogEntry): void;
  /** Deletes the user's logs up to `cutoff` (retention). */
  trim(userId: string, cutoff: number): void;
}

const LOG_COLUMNS = 'seq, id, ts, level, email_account_id, command, data';
type LogColumns = [seq: number, id: string, ts: string, level: LogEntry['level'], emailAccountId: string, command: string, data: string];

/** A stored log from its columns, with the same key order as the live `log` message. */
function fromColumns(userId: string, [seq, id, ts, level, emailAccountId, command, data]: LogColumns): StoredLog {
  return { seq, log: { id, timestamp: ts, userId, emailAccountId, level, command, data: JSON.parse(data) as LogEntry['data'] } };
}
