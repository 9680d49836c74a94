import { type Transaction, sql } from 'kysely';
import { KyselyLogStore, type LogOp, type LogRow, type SnapshotReads, type StreamHead, numberLogs, toRow } from './kysely-log-store.js';
import { commitTransaction } from './commit-transaction.js';
import { type CommitOutcome, type CommittedEvent, StoreUnavailableError } from './log-store.js';

/** What Kysely throws once its pool is gone or a connection of it was discarded. */
const NO_CONNECTION = /driver has already been destroyed|connection has been discarded/;

/**
 * LogStore on PostgreSQL. Sequence numbers come from a per-user head row locked FOR UPDATE for the
 * whole commit: a second writer of the same user (on any node) waits for the first to commit, so a
 * user's seqs become visible in the order they were handed out, and a reader resuming after seq N can
 * never miss a smaller seq committed later. Heads are locked in user-id order to avoid deadlocks.
 *
 * Bulk writes pass one array per column and `unnest` them: one statement with eight parameters whatever
 * the batch size, instead of thousands of parameters for the server to parse and bind.
 *
 * A commit of only logs (all that ingest sends) is one call of livetail_append_logs (migration 0004),
 * which takes those steps on the server: three round trips (BEGIN, the call, COMMIT) instead of eight,
 * each of which waited for the server and then for a turn of a busy event loop.
 *
 * A COMMIT whose answer is lost (the connection dropped on the way) is looked up afterwards by its
 * transaction id with pg_xact_status, which PostgreSQL provides for exactly that.
 */
export class PostgresLogStore extends KyselyLogStore {
  protected readonly dialect = 'postgres';
  protected readonly lockHeadRows = true;
  /**
   * Two: each commit runs on a pool connection of its own, and the next one's head locks wait for this
   * one's COMMIT where they share a user (see LogStore.written), so while PostgreSQL commits one, this
   * process prepares and sends the next and answers the last.
   */
  override readonly commitsInFlight = 2;

  protected snapshot<T>(fn: (reads: SnapshotReads) => Promise<T>): Promise<T> {
    return this.db.transaction().setIsolationLevel('repeatable read').execute((trx) => fn(this.kyselyReads(trx)));
  }

  /** The driver (database.ts) already reports a server that does not answer as StoreUnavailableError. */
  isUnavailable(error: unknown): boolean {
    return error instanceof StoreUnavailableError || (error instanceof Error && NO_CONNECTION.test(error.message));
  }

  /** The id each appendLogs transaction was told with its answer, so that asking it costs no round trip. */
  private readonly appendedIn = new WeakMap<Transaction<any>, string>();

  protected override commitLogs(ops: LogOp[], signal?: AbortSignal, written?: () => void): Promise<CommittedEvent[]> {
    return commitTransaction(this.db, this, signal, (trx) => this.appendLogs(trx, ops), written);
  }

  /** The logs of a commit through livetail_append_logs, inside its transaction. */
  private async appendLogs(trx: Transaction<any>, ops: LogOp[]): Promise<CommittedEvent[]> {
    // Each row's seq is its ordinal among its user's logs here (numberLogs); the server adds the user's head.
    const { userIds, ordinals, counts } = numberLogs(ops);
    const rows = ops.map((op, i) => toRow(op.log, userIds[i]!, ordinals[i]!));
    const column = <K extends keyof LogRow>(key: K) => rows.map((r) => r[key]);
    const { rows: heads } = await sql<{ stream_user: string; old_head: string; xact: string }>`
      select stream_user, old_head, xact from livetail_append_logs(
        ${[...counts.keys()]}::text[], ${[...counts.values()]}::bigint[], ${this.limits.maxLogsPerUser}::bigint,
        ${userIds}::text[], ${ordinals}::bigint[], ${column('id')}::text[], ${column('ts')}::text[],
        ${column('level')}::text[], ${column('email_account_id')}::text[], ${column('command')}::text[], ${column('data')}::text[]
      )`.execute(trx);
    const before = new Map(heads.map((h) => [h.stream_user, Number(h.old_head)]));
    if (heads[0]) this.appendedIn.set(trx, heads[0].xact);
    return ops.map((op, i) => {
      const head = before.get(userIds[i]!);
      if (head === undefined) throw new Error(`The store returned no stream head for user ${JSON.stringify(userIds[i])}`);
      return { kind: 'log', userId: op.log.userId, seq: head + ordinals[i]!, log: op.log };
    });
  }

  override async transactionId(trx: Transaction<any>): Promise<string> {
    const known = this.appendedIn.get(trx);
    if (known !== undefined) return known;
    const { rows } = await sql<{ id: string }>`select pg_current_xact_id()::text as id`.execute(trx);
    return rows[0]!.id;
  }

  override async status(transactionId: string): Promise<CommitOutcome> {
    const { rows } = await sql<{ status: string | null }>`select pg_xact_status(${transactionId}::xid8) as status`.execute(this.db);
    const status = rows[0]?.status;
    return status === 'committed' ? 'committed' : status === 'aborted' ? 'aborted' : 'unknown'; // 'in progress': not yet
  }

  /**
   * Skips records another transaction holds: two commits purging the same old rows would otherwise wait
   * for each other, and one that takes over an expired key (it locks that row) could deadlock with a
   * purge that holds rows it wants.
   */
  protected override async purgeKeys(trx: Transaction<any>, expired: number, limit: number): Promise<void> {
    await sql`
      delete from livetail_idempotency where (scope, "key") in (
        select scope, "key" from livetail_idempotency where created_at < ${expired} order by created_at limit ${limit}
        for update skip locked
      )`.execute(trx);
  }

  protected override async insertLogs(trx: Transaction<any>, rows: LogRow[]): Promise<void> {
    const column = <K extends keyof LogRow>(key: K) => rows.map((r) => r[key]);
    await sql`
      insert into livetail_log (user_id, seq, id, ts, level, email_account_id, command, data)
      select * from unnest(
        ${column('user_id')}::text[], ${column('seq')}::bigint[], ${column('id')}::text[], ${column('ts')}::text[],
        ${column('level')}::text[], ${column('email_account_id')}::text[], ${column('command')}::text[], ${column('data')}::text[]
      )`.execute(trx);
  }

  /** Through livetail_trim_logs (migration 0004), which keeps each user's cut a range of the primary key. */
  protected override async trimLogs(trx: Transaction<any>, cuts: Array<{ userId: string; cutoff: number }>): Promise<void> {
    await sql`select livetail_trim_logs(${cuts.map((c) => c.userId)}::text[], ${cuts.map((c) => c.cutoff)}::bigint[])`.execute(trx);
  }

  protected override async writeHeads(trx: Transaction<any>, heads: Array<StreamHead & { userId: string }>): Promise<void> {
    await sql`
      update livetail_stream s
      set head_seq = h.head_seq, cleared_seq = h.cleared_seq, job_seq = h.job_seq
      from unnest(
        ${heads.map((h) => h.userId)}::text[], ${heads.map((h) => h.headSeq)}::bigint[],
        ${heads.map((h) => h.clearedSeq)}::bigint[], ${heads.map((h) => h.jobSeq)}::bigint[]
      ) as h(user_id, head_seq, cleared_seq, job_seq)
      where s.user_id = h.user_id and s.user_id = any(${heads.map((h) => h.userId)}::text[])`.execute(trx);
  }
}
