import type { Kysely } from 'kysely';
import { KyselyLogStore } from './kysely-log-store.js';

/**
 * LogStore on PostgreSQL. Sequence numbers come from a per-user head row locked FOR UPDATE for the
 * whole commit: a second writer of the same user (on any node) waits for the first to commit, so a
 * user's seqs become visible in the order they were handed out, and a reader resuming after seq N can
 * never miss a smaller seq committed later. Heads are locked in user-id order to avoid deadlocks.
 */
export class PostgresLogStore extends KyselyLogStore {
  readonly kind = 'postgres' as const;
  protected readonly lockHeadRows = true;

  protected snapshot<T>(fn: (db: Kysely<any>) => Promise<T>): Promise<T> {
    return this.db.transaction().setIsolationLevel('repeatable read').execute(fn);
  }
}
