import { type Kysely, type Transaction, sql } from 'kysely';
import type { JobEventData, LogEntry } from '../protocol/log-entry.js';
import { TUNABLES } from '../core/tunables.js';
import { type CommitEngine, commitTransaction } from './commit-transaction.js';
import {
  type CommitOutcome,
  type CommittedEvent,
  type IdempotencyKey,
  IdempotencyKeyTakenError,
  type IdempotencyRecord,
  type LogPage,
  type LogQuery,
  type LogStore,
  type LogStoreLimits,
  type RangeEnd,
  type StoredLog,
  type StreamOp,
  type WriteOp,
  isStreamOp,
} from './log-store.js';
import { migrateLogStore } from './migrations.js';

export interface LogRow {
  user_id: string;
  seq: number | string;
  id: string;
  ts: string;
  level: string;
  email_account_id: string;
  command: string;
  data: string;
}

/** The reads behind a page (readLogs), all made on one snapshot; a value or a promise of it. */
export interface SnapshotReads {
  head(userId: string): Awaitable<{ head_seq: number | string; cleared_seq: number | string } | undefined>;
  /** The user's newest logs after `afterSeq` (0: any), newest first. */
  newest(userId: string, afterSeq: number, limit: number): Awaitable<StoredLog[]>;
  /** The seq of the user's log with this id, if stored. */
  seqOf(userId: string, id: string): Awaitable<number | string | undefined>;
  /** The user's logs after `seq`, oldest first. */
  after(userId: string, seq: number, limit: number): Awaitable<StoredLog[]>;
  /**
   * The stored sizes (LOG_SIZE) of the user's logs after `afterSeq`, from the newest or from the oldest
   * end, as `[seq, bytes]`. May be lazy: the reader stops once it has enough, and an engine that can
   * then does not read on.
   */
  sizes(userId: string, afterSeq: number, limit: number, from: RangeEnd): Awaitable<Iterable<[seq: number, bytes: number]>>;
}

type Awaitable<T> = T | Promise<T>;

export interface StreamHead {
  headSeq: number;
  clearedSeq: number;
  jobSeq: number;
}

/**
 * What a byte budget (LogQuery's `maxBytes`) counts of a stored log: its data, command and account id,
 * in bytes. The engine measures them without handing the values over.
 */
export const LOG_SIZE = 'octet_length(data) + octet_length(command) + octet_length(email_account_id)';

/**
 * How many of `sizes` (in reading order) a page within `maxBytes` and `limit` holds: the first always,
 * then each while the sum stays within the budget. `more` when a size beyond them was seen, so ask for
 * `limit + 1` sizes to learn whether the page is the whole rest. Stops reading `sizes` at the first that
 * does not fit.
 */
export function fitting(sizes: Iterable<readonly [unknown, number]>, limit: number, maxBytes: number): { count: number; more: boolean } {
  let count = 0;
  let used = 0;
  for (const [, bytes] of sizes) {
    if (count === limit || (count > 0 && used + bytes > maxBytes)) return { count, more: true };
    used += bytes;
    count++;
  }
  return { count, more: false };
}

/** Rows (or users) per statement: at most 8 parameters each stays far below SQLite's and PostgreSQL's limits. */
const INSERT_CHUNK = 500;

/** Expired idempotency records a commit purges at least (more when it records more keys). */
const PURGE_AT_LEAST = 100;

type IdempotencyOp = Extract<WriteOp, { kind: 'idempotency' }>;
export type LogOp = Extract<WriteOp, { kind: 'log' }>;

/** A commit of only these takes the engine's commitLogs, when it has one. */
function isLogOp(op: WriteOp): op is LogOp {
  return op.kind === 'log';
}

/**
 * The log store in SQL through Kysely. SqliteLogStore and PostgresLogStore fill in only how a user's
 * stream head is locked and how a consistent snapshot is read; everything else is shared.
 */
export abstract class KyselyLogStore implements LogStore, CommitEngine {
  /** Which SQL the engine speaks: the migrations' few differences depend on it. */
  protected abstract readonly dialect: 'sqlite' | 'postgres';

  get name(): string {
    return this.dialect;
  }

  /** How long a recorded idempotency key holds, in ms. */
  protected readonly idempotencyWindowMs: number;

  constructor(
    protected readonly db: Kysely<any>,
    protected readonly limits: LogStoreLimits,
  ) {
    this.idempotencyWindowMs = limits.idempotencyWindowMs ?? TUNABLES.idempotencyWindowMs.default;
  }

