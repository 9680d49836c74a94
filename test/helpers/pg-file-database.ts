import { afterAll } from 'vitest';
import { type Database, openDatabase } from '../../src/store/database.js';
import { type TestDatabase, createTestDatabase } from './services.js';

/**
 * A fresh PostgreSQL database for the calling test file, created on first use. `openPool()` opens a pool
 * of its own on it (as a separate node would have); after the file every pool is closed and the database
 * dropped. Call at the top level of a test file.
 */
export function fileDatabase(): { openPool(): Promise<Database> } {
  let database: Promise<TestDatabase> | undefined;
  const pools: Database[] = [];
  afterAll(async () => {
    for (const pool of pools) await pool.close();
    await (await database)?.drop();
  });
  return {
    async openPool() {
      database ??= createTestDatabase();
      const pool = await openDatabase({ kind: 'postgres', url: (await database).url });
      pools.push(pool);
      return pool;
    },
  };
}
