import type { Kysely } from 'kysely';
import { KyselyLogStore } from './kysely-log-store.js';

/**
 * LogStore on SQLite (better-sqlite3 through Kysely). One connection runs one transaction at a time,
 * so commit order is sequence order without row locks.
 */
export class SqliteLogStore extends KyselyLogStore {
  readonly kind = 'sqlite' as const;
  protected readonly lockHeadRows = false;

  protected snapshot<T>(fn: (db: Kysely<any>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }
}