  /**
   * Whether head rows must be locked explicitly (SELECT ... FOR UPDATE) so that writers of one user
   * commit one after another, which the sequence contract needs.
   */
  protected abstract readonly lockHeadRows: boolean;

  /** Runs `fn` with reads that all see one consistent snapshot. */
  protected abstract snapshot<T>(fn: (reads: SnapshotReads) => Promise<T>): Promise<T>;

  /** True for the engine's errors that mean it could not be reached or did not answer (see CommitEngine). */
  abstract isUnavailable(error: unknown): boolean;

  /** Engines whose COMMIT can be lost on the way (a network between) say how to look its outcome up. */
  transactionId?(trx: Transaction<any>): Promise<string>;
  status?(transactionId: string): Promise<CommitOutcome>;

  /**
   * An engine that can store a commit of only logs (all that ingest sends) more cheaply than the steps of
   * `commit` says how: the same heads locked, seqs, rows, retention and events, and the same failure
   * contract (commitTransaction's). PostgreSQL: one function call; SQLite: prepared statements.
   */
  protected commitLogs?(ops: LogOp[], signal?: AbortSignal, written?: () => void): Promise<CommittedEvent[]>;

  /** One at a time unless the engine says otherwise (see LogStore.commitsInFlight). */
  readonly commitsInFlight: number = 1;

  async migrate(): Promise<void> {
    await migrateLogStore(this.db, this.dialect);
  }

  /**
   * Every user id is stored as `toWellFormed()` gives it: the drivers would otherwise encode a lone
   * surrogate each their own way (better-sqlite3 as WTF-8 bytes read back as three U+FFFD, pg as one
   * U+FFFD), and the head rows read back would not match the ids the ops name. The ops' events keep the
   * ids as given. Validation refuses such ids at the edge; this keeps one that slips through (a job
   * event of the BullMQ bridge) from failing the other ops of its commit.
   */
  async commit(ops: WriteOp[], signal?: AbortSignal, written?: () => void): Promise<CommittedEvent[]> {
    if (ops.length === 0) return [];
    if (this.commitLogs && ops.every(isLogOp)) return this.commitLogs(ops, signal, written);
    return commitTransaction(this.db, this, signal, async (trx) => {
      const streamOps = ops.filter(isStreamOp);
      const userIds = [...new Set(streamOps.map(userOf))].sort();
      const heads = userIds.length > 0 ? await this.lockHeads(trx, userIds) : new Map<string, StreamHead>();
      // After the heads (every commit locks in that order: no deadlock), before any row is written: a
      // key already taken ends the commit here.
      const claims = ops.filter((op): op is IdempotencyOp => op.kind === 'idempotency');
      if (claims.length > 0) await this.recordKeys(trx, claims);
      const headOf = (userId: string): StreamHead => {
        const head = heads.get(userId);
        if (!head) throw new Error(`The store returned no stream head for user ${JSON.stringify(userId)}`);
        return head;
      };
      const events: CommittedEvent[] = [];
      let rows: LogRow[] = [];
      const clears = new Map<string, number>();
      const jobs = new Map<string, { userId: string; jobId: string; jobSeq: number; data: JobEventData }>();

      for (const op of streamOps) {
        const userId = userOf(op);
        const head = headOf(userId);
        if (op.kind === 'log') {
          const seq = ++head.headSeq;
          rows.push(toRow(op.log, userId, seq));
          events.push({ kind: 'log', userId: op.log.userId, seq, log: op.log });
        } else if (op.kind === 'clear') {
          const seq = ++head.headSeq;
          head.clearedSeq = seq;
          clears.set(userId, seq);
          rows = rows.filter((r) => r.user_id !== userId); // logs of this batch committed before the clear
          events.push({ kind: 'clear', userId: op.userId, seq, timestamp: op.timestamp });
        } else {
          const jobSeq = ++head.jobSeq;
          jobs.set(`${userId}\u0000${op.data.jobId}`, { userId, jobId: op.data.jobId, jobSeq, data: op.data });
          events.push({ kind: 'job', userId: op.userId, data: op.data });
        }
      }

      for (const [userId, seq] of clears) {
        await trx.deleteFrom('livetail_log').where('user_id', '=', userId).where('seq', '<', seq).execute();
      }
      if (rows.length > 0) await this.insertLogs(trx, rows);
      // After the last clear a user's log seqs are contiguous, so the retention cut is arithmetic. One
      // statement trims every user of the batch: a statement per user cost more than the rows it deleted.
      const cuts: Array<{ userId: string; cutoff: number }> = [];
      for (const userId of new Set(rows.map((r) => r.user_id))) {
        const cutoff = headOf(userId).headSeq - this.limits.maxLogsPerUser;
        if (cutoff > 0) cuts.push({ userId, cutoff });
      }
      if (cuts.length > 0) await this.trimLogs(trx, cuts);
      for (const job of jobs.values()) {
        await trx
          .insertInto('livetail_job')
          .values({ user_id: job.userId, job_id: job.jobId, job_seq: job.jobSeq, data: JSON.stringify(job.data) })
          .onConflict((oc) => oc.columns(['user_id', 'job_id']).doUpdateSet({ job_seq: job.jobSeq, data: JSON.stringify(job.data) }))
          .execute();
      }
      for (const userId of new Set([...jobs.values()].map((j) => j.userId))) {
        await this.trimJobs(trx, userId);
      }
      // Every head row exists (lockHeads made it): one statement writes them all back.
      if (userIds.length > 0) await this.writeHeads(trx, userIds.map((userId) => ({ userId, ...headOf(userId) })));
      return events;
    }, written);
  }

