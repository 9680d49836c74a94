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

