import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';

/**
 * The log store's own tables (better-auth migrates its tables separately).
 * Append new migrations; never edit one that has shipped.
 */
const migrations = (kind: 'sqlite' | 'postgres'): Record<string, Migration> => ({
  '0001_streams_logs_jobs': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('livetail_stream')
        .ifNotExists()
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('head_seq', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('cleared_seq', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('job_seq', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('livetail_log')
        .ifNotExists()
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('ts', 'text', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('email_account_id', 'text', (c) => c.notNull())
        .addColumn('command', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('livetail_log_pk', ['user_id', 'seq'])
        .execute();
      await db.schema.createIndex('livetail_log_id').ifNotExists().on('livetail_log').column('id').execute();
      await db.schema
        .createTable('livetail_job')
        .ifNotExists()
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('job_seq', 'bigint', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('livetail_job_pk', ['user_id', 'job_id'])
        .execute();
      await db.schema
        .createIndex('livetail_job_recent')
        .ifNotExists()
        .on('livetail_job')
        .columns(['user_id', 'job_seq'])
        .execute();
    },
  },
  '0002_sqlite_log_without_rowid': {
    // SQLite: rows live in the primary key's B-tree, not in a rowid table beside it, so a log costs two
    // B-tree inserts (and trims two deletes) instead of three: about a third less work per log. The table
    // is rebuilt with the same columns, rows and index. PostgreSQL has no rowid tables: nothing to do.
    async up(db: Kysely<any>) {
      if (kind !== 'sqlite') return;
      await sql`
        create table livetail_log_new (
          user_id text not null, seq bigint not null, id text not null, ts text not null, level text not null,
          email_account_id text not null, command text not null, data text not null,
          constraint livetail_log_pk primary key (user_id, seq)
        ) without rowid`.execute(db);
      await sql`
        insert into livetail_log_new (user_id, seq, id, ts, level, email_account_id, command, data)
        select user_id, seq, id, ts, level, email_account_id, command, data from livetail_log`.execute(db);
      await sql`drop table livetail_log`.execute(db);
      await sql`alter table livetail_log_new rename to livetail_log`.execute(db);
      await db.schema.createIndex('livetail_log_id').on('livetail_log').column('id').execute();
    },
  },
  '0003_idempotency_keys': {
    // The Idempotency-Keys of committed requests, with the answer to give a retry. A row costs about the
    // answer's size (the stored entries, as JSON) and is purged once IDEMPOTENCY_WINDOW_MS is past.
    // A rowid table on SQLite too: the answers are large rows, which a WITHOUT ROWID table stores badly.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('livetail_idempotency')
        .ifNotExists()
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('body_hash', 'text', (c) => c.notNull())
        .addColumn('result', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('livetail_idempotency_pk', ['scope', 'key'])
        .execute();
      await db.schema.createIndex('livetail_idempotency_created').ifNotExists().on('livetail_idempotency').column('created_at').execute();
    },
  },
  '0004_postgres_append_logs': {
    // PostgreSQL: a commit of only logs in one round trip instead of six (PostgresLogStore.appendLogs):
    // the steps of KyselyLogStore.commit for logs, in the same order with the same locks. Each log row
    // comes with its ordinal among its user's logs of the commit (1, 2, ...): its seq is the user's head
    // plus that. Returns each user's head before the commit, and the transaction's id (for an in-doubt
    // COMMIT). SQLite commits in-process: nothing to do.
    async up(db: Kysely<any>) {
      if (kind !== 'postgres') return;
      // Retention, for this function and for PostgresLogStore.trimLogs: one delete per user, each a
      // range of the primary key. As one join of the cuts with the table the planner scans the whole
      // table (at retention, 100 users: about 50 ms instead of a few). A plain index scan, not a bitmap
      // one, marks the index entries of rows an earlier trim deleted as dead, so the next trims skip them.
      await sql`
        create or replace function livetail_trim_logs(p_users text[], p_cutoffs bigint[]) returns void
        language plpgsql volatile set enable_bitmapscan = off as $fn$
        declare
          trim_user text;
          cutoff bigint;
        begin
          for trim_user, cutoff in select * from unnest(p_users, p_cutoffs) loop
            delete from livetail_log l where l.user_id = trim_user and l.seq <= cutoff;
          end loop;
        end
        $fn$`.execute(db);
      await sql`
        create or replace function livetail_append_logs(
          p_users text[], p_counts bigint[], p_max_logs bigint,
          p_user_id text[], p_ordinal bigint[], p_id text[], p_ts text[], p_level text[],
          p_email_account_id text[], p_command text[], p_data text[]
        ) returns table (stream_user text, old_head bigint, xact text)
        language plpgsql volatile as $fn$
        declare
          locked integer;
          trim_users text[];
          cutoffs bigint[];
        begin
          insert into livetail_stream (user_id) select unnest(p_users) on conflict do nothing;
          -- In user-id order, as every commit locks them (no deadlock); each statement below sees them.
          -- Every join with the heads names the users (= any): else it may scan every user's head.
          select count(*) into locked from (
            select s.user_id from livetail_stream s where s.user_id = any(p_users) order by s.user_id for update
          ) h;
          if locked <> cardinality(p_users) then
            raise exception 'livetail_append_logs: % stream heads locked for % users', locked, cardinality(p_users);
          end if;
          insert into livetail_log (user_id, seq, id, ts, level, email_account_id, command, data)
          select r.user_id, s.head_seq + r.ordinal, r.id, r.ts, r.level, r.email_account_id, r.command, r.data
          from unnest(p_user_id, p_ordinal, p_id, p_ts, p_level, p_email_account_id, p_command, p_data)
            as r(user_id, ordinal, id, ts, level, email_account_id, command, data)
          join livetail_stream s on s.user_id = r.user_id and s.user_id = any(p_users);
          select array_agg(s.user_id), array_agg(s.head_seq + c.n - p_max_logs) into trim_users, cutoffs
          from unnest(p_users, p_counts) as c(user_id, n) join livetail_stream s on s.user_id = c.user_id
          where s.user_id = any(p_users) and s.head_seq + c.n > p_max_logs;
          if trim_users is not null then
            perform livetail_trim_logs(trim_users, cutoffs);
          end if;
          return query
            select s.user_id, s.head_seq, pg_current_xact_id()::text from livetail_stream s where s.user_id = any(p_users);
          update livetail_stream s set head_seq = s.head_seq + c.n
          from unnest(p_users, p_counts) as c(user_id, n) where s.user_id = c.user_id and s.user_id = any(p_users);
        end
        $fn$`.execute(db);
    },
  },
});

/**
 * Runs pending migrations (all, or up to and including `upTo`, which tests use to build an older
 * schema). Kysely's Migrator takes a lock row in a transaction, so several nodes
 * starting at once run each migration exactly once.
 */
export async function migrateLogStore(db: Kysely<any>, kind: 'sqlite' | 'postgres', upTo?: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(kind) };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'livetail_migration',
    migrationLockTableName: 'livetail_migration_lock',
  });
  const { error } = upTo === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(upTo);
  if (error) throw error instanceof Error ? error : new Error(String(error));
}