  /**
   * Records the commit's idempotency keys, in key order (so that commits of several keys lock them in
   * one order on PostgreSQL), taking over records past the window. A key recorded within the window
   * throws IdempotencyKeyTakenError with its record; on PostgreSQL a key another open transaction just
   * recorded waits for it first (the primary key's lock), and is taken if it commits. Then purges
   * expired records.
   */
  private async recordKeys(trx: Transaction<any>, claims: IdempotencyOp[]): Promise<void> {
    const sorted = [...claims].sort((a, b) => compareKeys(a.claim, b.claim));
    for (let i = 1; i < sorted.length; i++) {
      if (compareKeys(sorted[i - 1]!.claim, sorted[i]!.claim) === 0) {
        throw new Error(`The idempotency key ${JSON.stringify(sorted[i]!.claim.key)} is claimed twice in one commit`);
      }
    }
    const now = Date.now();
    const expired = now - this.idempotencyWindowMs;
    const recorded = new Set<string>();
    for (let i = 0; i < sorted.length; i += INSERT_CHUNK) {
      const rows = await trx
        .insertInto('livetail_idempotency')
        .values(
          sorted.slice(i, i + INSERT_CHUNK).map(({ claim, result }) => ({ scope: claim.scope, key: claim.key, body_hash: claim.bodyHash, result, created_at: now })),
        )
        .onConflict((oc) =>
          oc
            .columns(['scope', 'key'])
            .doUpdateSet((eb) => ({ body_hash: eb.ref('excluded.body_hash'), result: eb.ref('excluded.result'), created_at: eb.ref('excluded.created_at') }))
            .where('livetail_idempotency.created_at', '<', expired),
        )
        .returning(['scope', 'key'])
        .execute();
      for (const row of rows) recorded.add(keyId(row as IdempotencyKey));
    }
    const taken = sorted.find((op) => !recorded.has(keyId(op.claim)));
    if (taken) {
      // The conflict locked the row (PostgreSQL): no purge can remove it before this transaction ends.
      const row = await this.recordRow(trx, taken.claim).executeTakeFirstOrThrow();
      throw new IdempotencyKeyTakenError({ scope: taken.claim.scope, key: taken.claim.key }, { bodyHash: row.body_hash, result: row.result });
    }
    await this.purgeKeys(trx, expired, Math.max(PURGE_AT_LEAST, 2 * claims.length));
  }

  private recordRow(db: Kysely<any>, key: IdempotencyKey) {
    return db.selectFrom('livetail_idempotency').select(['body_hash', 'result']).where('scope', '=', key.scope).where('key', '=', key.key);
  }

  /**
   * Deletes up to `limit` records older than `expired`, oldest first. Purging at least as many as a
   * commit records keeps the table at about one window's keys, however long the process runs.
   */
  protected async purgeKeys(trx: Transaction<any>, expired: number, limit: number): Promise<void> {
    await sql`
      delete from livetail_idempotency where (scope, "key") in (
        select scope, "key" from livetail_idempotency where created_at < ${expired} order by created_at limit ${limit}
      )`.execute(trx);
  }

  async findIdempotency(key: IdempotencyKey): Promise<IdempotencyRecord | undefined> {
    const row = await this.recordRow(this.db, key).where('created_at', '>=', Date.now() - this.idempotencyWindowMs).executeTakeFirst();
    return row && { bodyHash: row.body_hash as string, result: row.result as string };
  }

  /** Inserts log rows (one statement per INSERT_CHUNK rows). PostgreSQL overrides it with one statement. */
  protected async insertLogs(trx: Transaction<any>, rows: LogRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx.insertInto('livetail_log').values(rows.slice(i, i + INSERT_CHUNK)).execute();
    }
  }

  /**
   * Deletes each user's logs up to its cutoff. One statement trims every user of the batch (SQLite plans
   * the OR of `(user_id = ? AND seq <= ?)` terms over the primary key); a statement per user cost more
   * than the rows it deleted.
   */
  protected async trimLogs(trx: Transaction<any>, cuts: Array<{ userId: string; cutoff: number }>): Promise<void> {
    for (let i = 0; i < cuts.length; i += INSERT_CHUNK) {
      const chunk = cuts.slice(i, i + INSERT_CHUNK);
      await trx
        .deleteFrom('livetail_log')
        .where((eb) => eb.or(chunk.map((c) => eb.and([eb('user_id', '=', c.userId), eb('seq', '<=', c.cutoff)]))))
        .execute();
    }
  }

  /** Writes the stream heads back (every row exists: lockHeads made it). */
  protected async writeHeads(trx: Transaction<any>, heads: Array<StreamHead & { userId: string }>): Promise<void> {
    for (let i = 0; i < heads.length; i += INSERT_CHUNK) {
      const values = heads.slice(i, i + INSERT_CHUNK).map((h) => ({ user_id: h.userId, head_seq: h.headSeq, cleared_seq: h.clearedSeq, job_seq: h.jobSeq }));
      await trx
        .insertInto('livetail_stream')
        .values(values)
        .onConflict((oc) =>
          oc.column('user_id').doUpdateSet((eb) => ({
            head_seq: eb.ref('excluded.head_seq'),
            cleared_seq: eb.ref('excluded.cleared_seq'),
            job_seq: eb.ref('excluded.job_seq'),
          })),
        )
        .execute();
    }
  }

  /** Returns the stream heads of `userIds` (sorted), creating missing ones, locked until the transaction ends. */
  private async lockHeads(trx: Transaction<any>, userIds: string[]): Promise<Map<string, StreamHead>> {
    await trx
      .insertInto('livetail_stream')
      .values(userIds.map((user_id) => ({ user_id })))
      .onConflict((oc) => oc.column('user_id').doNothing())
      .execute();
    const select = trx.selectFrom('livetail_stream').selectAll().where('user_id', 'in', userIds).orderBy('user_id');
    const rows = await (this.lockHeadRows ? select.forUpdate() : select).execute();
    return new Map(
      rows.map((r) => [r.user_id as string, { headSeq: Number(r.head_seq), clearedSeq: Number(r.cleared_seq), jobSeq: Number(r.job_seq) }]),
    );
  }

  private async trimJobs(trx: Transaction<any>, userId: string): Promise<void> {
    const boundary = await trx
      .selectFrom('livetail_job')
      .select('job_seq')
      .where('user_id', '=', userId)
      .orderBy('job_seq', 'desc')
      .offset(this.limits.maxJobsPerUser - 1)
      .limit(1)
      .executeTakeFirst();
    if (boundary) {
      await trx.deleteFrom('livetail_job').where('user_id', '=', userId).where('job_seq', '<', boundary.job_seq).execute();
    }
  }

  async readLogs(userId: string, query: LogQuery): Promise<LogPage> {
    return this.snapshot(async (reads) => {
      const head = await reads.head(userId);
      const headSeq = Number(head?.head_seq ?? 0);
      const clearedSeq = Number(head?.cleared_seq ?? 0);

      let after = 0;
      let truncated = false;
      if (query.from === 'id') {
        const found = await reads.seqOf(userId, query.id);
        truncated = found === undefined;
        after = found === undefined ? 0 : Number(found);
      } else if (query.from === 'seq') {
        after = query.seq;
      }
      // Which end of the range a page that cannot hold all of it keeps.
      const end = query.from === 'tail' || query.keep === 'newest' ? 'newest' : 'oldest';
      let count = query.limit;
      let hasMore: boolean | undefined;
      // A limit of 0 with a budget is the plain read: it only asks whether there are logs (hasMore).
      if (query.maxBytes !== undefined && query.limit > 0) {
        ({ count, more: hasMore } = fitting(await reads.sizes(userId, after, query.limit + 1, end), query.limit, query.maxBytes));
      }
      // Without a budget, one log more than the page says whether there are more.
      const wanted = hasMore === undefined ? count + 1 : count;
      const rows = wanted === 0 ? [] : end === 'newest' ? await reads.newest(userId, after, wanted) : await reads.after(userId, after, wanted);
      hasMore ??= rows.length > count;
      const logs = rows.slice(0, count);
      return { logs: end === 'newest' ? logs.reverse() : logs, truncated, headSeq, clearedSeq, hasMore };
    });
  }

  /** The reads of a page through Kysely, on `db` (a snapshot transaction). */
  protected kyselyReads(db: Kysely<any>): SnapshotReads {
    const logs = () => db.selectFrom('livetail_log').selectAll();
    return {
      head: (userId) => db.selectFrom('livetail_stream').select(['head_seq', 'cleared_seq']).where('user_id', '=', userId).executeTakeFirst(),
      newest: async (userId, afterSeq, limit) =>
        ((await logs().where('user_id', '=', userId).where('seq', '>', afterSeq).orderBy('seq', 'desc').limit(limit).execute()) as LogRow[]).map(fromRow),
      seqOf: async (userId, id) =>
        (await db.selectFrom('livetail_log').select('seq').where('user_id', '=', userId).where('id', '=', id).executeTakeFirst())?.seq,
      after: async (userId, seq, limit) =>
        ((await logs().where('user_id', '=', userId).where('seq', '>', seq).orderBy('seq', 'asc').limit(limit).execute()) as LogRow[]).map(fromRow),
      sizes: async (userId, afterSeq, limit, from) => {
        const rows = await db
          .selectFrom('livetail_log')
          .select(['seq', sql<number>`${sql.raw(LOG_SIZE)}`.as('bytes')])
          .where('user_id', '=', userId)
          .where('seq', '>', afterSeq)
          .orderBy('seq', from === 'newest' ? 'desc' : 'asc')
          .limit(limit)
          .execute();
        return rows.map((r) => [Number(r.seq), Number(r.bytes)] as [number, number]);
      },
    };
  }

  async latestJobs(userId: string, limit: number, maxBytes?: number): Promise<JobEventData[]> {
    const recent = () => this.db.selectFrom('livetail_job').where('user_id', '=', userId).orderBy('job_seq', 'desc');
    if (maxBytes !== undefined) {
      const sizes = await recent().select(sql<number>`octet_length(data)`.as('bytes')).limit(limit + 1).execute();
      limit = fitting(sizes.map((r) => [undefined, Number(r.bytes)] as const), limit, maxBytes).count;
      if (limit === 0) return [];
    }
    const rows = await recent().select('data').limit(limit).execute();
    return rows.map((r) => JSON.parse(r.data as string) as JobEventData);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}

/** The op's user id as the store keeps it (see commit). */
export function userOf(op: StreamOp): string {
  return (op.kind === 'log' ? op.log.userId : op.userId).toWellFormed();
}

function compareKeys(a: IdempotencyKey, b: IdempotencyKey): number {
  return a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function keyId(key: IdempotencyKey): string {
  return `${key.scope}\u0000${key.key}`;
}

/**
 * How a logs-only commit numbers its logs, on both engines: each log's seq is its user's head before the
 * commit plus its ordinal among that user's logs in the commit (1, 2, …, in the commit's order), and each
 * user's head moves on by its count. `userIds[i]` is the stored user id of `ops[i]`.
 */
export interface NumberedLogs {
  userIds: string[];
  ordinals: number[];
  /** Each user's count of logs in the commit, in first-seen order. */
  counts: Map<string, number>;
}

export function numberLogs(ops: LogOp[]): NumberedLogs {
  const userIds = new Array<string>(ops.length);
  const ordinals = new Array<number>(ops.length);
  const counts = new Map<string, number>();
  for (let i = 0; i < ops.length; i++) {
    const userId = userOf(ops[i]!);
    const ordinal = (counts.get(userId) ?? 0) + 1;
    counts.set(userId, ordinal);
    userIds[i] = userId;
    ordinals[i] = ordinal;
  }
  return { userIds, ordinals, counts };
}

export function toRow(log: LogEntry, userId: string, seq: number): LogRow {
  return {
    user_id: userId,
    seq,
    id: log.id,
    ts: log.timestamp,
    level: log.level,
    email_account_id: log.emailAccountId,
    command: log.command,
    data: JSON.stringify(log.data),
  };
}

/** Rebuilds the entry with the same key order as the live `log` message. */
function fromRow(row: LogRow): StoredLog {
  return {
    seq: Number(row.seq),
    log: {
      id: row.id,
      timestamp: row.ts,
      userId: row.user_id,
      emailAccountId: row.email_account_id,
      level: row.level as LogEntry['level'],
      command: row.command,
      data: JSON.parse(row.data) as LogEntry['data'],
    },
  };
}
